"""Carries the distributor's decisions to Asterisk: ring the chosen agent for a caller.

The waiting caller sits in the ``hotline-wait`` context; an AMI Redirect moves the channel
to ``hotline-connect,<agent>,1``, which dials the agent's phone. Event-driven: no polling,
so an agent who becomes free rings as soon as the distributor decides.
"""

from __future__ import annotations

import logging

from hotline_core.acd import Assignment, Distributor
from hotline_core.call_records import Disposition
from ivr.ami import AmiClient, AmiError
from ivr.dialer import CallbackDialer, Outcome, safe_call_back
from ivr.live_calls import LiveCall, LiveCalls
from ivr.records import AsyncCallLog

log = logging.getLogger(__name__)

CONNECT_CONTEXT = "hotline-connect"


class AgentConnector:
    def __init__(self, ami: AmiClient, live: LiveCalls, distributor: Distributor,
                 dialer: CallbackDialer | None = None,
                 calls: AsyncCallLog | None = None) -> None:
        self._ami = ami
        self._live = live
        self._distributor = distributor
        self._dialer = dialer
        self._calls = calls

    async def __call__(self, assignment: Assignment) -> None:
        call = await self._live.get(assignment.call_id)
        if call is None:
            log.warning("assignment for unknown call %s: releasing agent %s",
                        assignment.call_id, assignment.agent_id)
            await self._distributor.abandon(assignment.call_id)
            return
        if call.callback:
            await self._call_back(assignment, call)
            return
        try:
            await self._ami.action({
                "Action": "Redirect", "Channel": call.channel, "Context": CONNECT_CONTEXT,
                "Exten": assignment.agent_id, "Priority": "1",
            })
        except AmiError as exc:
            # The channel is gone (hung up a moment ago) or AMI is down; either way the
            # agent must not stay reserved for a call that will never ring.
            log.warning("could not connect call %s to agent %s: %s",
                        assignment.call_id, assignment.agent_id, exc)
            await self._distributor.abandon(assignment.call_id)

    async def _call_back(self, assignment: Assignment, call: LiveCall) -> None:
        """Virtual hold: the citizen hung up; the dialer calls agent, then citizen."""
        outcome = (Outcome.FAILED if self._dialer is None
                   else await safe_call_back(self._dialer, assignment, call))
        if outcome is Outcome.FAILED:
            await self._distributor.ring_no_answer(assignment.call_id,
                                                   assignment.agent_id, "unreachable")
        elif outcome is Outcome.REFUSED:
            # No agent may dial this number: the place in line ends here, on the record.
            await self._distributor.abandon(assignment.call_id)
            await self._live.remove(assignment.call_id)
            if self._calls is not None:
                await self._calls.closed(assignment.call_id, Disposition.FAILED,
                                         "callback refused by the outbound number policy")
