"""The real core (``stack.core``) for the dialer's e2e tests, with two changes:

* an answered satisfaction-callback attempt runs :func:`hold_flow` (``HOTLINE_TEST_HOLD_MS``
  of silence, 1000 by default, then "completed") instead of the order IVR, so the engine is
  tested (and benchmarked) without orders;
* with ``HOTLINE_TEST_AMI_CUT=before|after`` the AMI connection is cut at the first
  Originate — before it is sent, or right after it left (its answer never comes). Asterisk
  cannot be made to drop one chosen AMI connection on demand; the connection, the reconnect
  and everything after them are real.

Run as ``python -m testkit.campaign_core --config …`` (HotlineStack.core_module); used by
tests/e2e/test_campaign_dialer.py and bench/dialer_originate.py.
"""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any

from hotline_core.campaigns.model import AttemptOutcome, CampaignKind
from ivr.agi import AgiSession
from ivr.ami import AmiClient, AmiError
from ivr.campaign_flow import CampaignCall, CampaignFlow, FlowResult
from stack import core

INJECTED = "injected fault: AMI connection cut"
_real_action = AmiClient.action
_real_flow = CampaignFlow.__call__
_cut: list[str] = []


async def hold_flow(session: AgiSession, call: CampaignCall) -> FlowResult:
    hold_ms = int(os.environ.get("HOTLINE_TEST_HOLD_MS", "1000"))
    await session.command(f"WAIT FOR DIGIT {hold_ms}", timeout=hold_ms / 1000 + 10)
    return FlowResult(AttemptOutcome.COMPLETED, {"heard_attempt": call.seq})


async def _flow(self: CampaignFlow, session: AgiSession) -> None:
    self.flows[CampaignKind.SATISFACTION_CALLBACK] = hold_flow
    await _real_flow(self, session)


async def _drop(client: AmiClient) -> None:
    client._manager.protocol.transport.close()   # noqa: SLF001 - the fault itself
    while client.connected:   # noqa: ASYNC110 - no event marks a lost AMI connection
        await asyncio.sleep(0.01)


async def _action(self: AmiClient, fields: dict[str, str], timeout: float | None = None,
                  as_list: bool = False) -> Any:
    mode = os.environ.get("HOTLINE_TEST_AMI_CUT", "")
    if fields.get("Action") != "Originate" or not mode or _cut:
        return await _real_action(self, fields, timeout, as_list)
    _cut.append(fields.get("ActionID", ""))
    print(f"{INJECTED} {mode} Originate {fields.get('ActionID')}", file=sys.stderr,
          flush=True)
    if mode == "before":
        await _drop(self)
        return await _real_action(self, fields, timeout, as_list)   # not connected
    future = self._manager.send_action(dict(fields), as_list=as_list)   # written now
    await _drop(self)
    try:
        return await asyncio.wait_for(future, timeout or self.timeout)
    except TimeoutError as exc:
        raise AmiError("AMI action Originate got no answer (connection cut)") from exc


def install_faults() -> None:
    """Patch the AMI client and the campaign flow of THIS process only: called when the
    module runs as the core, never on import (a test importing INJECTED must keep the real
    satisfaction-callback flow in its own process)."""
    AmiClient.action = _action  # type: ignore[method-assign]
    CampaignFlow.__call__ = _flow  # type: ignore[method-assign]


if __name__ == "__main__":
    install_faults()
    sys.exit(core.main())
