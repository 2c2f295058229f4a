"""Listen, whisper and barge (监听/密语/强插): a supervisor's own phone joins a live call.

``POST /api/calls/{call_id}/spy`` ``{"mode": "listen" | "whisper" | "barge"}`` rings the
phone tied to the signed-in supervisor (``hotline user add NAME --role supervisor --agent
<id>``: an endpoint of config/agents.toml) and joins it to the agent's leg of the call;
``DELETE /api/calls/{call_id}/spy`` hangs that phone's spy leg up. The phone is never taken
from the request: a body naming one is refused (422)."""
