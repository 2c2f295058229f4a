"""Carries the distributor's decisions to Asterisk: ring the chosen agent for a caller.

The waiting caller sits in the ``hotline-wait`` context; an AMI Redirect moves the channel
to ``hotline-connect,<agent>,1``, which dials the agent's phone. Event-driven: no polling,
so an agent who becomes free rings as soon as the distributor decides.

A Redirect that fails while the caller is still there (an AMI timeout under load, AMI
reconnecting) must not strand the caller on hold music: the call goes back to the head of
its line (:meth:`Distributor.connect_failed`) and rings the next free agent; the agent rests
1 s, then 2 s, 4 s … (at most 30 s) per failure of the same call before it is offered again.
Only when Asterisk says the channel no longer exists is the call abandoned. A Redirect that
timed out yet reached Asterisk shows up as the resting agent answering: the distributor
takes that answer (the call leaves the line). Not handled: if another agent was free at the
failure, the call was offered to that agent meanwhile, and the first agent's late answer is
ignored as stale.
"""

from __future__ import annotations

import logging

from hotline_core.acd import CallMatch, Distributor
from hotline_core.call_records import Disposition
from ivr.ami import AmiClient, AmiError
from ivr.dialer import CallbackDialer, Outcome, safe_call_back
from ivr.dialplan import Context
from ivr.live_calls import LiveCall, LiveCalls
from ivr.records import AsyncCallLog

log = logging.getLogger(__name__)

CONNECT_CONTEXT = Context.CONNECT
RETRY_FIRST_SECONDS = 1.0
RETRY_MAX_SECONDS = 30.0
# Asterisk's answers to a Redirect of a hung-up channel: "Channel does not exist: <name>"
# (manager.c's Redirect since Asterisk 12, the chroot's 22 included); "No such channel" by
# other actions and older releases. Not matching it rested agent after agent and put the
# gone call back at the head of the line, again and again.
_GONE = ("Channel does not exist", "No such channel")


class AgentConnector:
    def __init__(self, ami: AmiClient, live: LiveCalls, distributor: Distributor,
                 dialer: CallbackDialer | None = None,
                 calls: AsyncCallLog | None = None) -> None:
        self._ami = ami
        self._live = live
        self._distributor = distributor
        self._dialer = dialer
        self._calls = calls
        self._failures: dict[str, int] = {}   # call id -> failed Redirects so far

    async def __call__(self, assignment: CallMatch) -> None:
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
            await self._redirect_failed(assignment, exc)
        else:
            self._failures.pop(assignment.call_id, None)

    async def _redirect_failed(self, assignment: CallMatch, exc: AmiError) -> None:
        call_id = assignment.call_id
        if any(text in str(exc) for text in _GONE):
            # The caller hung up a moment ago: the agent must not stay reserved.
            log.info("call %s hung up before agent %s rang", call_id, assignment.agent_id)
            self._failures.pop(call_id, None)
            await self._distributor.abandon(call_id)
            return
        failures = self._failures.get(call_id, 0) + 1
        if len(self._failures) > 10_000:   # calls that failed and then hung up
            self._failures.clear()
        self._failures[call_id] = failures
        rest = min(RETRY_FIRST_SECONDS * 2 ** (failures - 1), RETRY_MAX_SECONDS)
        log.warning("could not connect call %s to agent %s (%s): back to the head of the "
                    "line, agent rests %.0f s", call_id, assignment.agent_id, exc, rest)
        await self._distributor.connect_failed(call_id, assignment.agent_id, rest)

    async def _call_back(self, assignment: CallMatch, call: LiveCall) -> None:
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
