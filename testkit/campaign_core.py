"""The real core (``stack.core``) for the dialer's e2e tests, with one change: an answered
satisfaction-callback attempt runs :func:`hold_flow` (``HOTLINE_TEST_HOLD_MS`` of silence,
1000 by default, then "completed") instead of the order IVR, so the engine is tested (and
benchmarked) without orders. (An AMI connection cut mid-originate is made by a real TCP
proxy, testkit/tcp_proxy.py, in tests/e2e/test_fault_ami.py.)

Run as ``python -m testkit.campaign_core --config …`` (HotlineStack.core_module); used by
tests/e2e/test_campaign_dialer.py and bench/dialer_originate.py.
"""

from __future__ import annotations

import os
import sys

from hotline_core.campaigns.model import AttemptOutcome, CampaignKind
from ivr.agi import AgiSession
from ivr.campaign_flow import CampaignCall, CampaignFlow, FlowResult
from stack import core

_real_flow = CampaignFlow.__call__


async def hold_flow(session: AgiSession, call: CampaignCall) -> FlowResult:
    hold_ms = int(os.environ.get("HOTLINE_TEST_HOLD_MS", "1000"))
    await session.command(f"WAIT FOR DIGIT {hold_ms}", timeout=hold_ms / 1000 + 10)
    return FlowResult(AttemptOutcome.COMPLETED, {"heard_attempt": call.seq})


async def _flow(self: CampaignFlow, session: AgiSession) -> None:
    self.flows[CampaignKind.SATISFACTION_CALLBACK] = hold_flow
    await _real_flow(self, session)


def install_hold_flow() -> None:
    """Patch the campaign flow of THIS process only: called when the module runs as the
    core, never on import (a test importing this module keeps the real flow)."""
    CampaignFlow.__call__ = _flow  # type: ignore[method-assign]


if __name__ == "__main__":
    install_hold_flow()
    sys.exit(core.main())
