"""The outbound dialer (外呼): calls back citizens who chose virtual hold.

The agent's phone rings first; once the agent answers, the dialplan (``hotline-callback``)
dials the citizen through the carrier trunk. Agent first, because a citizen who picks up
must hear a live agent at once, never a queue again; if the citizen does not answer, the
agent's time is lost, not the citizen's. Only numbers that called in and asked for a
callback are dialled, and only when the outbound number policy
(:mod:`hotline_core.dial_policy`) allows them: what reaches the ``HOTLINE_CALLBACK_NUMBER``
variable is the policy's national form, digits only.
"""

from __future__ import annotations

import logging
from enum import Enum

from hotline_core.acd import CallMatch
from hotline_core.dial_policy import DialPolicy, DialRefused
from ivr.ami import AmiClient, AmiError
from ivr.dialplan import CALLBACK_LEG_PREFIX, TECH, Context, Var
from ivr.live_calls import LiveCall

log = logging.getLogger(__name__)

CALLBACK_CONTEXT = Context.CALLBACK
LEG_PREFIX = CALLBACK_LEG_PREFIX   # uniqueid of the agent's leg: cb-<call id>


def callback_leg(call_id: str) -> str:
    return f"{LEG_PREFIX}{call_id}"


def call_of_leg(uniqueid: str) -> str | None:
    return uniqueid[len(LEG_PREFIX):] if uniqueid.startswith(LEG_PREFIX) else None


class Outcome(Enum):
    PLACED = "placed"
    FAILED = "failed"        # AMI could not place it: another agent may try
    REFUSED = "refused"      # the number policy refused the number: nobody may dial it


class CallbackDialer:
    def __init__(self, ami: AmiClient, ring_timeout: int, policy: DialPolicy) -> None:
        self._ami = ami
        self._ring_timeout = ring_timeout
        self.policy = policy

    async def call_back(self, assignment: CallMatch, call: LiveCall) -> None:
        digits = await self.policy.authorize(call.caller, f"callback of {assignment.call_id}")
        leg = callback_leg(assignment.call_id)
        await self._ami.action({
            "Action": "Originate",
            "Channel": f"{TECH}/{assignment.agent_id}",
            "Context": CALLBACK_CONTEXT, "Exten": "s", "Priority": "1",
            "Timeout": str(self._ring_timeout * 1000),
            "CallerID": f"\"callback {call.line}\" <{call.line}>",
            "ChannelId": leg,
            "Variable": ",".join([
                f"{Var.CALLBACK_NUMBER}={digits}",
                f"{Var.CALL_ID}={assignment.call_id}",
                f"{Var.LINE}={call.line}",
            ]),
            "Async": "true",
        })
        log.info("calling back %s: agent %s rings first", assignment.call_id,
                 assignment.agent_id)


async def safe_call_back(dialer: CallbackDialer, assignment: CallMatch,
                         call: LiveCall) -> Outcome:
    try:
        await dialer.call_back(assignment, call)
    except DialRefused:
        return Outcome.REFUSED      # logged by the policy, with the reason
    except AmiError as exc:
        log.warning("callback for %s not placed: %s", assignment.call_id, exc)
        return Outcome.FAILED
    return Outcome.PLACED
