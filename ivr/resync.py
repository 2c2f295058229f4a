"""Rebuild the distributor's picture from Asterisk's channels after an AMI (re)connection
or a core restart, so no agent stays stuck ringing or talking and no caller is forgotten.

Asterisk is the truth for who is on the line: a caller channel the core registered
(LiveCalls) is waiting, ringing an agent or talking, depending on the agent leg that shares
its linkedid. Virtual-hold callers have no channel but keep their place.
"""

from __future__ import annotations

import logging
from typing import Any

from hotline_core.acd import Distributor, LiveChannel
from hotline_core.lines import LinePlan
from ivr.ami import AmiClient
from ivr.call_events import agent_of
from ivr.dialplan import Context
from ivr.live_calls import LiveCalls

log = logging.getLogger(__name__)

# A caller in these contexts with no agent leg is with an emergency centre (ivr/transfer.py):
# not waiting, so never put back in line, and still ours (its hang-up is recorded).
WITH_CENTRE = frozenset({Context.TRANSFER, Context.TRANSFER_DIAL, Context.TRANSFER_HOLD,
                         Context.CONFERENCE})


async def channel_snapshot(ami: AmiClient) -> list[dict[str, str]]:
    replies = await ami.action({"Action": "CoreShowChannels"}, as_list=True, timeout=10)
    return [dict(r) for r in replies if r.get("Event") == "CoreShowChannel"]


def live_channels(channels: list[dict[str, str]], known: dict[str, Any],
                  lines: LinePlan) -> list[LiveChannel]:
    """Asterisk's channels + the calls the core registered → the distributor's view."""
    agent_legs: dict[str, tuple[str, bool]] = {}
    for ch in channels:
        agent = agent_of(ch.get("Channel", ""))
        if agent and ch.get("Linkedid"):
            up = ch.get("ChannelStateDesc") == "Up"
            agent_legs[ch["Linkedid"]] = (agent, up)
    # Callers app_queue holds (the core was judged dead) belong to the fallback now.
    present = {ch.get("Uniqueid", "") for ch in channels if ch.get("Application") != "Queue"}
    out = []
    for call_id, call in known.items():
        if call_id not in present and not call.callback:
            continue   # gone while we were not listening; the CDR reconciliation records it
        line = lines.by_number(call.line)
        agent, answered = agent_legs.get(call_id, (None, False))
        if agent is None and call_id in with_centre(channels):
            continue
        out.append(LiveChannel(call_id=call_id, line=call.line, caller=call.caller,
                               skills=line.skills if line else (), agent_id=agent,
                               answered=answered, department=call.department))
    return out


def with_centre(channels: list[dict[str, str]]) -> set[str]:
    """Callers Asterisk shows in a transfer's contexts (with or ringing a centre)."""
    return {ch.get("Uniqueid", "") for ch in channels if ch.get("Context") in WITH_CENTRE}


async def resync(ami: AmiClient, live: LiveCalls, distributor: Distributor,
                 lines: LinePlan) -> int:
    channels = await channel_snapshot(ami)
    known = {c.call_id: c for c in await live.all()}
    snapshot = live_channels(channels, known, lines)
    for call_id in set(known) - {c.call_id for c in snapshot} - with_centre(channels):
        await live.remove(call_id)
    assignments = await distributor.rebuild(snapshot)
    log.info("resync: %d call(s) on the line, %d assignment(s) made", len(snapshot),
             len(assignments))
    return len(snapshot)
