"""Transfers to the emergency centres (紧急转接, 一键转接 / 三方通话) carried out on Asterisk.

- *blind* (直接转接): an AMI Redirect moves the citizen to ``hotline-transfer,<centre>``,
  which dials the centre's trunk with the citizen's number as caller ID; the agent's leg
  ends. If the centre is busy, does not answer or cannot be reached, the dialplan asks the
  ``transfer`` FastAGI script what next: the agent who asked rings again, or — when that
  agent is gone or does not answer — the call goes back to the head of the line at the
  emergency-transfer priority. When the core cannot be asked, the dialplan rings the agent
  and then the fallback queue: the citizen is never dropped (R-EMERG).
- *three-way* (三方通话): citizen and agent are moved together (Redirect with ExtraChannel)
  into a ConfBridge conference named by the call id, and the centre is originated into
  it. The agent may leave; citizen and centre stay connected. A centre that does not
  answer leaves citizen and agent talking in the conference.
- *attended* (咨询转接): the citizen is moved to ``hotline-transfer-hold`` (music on hold)
  and the agent into the conference, where the centre is originated; the agent talks to
  the centre first, then *completes* (the citizen joins the centre, the agent's leg ends)
  or *cancels* (the centre's leg ends, the citizen is back with the agent). A centre that
  does not answer gives the citizen back to the agent; an agent who hangs up completes
  (centre answered) or sends the citizen to the head of the line (not answered).

A conference never keeps the citizen alone: when the agent and the centre have both left,
the citizen's leg is ended as any call the agent ends.

Every step is written to the transfer's row (:mod:`hotline_core.transfers`): requested,
the centre's answer, the end and the outcome; each write is then announced on the
hotline's ``transfers`` channel (call id, transfer id, outcome), which the live socket
forwards to the call's agent and to supervisors.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

from hotline_core.acd import AgentState, Distributor, WaitingCall
from hotline_core.dial_policy import DialPolicy, DialPurpose, DialRefused
from hotline_core.lines import LinePlan
from hotline_core.transfers import (
    Centres,
    TransferError,
    TransferMode,
    TransferOutcome,
    TransferStore,
)
from ivr.agi import AgiSession
from ivr.ami import AmiClient, AmiError
from ivr.call_events import agent_of
from ivr.dialplan import TECH, AgiParam, Context, Next, Var, centre_endpoint, read_header
from ivr.live_calls import LiveCalls
from ivr.records import AsyncCallLog

log = logging.getLogger(__name__)

# Originate's ChannelId of a centre's leg in a three-way call: ``xf-<transfer id>``.
CENTRE_LEG_PREFIX = "xf-"
# Dial statuses of the centre → what the transfer's row says.
_DIAL_OUTCOMES = {"BUSY": TransferOutcome.BUSY, "NOANSWER": TransferOutcome.NO_ANSWER}
# OriginateResponse reasons (Asterisk's AST_CONTROL_*): 5 busy, 3 ringing too long.
_ORIGINATE_OUTCOMES = {"5": TransferOutcome.BUSY, "3": TransferOutcome.NO_ANSWER,
                       "1": TransferOutcome.NO_ANSWER}
ANNOUNCE_SECONDS = 2.0          # bound on the publish of a row's change


class TransferNews:
    """Announces a transfer row's change on the hotline's ``transfers`` channel, so the
    agent's desktop shows the centre's answer without asking. A lost Redis costs only the
    live update (the rows are in the database): logged once until a publish works again."""

    def __init__(self, redis: aioredis.Redis, channel: str) -> None:
        self._redis = redis
        self._channel = channel
        self._failing = False

    async def changed(self, call_id: str, transfer_id: int, outcome: TransferOutcome) -> None:
        payload = {"call_id": call_id, "transfer_id": transfer_id, "outcome": outcome.value}
        try:
            async with asyncio.timeout(ANNOUNCE_SECONDS):
                await self._redis.publish(self._channel, json.dumps(payload))
        except Exception as exc:
            if not self._failing:
                log.warning("transfer news: cannot publish on %s (%s); desks see transfer "
                            "rows again when they re-read them", self._channel, exc)
            self._failing = True
            return
        if self._failing:
            log.info("transfer news: publishing again on %s", self._channel)
        self._failing = False


@dataclass
class ActiveTransfer:
    transfer_id: int
    call_id: str
    agent: str
    target: str
    mode: TransferMode
    channel: str                    # the citizen's channel
    connected: bool = False         # the centre answered
    agent_channel: str = ""         # three-way / attended: the agent's leg
    centre_channel: str = ""        # three-way / attended: the centre's leg
    agent_in: bool = True           # the agent's leg is still up
    centre_in: bool = False         # the centre's leg is up
    joined: bool = True             # attended: the citizen is off hold
    cancelled: bool = False


class TransferService:
    def __init__(self, ami: AmiClient, live: LiveCalls, calls: AsyncCallLog,
                 distributor: Distributor, store: TransferStore, centres: Centres,
                 lines: LinePlan, policy: DialPolicy | None = None,
                 news: TransferNews | None = None) -> None:
        self._ami = ami
        self._news = news
        self._live = live
        self._calls = calls
        self._distributor = distributor
        self._store = store
        self.centres = centres
        self._lines = lines
        self._policy = policy
        self._active: dict[str, ActiveTransfer] = {}       # call id → transfer under way
        self._legs: dict[str, ActiveTransfer] = {}         # three-way centre leg → transfer

    # -- the agent's request ------------------------------------------------------------------
    async def start(self, call_id: str, target: str, mode: TransferMode, requester: str,
                    supervisor: bool) -> int:
        """:meth:`request`, answering the row id (web/transfers' ``Transferrer``)."""
        return (await self.request(call_id, target, mode, requester, supervisor)).transfer_id

    async def request(self, call_id: str, target: str, mode: TransferMode, requester: str,
                      supervisor: bool) -> ActiveTransfer:
        if self.centres.get(target) is None:
            raise TransferError(422, f"target: no emergency centre {target} is configured",
                                "target")
        call = await self._live.get(call_id)
        if call is None:
            raise TransferError(404, f"no call {call_id} in progress")
        record = await self._calls.get(call_id)
        agent = record.agent_id if record is not None and record.answered_at else None
        if agent is None:
            raise TransferError(409, "the call has not been answered by an agent")
        if not supervisor and agent != requester:
            raise TransferError(403, f"call {call_id} is not agent {requester}'s call")
        under_way = self._active.get(call_id)
        if under_way is not None and not under_way.cancelled:
            raise TransferError(409, "a transfer of this call is already under way")
        await self._authorize(target, call_id)
        transfer_id = await asyncio.to_thread(self._store.requested, call_id, target, mode,
                                              requester)
        await self._announce(call_id, transfer_id, TransferOutcome.REQUESTED)
        active = ActiveTransfer(transfer_id, call_id, agent, target, mode, call.channel)
        self._active[call_id] = active
        try:
            if mode is TransferMode.BLIND:
                await self._blind(active)
            else:
                await self._conference(active, call.caller)
        except AmiError as exc:
            self._active.pop(call_id, None)
            await self._settle(call_id, transfer_id, TransferOutcome.FAILED,
                               f"not started: {exc}", False, True)
            raise TransferError(502, f"the transfer could not be started ({exc}); the "
                                "citizen is still with the agent") from exc
        log.info("call %s: %s transfer %d to %s asked by %s", call_id, mode.value,
                 transfer_id, target, requester)
        return active

    async def _settle(self, call_id: str, transfer_id: int, outcome: TransferOutcome,
                      *row: Any) -> None:
        """Writes the row's outcome (:meth:`TransferStore.outcome`'s further arguments in
        ``row``), then announces it."""
        await asyncio.to_thread(self._store.outcome, transfer_id, outcome, *row)
        await self._announce(call_id, transfer_id, outcome)

    async def _announce(self, call_id: str, transfer_id: int, outcome: TransferOutcome) -> None:
        if self._news is not None:
            await self._news.changed(call_id, transfer_id, outcome)

    async def _authorize(self, target: str, call_id: str) -> None:
        """The one outbound number policy: emergency numbers, for transfers only."""
        if self._policy is None:
            return
        try:
            await self._policy.authorize(target, f"transfer of {call_id}",
                                         DialPurpose.EMERGENCY)
        except DialRefused as exc:
            raise TransferError(403, f"target: refused by the outbound number policy: "
                                f"{exc.reason}", "target") from exc

    async def _blind(self, t: ActiveTransfer) -> None:
        await self._ami.action({"Action": "Setvar", "Channel": t.channel,
                                "Variable": Var.XFER_AGENT, "Value": t.agent})
        await self._ami.action({"Action": "Redirect", "Channel": t.channel,
                                "Context": Context.TRANSFER, "Exten": t.target,
                                "Priority": "1"})

    async def _conference(self, t: ActiveTransfer, citizen: str) -> None:
        """Three-way: citizen and agent into the conference; attended: the citizen on hold,
        the agent into the conference. Then the centre is originated into it."""
        agent_channel = await self._agent_channel(t)
        if agent_channel is None:
            raise AmiError("the agent's leg was not found")
        t.agent_channel = agent_channel
        attended = t.mode is TransferMode.ATTENDED
        t.joined = not attended
        await self._ami.action({"Action": "Redirect", "Channel": t.channel,
                                "Context": Context.TRANSFER_HOLD if attended
                                else Context.CONFERENCE,
                                "Exten": "s" if attended else t.call_id,
                                "Priority": "1", "ExtraChannel": agent_channel,
                                "ExtraContext": Context.CONFERENCE, "ExtraExten": t.call_id,
                                "ExtraPriority": "1"})
        leg = f"{CENTRE_LEG_PREFIX}{t.transfer_id}"
        self._legs[leg] = t
        await self._ami.action({
            "Action": "Originate",
            "Channel": f"{TECH}/{t.target}@{centre_endpoint(t.target)}",
            "Context": Context.CONFERENCE, "Exten": t.call_id, "Priority": "1",
            "Timeout": str(self.centres.ring_seconds * 1000),
            "CallerID": f"<{citizen}>", "ChannelId": leg, "Async": "true",
        })

    async def _agent_channel(self, t: ActiveTransfer) -> str | None:
        replies = await self._ami.action({"Action": "CoreShowChannels"}, as_list=True,
                                         timeout=10)
        citizen = next((r for r in replies if r.get("Channel") == t.channel), None)
        linkedid = citizen.get("Linkedid") if citizen is not None else t.call_id
        for r in replies:
            if (r.get("Event") == "CoreShowChannel" and agent_of(r.get("Channel", "")) == t.agent
                    and r.get("Linkedid") == linkedid):
                return str(r["Channel"])
        return None

    # -- what Asterisk reports -----------------------------------------------------------------
    async def on_event(self, event: Any) -> None:
        name = event.get("Event")
        uniqueid = event.get("Uniqueid", "")
        t = self._active.get(uniqueid)
        if name == "DialEnd" and t is not None and _is_centre(event.get("DestChannel", "")):
            await self._centre_dial_end(t, event.get("DialStatus", ""))
        elif name == "OriginateResponse" and uniqueid in self._legs:
            await self._centre_originated(self._legs[uniqueid], event)
        elif name == "Hangup":
            await self._hangup(uniqueid, event)

    async def _centre_dial_end(self, t: ActiveTransfer, status: str) -> None:
        if status == "ANSWER":
            t.connected = True
            await self._settle(t.call_id, t.transfer_id,
                                    TransferOutcome.CONNECTED, "", True, False)
            # Blind: the agent's part is done once the centre has the citizen.
            await self._distributor.call_ended(t.call_id, t.agent)
        else:
            outcome = _DIAL_OUTCOMES.get(status, TransferOutcome.FAILED)
            await self._settle(t.call_id, t.transfer_id, outcome,
                                    f"centre {t.target}: {status}", False, True)

    async def _centre_originated(self, t: ActiveTransfer, event: Any) -> None:
        if event.get("Response") == "Success":
            t.connected = t.centre_in = True
            t.centre_channel = str(event.get("Channel", ""))
            outcome = (TransferOutcome.CONSULTING if t.mode is TransferMode.ATTENDED
                       else TransferOutcome.CONNECTED)
            await self._settle(t.call_id, t.transfer_id, outcome, "", True,
                                    False)
            return
        outcome = _ORIGINATE_OUTCOMES.get(str(event.get("Reason", "")), TransferOutcome.FAILED)
        self._legs.pop(event.get("Uniqueid", ""), None)
        self._active.pop(t.call_id, None)
        await self._settle(t.call_id, t.transfer_id, outcome,
                                f"centre {t.target} not reached (reason "
                                f"{event.get('Reason', '?')}): the citizen stays with the "
                                "agent", False, True)
        if not t.joined:      # attended: the citizen comes off hold, back to the agent
            await self._join(t)

    async def _join(self, t: ActiveTransfer) -> None:
        """The citizen (on hold) joins the conference."""
        t.joined = True
        await self._ami.action({"Action": "Redirect", "Channel": t.channel,
                                "Context": Context.CONFERENCE, "Exten": t.call_id,
                                "Priority": "1"})

    async def _end_leg(self, channel: str) -> None:
        try:
            await self._ami.action({"Action": "Hangup", "Channel": channel})
        except AmiError as exc:   # already gone: nothing left to end
            log.info("hangup of %s: %s", channel, exc)

    async def _hangup(self, uniqueid: str, event: Any) -> None:
        t = self._active.pop(uniqueid, None)
        if t is not None:     # the citizen left: the transfer is over
            for leg in [k for k, v in self._legs.items() if v is t]:
                self._legs.pop(leg, None)
            if t.cancelled:
                return
            outcome = TransferOutcome.COMPLETED if t.connected else TransferOutcome.FAILED
            await self._settle(t.call_id, t.transfer_id, outcome,
                                    "" if t.connected else "the citizen hung up", False, True)
            return
        t = self._legs.pop(uniqueid, None)
        if t is not None:     # the centre left the conference
            t.centre_in = False
            if t.call_id in self._active and t.joined and not t.agent_in:
                await self._end_leg(t.channel)      # the citizen would be alone
            return
        agent = agent_of(event.get("Channel", ""))
        for t in list(self._active.values()):
            if (t.mode is not TransferMode.BLIND and t.agent_in and agent == t.agent
                    and event.get("Linkedid") == t.call_id):
                await self._agent_left(t)

    async def _agent_left(self, t: ActiveTransfer) -> None:
        """The agent's leg ended: the agent is free; the citizen is never left alone."""
        t.agent_in = False
        await self._distributor.call_ended(t.call_id, t.agent)
        if not t.joined:      # attended, citizen on hold
            if t.centre_in:
                await self._join(t)          # hanging up completes the transfer
            else:
                await self._ami.action({"Action": "Redirect", "Channel": t.channel,
                                        "Context": Context.TRANSFER_BACK, "Exten": "s",
                                        "Priority": "1"})
        elif not t.centre_in:
            await self._end_leg(t.channel)

    # -- attended: the agent completes or cancels -----------------------------------------------
    async def finish(self, transfer_id: int, complete: bool, requester: str,
                     supervisor: bool) -> None:
        t = next((x for x in self._active.values() if x.transfer_id == transfer_id), None)
        if t is None or t.mode is not TransferMode.ATTENDED or t.joined:
            raise TransferError(409, f"transfer {transfer_id} is not an attended transfer "
                                "waiting to be completed or cancelled")
        if not supervisor and requester != t.agent:
            raise TransferError(403, f"transfer {transfer_id} is not agent {requester}'s")
        if complete:
            if not t.centre_in:
                raise TransferError(409, f"centre {t.target} has not answered yet")
            await self._join(t)
            await self._end_leg(t.agent_channel)
            await self._settle(t.call_id, t.transfer_id,
                                    TransferOutcome.CONNECTED, "completed by the agent")
            return
        t.cancelled = True
        if t.centre_in:
            t.centre_in = False
            await self._end_leg(t.centre_channel or f"{CENTRE_LEG_PREFIX}{t.transfer_id}")
        await self._join(t)
        await self._settle(t.call_id, t.transfer_id,
                                TransferOutcome.CANCELLED, "cancelled by the agent", False,
                                True)

    # -- the ``transfer`` FastAGI script: the centre did not take the citizen -------------------
    async def __call__(self, session: AgiSession) -> None:
        call_id = session.env.get("uniqueid", "")
        status = session.params.get(AgiParam.STATUS, "")
        t = self._active.get(call_id)
        agent = t.agent if t is not None else (await session.get_variable(Var.XFER_AGENT)
                                               or "")
        if status.startswith("agent-") or not agent:
            # The agent did not take the citizen back: head of the line, top priority.
            await self._back_to_line(session, call_id, agent)
            return
        if t is not None and not t.connected:
            outcome = _DIAL_OUTCOMES.get(status, TransferOutcome.FAILED)
            await self._settle(t.call_id, t.transfer_id, outcome,
                                    f"centre {t.target}: {status}; citizen back to the agent",
                                    False, True)
            self._active.pop(call_id, None)
        if not await self._still_with(agent, call_id):
            await self._back_to_line(session, call_id, agent)
        # Otherwise HOTLINE_NEXT stays empty: the dialplan rings the agent again.

    async def _still_with(self, agent: str, call_id: str) -> bool:
        for a in await self._distributor.view.agents():
            if a.agent_id == agent:
                return a.state is AgentState.ON_CALL and a.current_call == call_id
        return False

    async def _back_to_line(self, session: AgiSession, call_id: str, agent: str) -> None:
        call = await self._live.get(call_id)
        line = self._lines.by_number(call.line) if call is not None else None
        if call is None or line is None:
            await session.set_variable(Var.NEXT, Next.FALLBACK)
            return
        record = await self._calls.get(call_id)
        since = record.offered_at.timestamp() if record is not None else 0.0
        if agent:
            await self._distributor.call_ended(call_id, agent)
        await session.set_variable(Var.NEXT, Next.WAIT)
        try:
            await self._distributor.enqueue(WaitingCall(
                call_id=call_id, line=line.number, skills=line.skills, caller=call.caller,
                department=line.department, enqueued_at=since,
                priority=self._distributor.config.priorities.emergency_transfer))
        except Exception:
            log.exception("transfer of %s: could not put the call back in line; fallback "
                          "queue", call_id)
            await session.set_variable(Var.NEXT, Next.FALLBACK)


def _is_centre(channel: str) -> bool:
    return channel.startswith(f"{TECH}/{centre_endpoint('')}")


class CentreIntake:
    """Calls passed in by an emergency centre (转入来电): the centre's reference for the
    matter, read from the header configured for that centre only, is kept on the record."""

    def __init__(self, store: TransferStore, centres: Centres) -> None:
        self._store = store
        self._centres = centres

    async def arrived(self, session: AgiSession, call_id: str, number: str) -> None:
        centre = self._centres.get(number)
        reference = ""
        if centre is not None and centre.reference_header:
            raw = await session.get_variable(read_header(centre.reference_header))
            # Printable ASCII only, clipped: the reference is shown, never interpreted.
            reference = "".join(ch for ch in (raw or "") if ch.isascii() and ch.isprintable())
        try:
            await asyncio.to_thread(self._store.centre_call, call_id, number, reference[:64])
        except Exception:
            log.exception("call %s from centre %s: reference not stored", call_id, number)
