"""The real core (``stack.core``) with one injected fault, for the e2e tests: the first AMI
Redirect that would ring agent :data:`FAULT_AGENT` raises :class:`AmiError` exactly as a
Redirect that got no answer in time does (Asterisk under load). A real Asterisk cannot be
made to time out one chosen action on demand; every other action goes to it unchanged.

Run as ``python -m tests.e2e.redirect_fault_core --config …`` (HotlineStack.core_module).
"""

from __future__ import annotations

import sys
from typing import Any

from ivr.ami import AmiClient, AmiError
from stack import core

FAULT_AGENT = "1005"
INJECTED = "injected fault: AMI Redirect to agent"

_real_action = AmiClient.action
_failed: set[str] = set()


async def _action(self: AmiClient, fields: dict[str, str], timeout: float | None = None,
                  as_list: bool = False) -> Any:
    if (fields.get("Action") == "Redirect" and fields.get("Exten") == FAULT_AGENT
            and FAULT_AGENT not in _failed):
        _failed.add(FAULT_AGENT)
        print(f"{INJECTED} {FAULT_AGENT}: raising AmiError", file=sys.stderr, flush=True)
        raise AmiError(f"AMI action Redirect got no answer in {timeout or self.timeout} s")
    return await _real_action(self, fields, timeout, as_list)


AmiClient.action = _action  # type: ignore[method-assign]

if __name__ == "__main__":
    sys.exit(core.main())
