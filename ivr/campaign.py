"""The outbound dialer (外呼引擎): one engine for every campaign kind.

Every attempt is a database row before its Originate leaves the core, and the Originate
carries the attempt id three times: the channel's uniqueid (``at-<id>``, or
``cb-<id>-<call id>`` when an agent rings first), the ActionID and the ``HOTLINE_ATTEMPT``
variable. So after a core restart or an AMI reconnect every attempt in flight is found again
in Asterisk's channels (``CoreShowChannels``) or, when it ended meanwhile, in the CDR file —
never dialled twice, never forgotten. An attempt that neither shows was never placed and is
dialled again without using up an attempt.

Two ways of ringing:

* **IVR kinds** (satisfaction callback, reminder): the callee's phone rings first
  (``PJSIP/<digits>@carrier``); answered, the channel enters ``hotline-campaign`` and the
  kind's flow runs over FastAGI (``ivr/campaign_flow.py``).
* **Agent first** (virtual hold, missed call): the target waits in the distributor's line
  like a caller; when an agent is free the agent's phone rings, then ``hotline-callback``
  dials the citizen. A citizen who picks up always has a person on the line.

Rules per kind (``config/campaigns.toml``): calling hours, attempts, retry spacing, channel
caps per campaign and for all; caller ID = the campaign's line. Every number passes the one
outbound policy (:mod:`hotline_core.dial_policy`).
"""

from __future__ import annotations

import asyncio
import csv
import logging
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from enum import Enum
from pathlib import Path
from typing import Any

from redis.exceptions import RedisError
from sqlalchemy import select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from hotline_core.acd import CallMatch, Distributor, WaitingCall
from hotline_core.acd.distributor import DistributionError
from hotline_core.backoff import Backoff
from hotline_core.call_records import CallRecord, Disposition
from hotline_core.campaigns.config import CampaignsConfig, KindSettings
from hotline_core.campaigns.missed import called_again, missed_calls, missed_key
from hotline_core.campaigns.model import (
    AttemptOutcome,
    AttemptState,
    CampaignAttempt,
    CampaignKind,
    CampaignTarget,
    TargetState,
)
from hotline_core.campaigns.store import (
    AttemptInfo,
    CampaignStore,
    Destination,
    DueTarget,
    enqueue_in,
)
from hotline_core.clock import utc_now
from hotline_core.dial_policy import DialPolicy, DialPurpose, DialRefused
from hotline_core.lines import LinePlan
from hotline_core.timeouts import within
from ivr.ami import AmiClient, AmiError
from ivr.dialplan import (
    ATTEMPT_LEG_PREFIX,
    CALLBACK_LEG_PREFIX,
    CDR_COLUMNS,
    TECH,
    Context,
    Endpoint,
    Var,
)
from ivr.live_calls import LiveCall, LiveCalls
from ivr.records import AsyncCallLog

log = logging.getLogger(__name__)

ACTION_PREFIX = "attempt-"       # ActionID of an attempt's Originate
IVR_KINDS = (CampaignKind.SATISFACTION_CALLBACK, CampaignKind.REMINDER)
AGENT_FIRST_KINDS = (CampaignKind.VIRTUAL_HOLD, CampaignKind.MISSED_CALL)
ALL_KINDS = IVR_KINDS + AGENT_FIRST_KINDS
MISSED_PREFIX = "mc-"
MISSED_OVERLAP_SECONDS = 60
# How often queued agent-first targets are checked against the distributor's line (a line
# lost with Redis's state would otherwise hold them until the next AMI login).
REQUEUE_CHECK_SECONDS = 30
# An Originate whose answer never came (AMI cut): its channel may still appear for this long.
UNKNOWN_GRACE_SECONDS = 5.0
CDR_TAIL_BYTES = 4 << 20         # how much of the CDR file an unknown attempt is looked for in

# OriginateResponse Reason (Asterisk's AST_CONTROL_*): what became of the first leg.
_REASONS = {"5": AttemptOutcome.BUSY, "3": AttemptOutcome.NO_ANSWER,
            "1": AttemptOutcome.NO_ANSWER, "8": AttemptOutcome.FAILED,
            "0": AttemptOutcome.FAILED}
# Hangup causes (Q.850) of a leg that was never answered.
_CAUSES = {17: AttemptOutcome.BUSY, 18: AttemptOutcome.NO_ANSWER, 19: AttemptOutcome.NO_ANSWER,
           16: AttemptOutcome.NO_ANSWER, 0: AttemptOutcome.NO_ANSWER}
# Dial() statuses of the citizen's leg behind an agent.
_DIAL_STATUS = {"ANSWER": AttemptOutcome.COMPLETED, "NOANSWER": AttemptOutcome.NO_ANSWER,
                "BUSY": AttemptOutcome.BUSY, "CHANUNAVAIL": AttemptOutcome.FAILED,
                "CONGESTION": AttemptOutcome.FAILED, "CANCEL": AttemptOutcome.HUNG_UP}
# CDR dispositions of an attempt's leg that ended while the core was not listening.
_CDR_DISPOSITION = {"ANSWERED": AttemptOutcome.HUNG_UP, "NO ANSWER": AttemptOutcome.NO_ANSWER,
                    "BUSY": AttemptOutcome.BUSY, "FAILED": AttemptOutcome.FAILED,
                    "CONGESTION": AttemptOutcome.FAILED}


def distributor_call(kind: CampaignKind, call_id: str) -> str:
    """The id an agent-first target has in the distributor's line and LiveCalls: the call's
    own for virtual hold (the same call keeps its place), ``mc-<call id>`` for a missed call
    (a new conversation: the abandoned call's record stays as it was)."""
    return f"{MISSED_PREFIX}{call_id}" if kind is CampaignKind.MISSED_CALL else call_id


def attempt_leg(attempt_id: int, call_id: str | None = None) -> str:
    """The uniqueid of an attempt's first leg: ``at-12``, or ``cb-12-<call id>`` when an
    agent rings first (the event bridge finds the call by it)."""
    if call_id:
        return f"{CALLBACK_LEG_PREFIX}{attempt_id}-{call_id}"
    return f"{ATTEMPT_LEG_PREFIX}{attempt_id}"


def attempt_of_leg(uniqueid: str) -> int | None:
    """``at-12`` / ``cb-12-1732950000.4`` → 12; any other uniqueid → None."""
    if uniqueid.startswith(ATTEMPT_LEG_PREFIX):
        rest = uniqueid[len(ATTEMPT_LEG_PREFIX):]
    elif uniqueid.startswith(CALLBACK_LEG_PREFIX):
        rest = uniqueid[len(CALLBACK_LEG_PREFIX):].split("-", 1)[0]
    else:
        return None
    return int(rest) if rest.isascii() and rest.isdigit() and len(rest) < 19 else None


def attempt_recording(info: AttemptInfo) -> str:
    """The attempt's own recording (``hotline-campaign`` records to it), relative to the
    recordings directory: ``YYYYMMDD/attempt-<id>.wav`` (UTC date of the attempt)."""
    day = (info.created_at or utc_now()).strftime("%Y%m%d")
    return f"{day}/attempt-{info.id}.wav"


async def channels_now(ami: AmiClient) -> list[dict[str, str]]:
    """Asterisk's channels now (``CoreShowChannels``; ivr/resync.py reads the same)."""
    replies = await ami.action({"Action": "CoreShowChannels"}, as_list=True, timeout=10)
    return [dict(r) for r in replies if r.get("Event") == "CoreShowChannel"]


def purpose_of(kind: CampaignKind) -> DialPurpose:
    """Which numbers a kind may dial (the policy checks membership)."""
    return DialPurpose.LIAISON if kind is CampaignKind.REMINDER else DialPurpose.CALLED_IN


class Placed(Enum):
    PLACED = "placed"        # the Originate went out (or may have: reconciled later)
    FAILED = "failed"        # not placed: another agent may try
    REFUSED = "refused"      # the policy refused the number: nobody may dial it
    DEFERRED = "deferred"    # not now (hours closed, called again, already done)


@dataclass
class _Leg:
    """What the events of an agent-first leg said so far."""

    agent_answered: bool = False
    outcome: AttemptOutcome | None = None


class CampaignEngine:
    def __init__(self, ami: AmiClient, store: CampaignStore, config: CampaignsConfig,
                 policy: DialPolicy, zone: tzinfo, sessions: sessionmaker[Session], *,
                 distributor: Distributor | None = None, live: LiveCalls | None = None,
                 lines: LinePlan | None = None, calls: AsyncCallLog | None = None,
                 cdr_file: Path | None = None, outbound: bool = True,
                 clock: Callable[[], datetime] = utc_now) -> None:
        self._ami = ami
        self.store = store
        self.config = config
        self._policy = policy
        self._zone = zone
        self._sessions = sessions
        self._distributor = distributor
        self._live = live
        self._lines = lines
        self._calls = calls
        self._cdr_file = cdr_file
        self.outbound = outbound          # an outbound carrier is configured
        self._clock = clock
        self.reconciled = asyncio.Event()   # attempts in flight checked since the login
        self._unknown: dict[int, float] = {}   # attempt → monotonic time to look again
        self._legs: dict[int, _Leg] = {}
        self._lock = asyncio.Lock()           # one scheduler pass or reconcile at a time
        self._missed_seen: datetime | None = None   # the last missed-call pass
        self._requeue_check = time.monotonic() + REQUEUE_CHECK_SECONDS

    # -- settings --------------------------------------------------------------------------
    def settings(self, kind: CampaignKind) -> KindSettings:
        return self.config.kind(kind)

    def _next_open(self, kind: CampaignKind) -> Callable[[datetime], datetime]:
        hours = self.settings(kind).calling_hours()
        return lambda at: hours.next_open(at, self._zone)

    def _begin(self, target_id: int, number: str, role: str, agent_id: str | None,
               call_id: str | None = None) -> AttemptInfo | None:
        """``call_id``: the distributor's id of an agent-first target (names the leg)."""
        return self.store.begin_attempt(
            target_id, number, role, agent_id,
            leg=lambda attempt, _: attempt_leg(attempt, call_id))

    async def _db(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await within(asyncio.to_thread(fn, *args), 30)

    # -- scheduler -------------------------------------------------------------------------
    async def run(self) -> None:
        """Every ``tick_seconds``: missed calls found, due targets dialled; a lost database
        or Asterisk is logged once and retried with growing pauses."""
        tick = self.config.tick_seconds
        backoff = Backoff(log, "campaign dialer", first=tick, cap=max(tick, 60.0))
        log.info("dialer: every %.1f s, at most %d outbound channels%s", tick,
                 self.config.max_channels, "" if self.outbound else
                 " (no outbound carrier: [trunk] outbound_uri is empty, nothing is dialled)")
        while True:
            try:
                await self.tick()
                backoff.succeeded()
                delay = tick
            except (SQLAlchemyError, RedisError, AmiError, OSError, TimeoutError) as exc:
                delay = backoff.failed(exc)
            except Exception as exc:
                delay = backoff.failed(exc, expected=False)
            await asyncio.sleep(delay)

    async def tick(self) -> int:
        """One pass; returns how many attempts it placed or released to the agents."""
        if not self.outbound or not self._ami.connected or not self.reconciled.is_set():
            return 0
        async with self._lock:
            await self._look_again()
            if time.monotonic() >= self._requeue_check:
                self._requeue_check = time.monotonic() + REQUEUE_CHECK_SECONDS
                await self._requeue_lost_calls()
            now = self._clock()
            if self.config.missed_call.enabled and self._distributor is not None:
                await self._find_missed(now)
            return await self._dial_due(now)

    async def _dial_due(self, now: datetime) -> int:
        total, per = await self._db(self.store.in_flight)
        free = self.config.max_channels - total
        if free <= 0:
            return 0
        kinds = ALL_KINDS if self._distributor is not None else IVR_KINDS
        due: list[DueTarget] = await self._db(self.store.due, now, max(free * 4, 20), kinds)
        placed = 0
        caps: dict[int, int | None] = {}
        dials: list[Coroutine[Any, Any, bool]] = []
        failed: BaseException | None = None
        try:
            for target in due:
                if total >= self.config.max_channels:
                    break
                ks = self.settings(target.kind)
                hours = ks.calling_hours()
                if not hours.open_at(now, self._zone):
                    await self._db(self.store.delay, target.id,
                                   hours.next_open(now, self._zone))
                    continue
                if target.campaign_id not in caps:
                    caps[target.campaign_id] = await self._db(self.store.campaign_cap,
                                                              target.campaign_id)
                cap = caps[target.campaign_id] or ks.max_channels
                if per.get(target.campaign_id, 0) >= cap:
                    continue
                # The slot is taken now; the IVR dials of one pass go out together (each
                # is a few database writes, the policy's look-ups and an AMI round trip).
                total += 1
                per[target.campaign_id] = per.get(target.campaign_id, 0) + 1
                if target.kind.agent_first:
                    placed += await self._release(target)
                else:
                    dials.append(self._dial_ivr(target, ks))
        except Exception as exc:    # the dials already begun still go out
            failed = exc
        for ok in await asyncio.gather(*dials, return_exceptions=True):
            if isinstance(ok, BaseException):
                failed = failed or ok
            else:
                placed += ok
        if failed is not None:
            raise failed          # run() logs it once and backs off
        return placed

    async def _refuse(self, target_id: int, role: str, reason: str, kind: CampaignKind,
                      agent_id: str | None = None) -> None:
        """The refusal is an attempt too (number blank): the record says why it ended."""
        info = await self._db(self._begin, target_id, "", role, agent_id)
        if info is not None:
            await self._db(self.store.end_attempt, info.id, AttemptOutcome.REFUSED, reason,
                           self.settings(kind))

    async def _dial_ivr(self, target: DueTarget, ks: KindSettings) -> bool:
        role = target.destination.role
        try:
            digits = await self._policy.authorize(
                target.destination.number, f"{target.kind.value} target {target.id}",
                purpose_of(target.kind))
        except DialRefused as exc:
            await self._refuse(target.id, role, exc.reason, target.kind)
            return False
        info: AttemptInfo | None = await self._db(self._begin, target.id, digits, role,
                                                  None)
        if info is None:
            return False
        await self._originate(info, {
            "Channel": f"{TECH}/{digits}@{Endpoint.CARRIER}",
            "Context": Context.CAMPAIGN, "Exten": "s", "Priority": "1",
            "Timeout": str(ks.ring_seconds * 1000),
            "Variable": ",".join([f"{Var.ATTEMPT}={info.id}", f"{Var.LINE}={info.line}",
                                  f"{Var.REC}={attempt_recording(info)}"]),
        })
        return True

    async def _originate(self, info: AttemptInfo, fields: dict[str, str]) -> Placed:
        """Mark the attempt as possibly sent, then send. An answer that never came leaves it
        ``originating`` for :meth:`reconcile` / :meth:`_look_again` to settle."""
        await self._db(self.store.mark_originating, info.id)
        line = info.line if info.line.isdigit() else ""
        try:
            await self._ami.action({
                "Action": "Originate", "ActionID": f"{ACTION_PREFIX}{info.id}",
                "ChannelId": info.channel, "CallerID": f"\"{line}\" <{line}>",
                "Async": "true", **fields})
        except AmiError as exc:
            text = str(exc)
            if "not connected" in text or " failed: " in text:
                # Refused before it left (AMI down) or by Asterisk: nobody was dialled.
                log.warning("attempt %d not placed: %s", info.id, text)
                await self._end(info.id, info.kind, AttemptOutcome.LOST, text)
                return Placed.FAILED
            log.warning("attempt %d: Originate unanswered (%s); settled from Asterisk's "
                        "channels and the CDR", info.id, text)
            self._unknown[info.id] = time.monotonic() + UNKNOWN_GRACE_SECONDS
            return Placed.PLACED
        log.info("attempt %d (%s, target %d, #%d) placed", info.id, info.kind.value,
                 info.target_id, info.seq)
        return Placed.PLACED

    async def _end(self, attempt_id: int, kind: CampaignKind, outcome: AttemptOutcome | None,
                   detail: str) -> TargetState | None:
        self._legs.pop(attempt_id, None)
        self._unknown.pop(attempt_id, None)
        state: TargetState | None = await self._db(
            self.store.end_attempt, attempt_id, outcome, detail, self.settings(kind),
            self._next_open(kind))
        if state is not None:
            log.info("attempt %d ended (%s): target now %s", attempt_id,
                     outcome.value if outcome else "flow's result", state.value)
        return state

    # -- agent first: virtual hold and missed calls ------------------------------------------
    async def virtual_hold_accepted(self, call_id: str, line: str, caller: str) -> None:
        """A waiting caller chose a callback and keeps the place in line: the target is
        ``queued`` at once (the distributor holds the call)."""
        await self._db(self._enqueue_queued, CampaignKind.VIRTUAL_HOLD, call_id, line, caller)

    def _enqueue_queued(self, kind: CampaignKind, call_id: str, line: str,
                        caller: str) -> int:
        with self._sessions() as s, s.begin():
            target_id, _ = enqueue_in(s, kind, line, [Destination(caller, "citizen")],
                                      f"call:{call_id}", call_id=call_id,
                                      state=TargetState.QUEUED, now=self._clock())
            return target_id

    async def _release(self, target: DueTarget) -> bool:
        """A due agent-first target joins the distributor's line as a callback call."""
        assert self._distributor is not None and self._live is not None
        if not target.call_id or self._lines is None:
            await self._db(self.store.cancel, target.id, "no call")
            return False
        if target.kind is CampaignKind.MISSED_CALL and await self._called_again(target):
            return False
        line = self._lines.by_number(target.line)
        if line is None:
            await self._db(self.store.cancel, target.id, "unknown line")
            return False
        if not await self._db(self.store.mark_queued, target.id):
            return False
        call_id = distributor_call(target.kind, target.call_id)
        try:
            await self._live.add(LiveCall(call_id=call_id, channel="", line=target.line,
                                          caller=target.destination.number,
                                          department=line.department, callback=True))
            assigned = await self._distributor.enqueue(WaitingCall(
                call_id=call_id, line=target.line, skills=tuple(line.skills),
                caller=target.destination.number, department=line.department))
            if assigned is None:
                await self._distributor.request_callback(call_id)
        except DistributionError as exc:
            log.warning("target %d: the distributor refused call %s (%s)", target.id,
                        call_id, exc)
        except (RedisError, TimeoutError, OSError):
            # Redis away: the target waits again rather than sit "queued" in no line.
            await self._db(self.store.requeue, target.id,
                           self._clock() + timedelta(seconds=REQUEUE_CHECK_SECONDS))
            raise
        log.info("target %d (%s) waits for an agent", target.id, target.kind.value)
        return True

    async def _called_again(self, target: DueTarget) -> bool:
        def check() -> bool:
            with self._sessions() as s:
                record = s.get(CallRecord, target.call_id)
                if record is None:
                    return False
                offered = record.offered_at
                return called_again(s, record.caller, offered)
        if await self._db(check):
            await self._db(self.store.cancel, target.id, "called again")
            log.info("target %d: the caller called again; no callback", target.id)
            return True
        return False

    async def agent_free(self, assignment: CallMatch, call: LiveCall) -> Placed:
        """The distributor chose an agent for a callback call: ring the agent, then (in the
        dialplan) the citizen."""
        try:
            await within(self.reconciled.wait(), 10)
        except TimeoutError:
            return Placed.FAILED
        call_id = assignment.call_id
        record_id = call_id.removeprefix(MISSED_PREFIX)
        found = await self._db(self.store.open_target_of_call, record_id, AGENT_FIRST_KINDS)
        if found is None:
            if await self._db(self._closed_target_of_call, record_id):
                # Already reached (or given up) while the core was away: not again.
                await self._drop_call(call_id)
                return Placed.DEFERRED
            found = (await self._db(self._enqueue_queued, CampaignKind.VIRTUAL_HOLD, call_id,
                                    call.line, call.caller), CampaignKind.VIRTUAL_HOLD,
                     TargetState.QUEUED.value)
        target_id, kind, _ = found
        now = self._clock()
        hours = self.settings(kind).calling_hours()
        if not hours.open_at(now, self._zone):
            await self._db(self.store.requeue, target_id, hours.next_open(now, self._zone))
            await self._drop_call(call_id)
            return Placed.DEFERRED
        try:
            digits = await self._policy.authorize(call.caller, f"callback of {call_id}",
                                                  DialPurpose.CALLED_IN)
        except DialRefused as exc:
            await self._refuse(target_id, "citizen", exc.reason, kind, assignment.agent_id)
            return Placed.REFUSED
        info: AttemptInfo | None = await self._db(
            self._begin, target_id, digits, "citizen", assignment.agent_id, call_id)
        if info is None:
            log.warning("callback of %s: an attempt is already in flight", call_id)
            return Placed.DEFERRED
        self._legs[info.id] = _Leg()
        recording = f"{self._clock().strftime('%Y%m%d')}/{call_id}-callback.wav"
        await self._db(self.store.set_recording, info.id, recording)
        placed = await self._originate(info, {
            "Channel": f"{TECH}/{assignment.agent_id}",
            "Context": Context.CALLBACK, "Exten": "s", "Priority": "1",
            "Timeout": str(self.settings(kind).ring_seconds * 1000),
            "Variable": ",".join([
                f"{Var.CALLBACK_NUMBER}={digits}", f"{Var.CALL_ID}={call_id}",
                f"{Var.LINE}={call.line}", f"{Var.ATTEMPT}={info.id}",
                f"{Var.REC}={recording}"]),
        })
        if placed is Placed.PLACED:
            log.info("calling back %s: agent %s rings first (attempt %d)", call_id,
                     assignment.agent_id, info.id)
        return placed

    def _closed_target_of_call(self, call_id: str) -> bool:
        with self._sessions() as s:
            state = s.scalars(select(CampaignTarget.state)
                              .where(CampaignTarget.call_id == call_id)
                              .order_by(CampaignTarget.id.desc()).limit(1)).first()
        return state is not None and not TargetState(state).open

    async def _drop_call(self, call_id: str) -> None:
        """Take a callback call out of the distributor's line (the agent is freed)."""
        if self._distributor is not None:
            await self._distributor.abandon(call_id)
        if self._live is not None:
            await self._live.remove(call_id)

    # -- missed calls ------------------------------------------------------------------------
    async def _find_missed(self, now: datetime) -> None:
        settings = self.config.missed_call
        # After the first pass only calls that ended since the previous one (with a margin
        # for records written late) are read: a busy day's abandoned calls are not
        # re-examined every two seconds.
        ended_after = (self._missed_seen - timedelta(seconds=MISSED_OVERLAP_SECONDS)
                       if self._missed_seen is not None else None)

        def find_and_enqueue() -> int:
            made = 0
            with self._sessions() as s, s.begin():
                for m in missed_calls(s, settings, now, ended_after):
                    try:
                        self._policy.dialable(m.caller, DialPurpose.CALLED_IN)
                    except DialRefused:
                        continue
                    _, created = enqueue_in(
                        s, CampaignKind.MISSED_CALL, m.line,
                        [Destination(m.caller, "citizen")],
                        f"{missed_key(m.caller)}:{m.call_id}", call_id=m.call_id, now=now)
                    made += created
            return made
        made = await self._db(find_and_enqueue)
        self._missed_seen = now
        if made:
            log.info("%d missed call(s) to call back", made)

    # -- AMI events ---------------------------------------------------------------------------
    async def on_event(self, event: Any) -> None:
        """Given every AMI event (after the call-event bridge)."""
        name = event.get("Event")
        if name == "OriginateResponse":
            action = str(event.get("ActionID", ""))
            if action.startswith(ACTION_PREFIX) and action[len(ACTION_PREFIX):].isdigit():
                await self._originate_response(int(action[len(ACTION_PREFIX):]), event)
            return
        attempt_id = attempt_of_leg(str(event.get("Uniqueid", "")))
        if attempt_id is None:
            return
        if name == "Hangup":
            await self._hangup(attempt_id, event)
        elif name == "DialEnd" and str(event.get("Uniqueid", "")).startswith(
                CALLBACK_LEG_PREFIX):
            await self._citizen_dial_end(attempt_id, event)
        elif name == "DialBegin":
            self._legs.setdefault(attempt_id, _Leg()).agent_answered = True
            await self._db(self.store.mark_up, attempt_id)

    async def _originate_response(self, attempt_id: int, event: Any) -> None:
        self._unknown.pop(attempt_id, None)
        info: AttemptInfo | None = await self._db(self.store.attempt, attempt_id)
        if info is None or info.state is AttemptState.ENDED:
            return
        if event.get("Response") == "Success":
            if info.kind.agent_first:   # the agent answered; the citizen rings next
                self._legs.setdefault(attempt_id, _Leg()).agent_answered = True
            else:
                await self._db(self.store.mark_up, attempt_id)
            return
        if info.kind.agent_first:
            # The agent's phone did not answer: the call is back at the head of the line
            # (the bridge paused the agent); the citizen was not dialled.
            await self._end(attempt_id, info.kind, AttemptOutcome.AGENT_NO_ANSWER,
                            f"agent {info.agent_id} did not answer")
            return
        reason = str(event.get("Reason", ""))
        outcome = _REASONS.get(reason, AttemptOutcome.FAILED)
        await self._end(attempt_id, info.kind, outcome, f"originate reason {reason}")

    async def _citizen_dial_end(self, attempt_id: int, event: Any) -> None:
        status = str(event.get("DialStatus", ""))
        leg = self._legs.setdefault(attempt_id, _Leg())
        leg.outcome = _DIAL_STATUS.get(status, AttemptOutcome.FAILED)
        if leg.outcome is AttemptOutcome.COMPLETED:
            await self._db(self._link_recording, attempt_id)

    def _link_recording(self, attempt_id: int) -> None:
        """The callback conversation's recording goes on the citizen's call record."""
        with self._sessions() as s, s.begin():
            attempt = s.get(CampaignAttempt, attempt_id)
            if attempt is None or attempt.recording is None:
                return
            target = s.get(CampaignTarget, attempt.target_id)
            if target is None or target.call_id is None:
                return
            s.execute(update(CallRecord).where(CallRecord.id == target.call_id)
                      .values(callback_recording=attempt.recording))

    async def _hangup(self, attempt_id: int, event: Any) -> None:
        info: AttemptInfo | None = await self._db(self.store.attempt, attempt_id)
        if info is None or info.state is AttemptState.ENDED:
            return
        cause = _int(event.get("Cause"))
        if info.kind.agent_first:
            leg = self._legs.get(attempt_id, _Leg())
            if not leg.agent_answered and info.state is not AttemptState.UP:
                outcome: AttemptOutcome | None = AttemptOutcome.AGENT_NO_ANSWER
            else:
                outcome = leg.outcome or AttemptOutcome.HUNG_UP
            state = await self._end(attempt_id, info.kind, outcome, f"hangup cause {cause}")
            await self._after_agent_first(info, state)
            return
        if info.state is AttemptState.UP:
            outcome = None          # the flow's word, or hung_up
        else:
            outcome = _CAUSES.get(cause or 0, AttemptOutcome.FAILED)
        await self._end(attempt_id, info.kind, outcome, f"hangup cause {cause}")

    async def _after_agent_first(self, info: AttemptInfo, state: TargetState | None) -> None:
        """The citizen's call record follows the target: given up → abandoned."""
        if state is TargetState.WORKLIST and self._calls is not None and info.call_id:
            await self._calls.closed(info.call_id, Disposition.ABANDONED,
                                     "callback: the citizen did not answer the last attempt")

    # -- after a restart or an AMI reconnect ----------------------------------------------
    async def reconcile(self, channels: Sequence[dict[str, str]]) -> int:
        """Settle every attempt in flight from Asterisk's channels and the CDR file; run
        after every AMI login (before the distributor's resync). Returns attempts settled."""
        self.reconciled.clear()
        async with self._lock:
            present = {ch.get("Uniqueid", "") for ch in channels}
            settled = 0
            for info in await self._db(self.store.attempts_in_flight):
                if info.channel in present:
                    continue          # still ringing or talking: its events will end it
                settled += await self._settle_gone(info, grace=True)
            await self._requeue_lost_calls()
        self.reconciled.set()
        if settled:
            log.info("reconcile: %d campaign attempt(s) settled", settled)
        return settled

    async def _settle_gone(self, info: AttemptInfo, grace: bool) -> int:
        """An attempt whose channel Asterisk no longer shows."""
        cdr = await self._db(self._cdr_outcome, info.channel)
        if cdr is not None:
            outcome, detail = cdr
            if info.kind.agent_first:
                state = await self._end(info.id, info.kind, outcome, detail)
                await self._after_agent_first(info, state)
            else:
                await self._end(info.id, info.kind,
                                None if outcome is AttemptOutcome.HUNG_UP else outcome, detail)
            return 1
        if info.state is AttemptState.ORIGINATING and grace and \
                info.id not in self._unknown:
            # Its Originate may still be on its way in: look again shortly.
            self._unknown[info.id] = time.monotonic() + UNKNOWN_GRACE_SECONDS
            return 0
        await self._end(info.id, info.kind, AttemptOutcome.LOST,
                        "not in Asterisk's channels nor its CDR: never placed")
        return 1

    async def _look_again(self) -> None:
        due = [a for a, at in self._unknown.items() if at <= time.monotonic()]
        if not due:
            return
        present = {ch.get("Uniqueid", "") for ch in await channels_now(self._ami)}
        for attempt_id in due:
            self._unknown.pop(attempt_id, None)
            info = await self._db(self.store.attempt, attempt_id)
            if info is None or info.state is AttemptState.ENDED or info.channel in present:
                continue
            await self._settle_gone(info, grace=False)

    async def _requeue_lost_calls(self) -> None:
        """Queued agent-first targets the distributor no longer holds (its state was lost)
        join the line again."""
        if self._distributor is None:
            return
        for target in await self._db(self.store.targets_in, TargetState.QUEUED,
                                     AGENT_FIRST_KINDS):
            if target.call_id and not await self._distributor.view.holds(
                    distributor_call(target.kind, target.call_id)):
                await self._db(self.store.requeue, target.id, self._clock())

    def _cdr_outcome(self, uniqueid: str) -> tuple[AttemptOutcome, str] | None:
        """The attempt's leg in the CDR file (its last part): how it ended."""
        if self._cdr_file is None or not uniqueid:
            return None
        try:
            with open(self._cdr_file, "rb") as fh:
                size = fh.seek(0, 2)
                fh.seek(max(0, size - CDR_TAIL_BYTES))
                text = fh.read().decode("utf-8", errors="replace")
        except FileNotFoundError:
            return None
        names = [c.name for c in CDR_COLUMNS]
        found: list[dict[str, str]] = []
        needle = f'"{uniqueid}"'
        for line in text.splitlines():
            if needle not in line:
                continue
            row = next(csv.reader([line]), [])
            if len(row) == len(names) and row[0] == uniqueid:
                found.append(dict(zip(names, row, strict=True)))
        if not found:
            return None
        answered = [r for r in found if r["disposition"] == "ANSWERED"]
        if uniqueid.startswith(CALLBACK_LEG_PREFIX):
            # Agent leg: answered with a carrier leg behind it = the citizen talked.
            if any(r["dstchannel"].startswith(f"{TECH}/{Endpoint.CARRIER}") for r in answered):
                return AttemptOutcome.COMPLETED, "from the CDR: the citizen answered"
            if answered:
                return AttemptOutcome.NO_ANSWER, "from the CDR: the citizen did not answer"
            return AttemptOutcome.AGENT_NO_ANSWER, "from the CDR: the agent did not answer"
        disposition = found[-1]["disposition"]
        outcome = _CDR_DISPOSITION.get(disposition, AttemptOutcome.FAILED)
        if answered:
            outcome = AttemptOutcome.HUNG_UP
        return outcome, f"from the CDR: {disposition}"


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
