"""The campaign store (外呼记录): targets enqueued, attempts begun and ended, retries decided.

Synchronous (SQLAlchemy); the engine calls it from a worker thread. Every step that could
dial twice is a conditional update: a target moves to ``dialing`` only from ``pending`` or
``queued`` (one attempt in flight per target, whatever runs concurrently), and an attempt
ends once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from hotline_core.campaigns.config import KindSettings
from hotline_core.campaigns.model import (
    AttemptOutcome,
    AttemptState,
    Campaign,
    CampaignAttempt,
    CampaignKind,
    CampaignState,
    CampaignTarget,
    TargetState,
)
from hotline_core.clock import utc_now

LOST_RETRY_SECONDS = 10   # an attempt that never reached Asterisk is tried again after
IN_FLIGHT = (AttemptState.CREATED.value, AttemptState.ORIGINATING.value, AttemptState.UP.value)


@dataclass(frozen=True)
class Destination:
    """One number to try, and who it is (``citizen``, ``A``, ``B``, ``lead``)."""

    number: str
    role: str = "citizen"


# The uniqueid the Originate gives an attempt's first leg, from (attempt id, call id of an
# agent-first attempt); the names belong to the dialplan contract (ivr/dialplan.py).
LegName = Callable[[int, "str | None"], str]


@dataclass(frozen=True)
class AttemptInfo:
    """An attempt with what the dialler and a flow need of its target and campaign."""

    id: int
    target_id: int
    campaign_id: int
    kind: CampaignKind
    seq: int
    number: str
    role: str
    state: AttemptState
    line: str
    order_id: int | None
    call_id: str | None
    agent_id: str | None
    channel: str
    data: dict[str, Any] = field(default_factory=dict)
    created_at: datetime | None = None


@dataclass(frozen=True)
class DueTarget:
    id: int
    campaign_id: int
    kind: CampaignKind
    line: str
    destination: Destination
    order_id: int | None
    call_id: str | None


class CampaignHooks(Protocol):
    """What a kind's owner records alongside (order events); called inside the transaction
    that ends the attempt or closes the target, so both commit together."""

    def attempt_ended(self, session: Session, target: CampaignTarget,
                      attempt: CampaignAttempt) -> None: ...

    def target_closed(self, session: Session, target: CampaignTarget) -> None: ...


def standing(session: Session, kind: CampaignKind, line: str, now: datetime) -> Campaign:
    """The kind's automatic campaign for ``line``, made on first use."""
    found = session.scalars(select(Campaign).where(
        Campaign.kind == kind.value, Campaign.line == line, Campaign.standing.is_(True))
        .order_by(Campaign.id).limit(1)).first()
    if found is not None:
        return found
    campaign = Campaign(kind=kind.value, name=f"{kind.value} {line}", line=line,
                        state=CampaignState.ACTIVE.value, standing=True, created_at=now)
    session.add(campaign)
    session.flush()
    return campaign


def enqueue_in(session: Session, kind: CampaignKind, line: str,
               destinations: Sequence[Destination], key: str, *,
               order_id: int | None = None, call_id: str | None = None,
               data: Mapping[str, Any] | None = None, not_before: datetime | None = None,
               campaign_id: int | None = None, state: TargetState = TargetState.PENDING,
               now: datetime | None = None) -> tuple[int, bool]:
    """Add a target in the caller's transaction; the same ``key`` in the same campaign gives
    back the existing target and ``created=False``."""
    if not destinations:
        raise ValueError("destinations: at least one number to dial")
    if not key or len(key) > 200:
        raise ValueError("key: 1 to 200 characters")
    now = now or utc_now()
    if campaign_id is None:
        campaign_id = standing(session, kind, line, now).id
    existing = session.scalars(select(CampaignTarget.id).where(
        CampaignTarget.campaign_id == campaign_id, CampaignTarget.key == key)).first()
    if existing is not None:
        return existing, False
    target = CampaignTarget(
        campaign_id=campaign_id, key=key, state=state.value,
        destinations=[{"number": d.number, "role": d.role} for d in destinations],
        order_id=order_id, call_id=call_id, data=dict(data or {}), attempts=0, dials=0,
        next_at=not_before or now, outcome="", result={}, created_at=now, updated_at=now)
    session.add(target)
    session.flush()
    return target.id, True


def _destination(target: CampaignTarget) -> Destination:
    dests = target.destinations
    d = dests[target.attempts % len(dests)]
    return Destination(str(d.get("number", "")), str(d.get("role", "")))


class CampaignStore:
    def __init__(self, sessions: sessionmaker[Session],
                 clock: Callable[[], datetime] = utc_now) -> None:
        self._sessions = sessions
        self._clock = clock
        self.hooks: dict[CampaignKind, CampaignHooks] = {}

    # -- enqueue -----------------------------------------------------------------------------
    def enqueue(self, kind: CampaignKind, line: str, destinations: Sequence[Destination],
                key: str, **kw: Any) -> tuple[int, bool]:
        with self._sessions() as s, s.begin():
            return enqueue_in(s, kind, line, destinations, key, now=self._clock(), **kw)

    def cancel(self, target_id: int, reason: str) -> bool:
        """Close an open target that is not being dialled; False if it was not open."""
        with self._sessions() as s, s.begin():
            target = s.get(CampaignTarget, target_id, with_for_update=True)
            if target is None or target.state not in (TargetState.PENDING.value,
                                                      TargetState.QUEUED.value):
                return False
            self._close(s, target, TargetState.CANCELLED, reason[:32])
            return True

    # -- scheduling ----------------------------------------------------------------------------
    def due(self, now: datetime, limit: int, kinds: Sequence[CampaignKind]) -> list[DueTarget]:
        """Pending targets whose time has come, oldest due first, of active campaigns."""
        with self._sessions() as s:
            rows = s.execute(
                select(CampaignTarget, Campaign.kind, Campaign.line)
                .join(Campaign, Campaign.id == CampaignTarget.campaign_id)
                .where(CampaignTarget.state == TargetState.PENDING.value,
                       CampaignTarget.next_at <= now,
                       Campaign.state == CampaignState.ACTIVE.value,
                       Campaign.kind.in_([k.value for k in kinds]))
                .order_by(CampaignTarget.next_at, CampaignTarget.id).limit(limit)).all()
            return [DueTarget(t.id, t.campaign_id, CampaignKind(kind), line, _destination(t),
                              t.order_id, t.call_id) for t, kind, line in rows]

    def in_flight(self) -> tuple[int, dict[int, int]]:
        """Attempts holding (or about to hold) a channel: in all, and per campaign."""
        with self._sessions() as s:
            rows = s.execute(select(CampaignAttempt.campaign_id, func.count())
                             .where(CampaignAttempt.state.in_(IN_FLIGHT))
                             .group_by(CampaignAttempt.campaign_id)).all()
        per = {int(cid): int(n) for cid, n in rows}
        return sum(per.values()), per

    def campaign_cap(self, campaign_id: int) -> int | None:
        with self._sessions() as s:
            campaign = s.get(Campaign, campaign_id)
            return campaign.max_channels if campaign is not None else None

    def delay(self, target_id: int, until: datetime) -> None:
        """A pending target waits (calling hours closed, no channel free)."""
        with self._sessions() as s, s.begin():
            s.execute(update(CampaignTarget)
                      .where(CampaignTarget.id == target_id,
                             CampaignTarget.state == TargetState.PENDING.value)
                      .values(next_at=until, updated_at=self._clock()))

    def mark_queued(self, target_id: int) -> bool:
        """Agent-first: the target is in the distributor's line (pending → queued)."""
        with self._sessions() as s, s.begin():
            done = s.execute(update(CampaignTarget)
                             .where(CampaignTarget.id == target_id,
                                    CampaignTarget.state == TargetState.PENDING.value)
                             .values(state=TargetState.QUEUED.value,
                                     updated_at=self._clock()))
            return bool(getattr(done, "rowcount", 0))

    def requeue(self, target_id: int, until: datetime) -> None:
        """Agent-first: back from the distributor's line to pending (hours closed)."""
        with self._sessions() as s, s.begin():
            s.execute(update(CampaignTarget)
                      .where(CampaignTarget.id == target_id,
                             CampaignTarget.state == TargetState.QUEUED.value)
                      .values(state=TargetState.PENDING.value, next_at=until,
                              updated_at=self._clock()))

    def open_target_of_call(self, call_id: str, kinds: Sequence[CampaignKind]
                            ) -> tuple[int, CampaignKind, str] | None:
        """The open agent-first target about call ``call_id``: (id, kind, state)."""
        with self._sessions() as s:
            row = s.execute(
                select(CampaignTarget.id, Campaign.kind, CampaignTarget.state)
                .join(Campaign, Campaign.id == CampaignTarget.campaign_id)
                .where(CampaignTarget.call_id == call_id,
                       CampaignTarget.state.in_([st.value for st in TargetState if st.open]),
                       Campaign.kind.in_([k.value for k in kinds]))
                .order_by(CampaignTarget.id.desc()).limit(1)).first()
        return (int(row[0]), CampaignKind(row[1]), str(row[2])) if row else None

    def targets_in(self, state: TargetState, kinds: Sequence[CampaignKind]
                   ) -> list[DueTarget]:
        with self._sessions() as s:
            rows = s.execute(
                select(CampaignTarget, Campaign.kind, Campaign.line)
                .join(Campaign, Campaign.id == CampaignTarget.campaign_id)
                .where(CampaignTarget.state == state.value,
                       Campaign.kind.in_([k.value for k in kinds]))).all()
            return [DueTarget(t.id, t.campaign_id, CampaignKind(kind), line, _destination(t),
                              t.order_id, t.call_id) for t, kind, line in rows]

    # -- attempts ------------------------------------------------------------------------------
    def begin_attempt(self, target_id: int, number: str, role: str,
                      agent_id: str | None = None,
                      leg: LegName | None = None) -> AttemptInfo | None:
        """Write the attempt row (state ``created``) and move the target to ``dialing``;
        None when the target is no longer pending/queued (another dial took it)."""
        now = self._clock()
        with self._sessions() as s, s.begin():
            moved = s.execute(
                update(CampaignTarget)
                .where(CampaignTarget.id == target_id,
                       CampaignTarget.state.in_([TargetState.PENDING.value,
                                                 TargetState.QUEUED.value]))
                .values(state=TargetState.DIALING.value, dials=CampaignTarget.dials + 1,
                        updated_at=now))
            if not getattr(moved, "rowcount", 0):
                return None
            target = s.get(CampaignTarget, target_id)
            assert target is not None
            campaign = s.get(Campaign, target.campaign_id)
            assert campaign is not None
            attempt = CampaignAttempt(
                target_id=target.id, campaign_id=target.campaign_id, seq=target.dials,
                number=number, role=role, state=AttemptState.CREATED.value,
                agent_id=agent_id, created_at=now, detail="")
            s.add(attempt)
            s.flush()
            if leg is not None:
                attempt.channel = leg(attempt.id, target.call_id if agent_id else None)
            return _info(attempt, target, campaign)

    def mark_originating(self, attempt_id: int) -> None:
        self._set_state(attempt_id, AttemptState.ORIGINATING, (AttemptState.CREATED,),
                        originated_at=self._clock())

    def mark_up(self, attempt_id: int) -> None:
        self._set_state(attempt_id, AttemptState.UP,
                        (AttemptState.CREATED, AttemptState.ORIGINATING),
                        answered_at=self._clock())

    def _set_state(self, attempt_id: int, state: AttemptState,
                   from_: Sequence[AttemptState], **values: Any) -> None:
        with self._sessions() as s, s.begin():
            s.execute(update(CampaignAttempt)
                      .where(CampaignAttempt.id == attempt_id,
                             CampaignAttempt.state.in_([f.value for f in from_]))
                      .values(state=state.value, **values))

    def set_recording(self, attempt_id: int, recording: str) -> None:
        with self._sessions() as s, s.begin():
            s.execute(update(CampaignAttempt).where(CampaignAttempt.id == attempt_id)
                      .values(recording=recording[:300]))

    def flow_result(self, attempt_id: int, outcome: AttemptOutcome,
                    result: Mapping[str, Any], finished: bool) -> None:
        """What the answered attempt's flow reported (kept until the leg hangs up)."""
        with self._sessions() as s, s.begin():
            attempt = s.get(CampaignAttempt, attempt_id)
            if attempt is None or attempt.state == AttemptState.ENDED.value:
                return
            if not finished and outcome is AttemptOutcome.COMPLETED:
                outcome = AttemptOutcome.HUNG_UP
            attempt.outcome = outcome.value
            target = s.get(CampaignTarget, attempt.target_id)
            if target is not None and result:
                target.result = {**(target.result or {}), **dict(result)}

    def attempt(self, attempt_id: int) -> AttemptInfo | None:
        with self._sessions() as s:
            attempt = s.get(CampaignAttempt, attempt_id)
            if attempt is None:
                return None
            target = s.get(CampaignTarget, attempt.target_id)
            campaign = s.get(Campaign, attempt.campaign_id)
            assert target is not None and campaign is not None
            return _info(attempt, target, campaign)

    def attempts_in_flight(self) -> list[AttemptInfo]:
        with self._sessions() as s:
            rows = s.execute(
                select(CampaignAttempt, CampaignTarget, Campaign)
                .join(CampaignTarget, CampaignTarget.id == CampaignAttempt.target_id)
                .join(Campaign, Campaign.id == CampaignAttempt.campaign_id)
                .where(CampaignAttempt.state.in_(IN_FLIGHT))).all()
            return [_info(a, t, c) for a, t, c in rows]

    def end_attempt(self, attempt_id: int, outcome: AttemptOutcome | None, detail: str,
                    settings: KindSettings,
                    next_open: Callable[[datetime], datetime] | None = None
                    ) -> TargetState | None:
        """End the attempt once and decide its target: done, another attempt (after the
        spacing when a round of destinations is over), the worklist after the last one.
        ``outcome`` None: what the flow reported, else ``hung_up``. Returns the target's
        new state, or None when the attempt had already ended."""
        now = self._clock()
        with self._sessions() as s, s.begin():
            attempt = s.get(CampaignAttempt, attempt_id, with_for_update=True)
            if attempt is None or attempt.state == AttemptState.ENDED.value:
                return None
            if outcome is None:
                outcome = AttemptOutcome(attempt.outcome or AttemptOutcome.HUNG_UP.value)
            elif attempt.outcome and attempt.state == AttemptState.UP.value and \
                    outcome is AttemptOutcome.HUNG_UP:
                outcome = AttemptOutcome(attempt.outcome)   # the flow's word wins
            attempt.state = AttemptState.ENDED.value
            attempt.outcome = outcome.value
            attempt.detail = detail[:200]
            attempt.ended_at = now
            target = s.get(CampaignTarget, attempt.target_id, with_for_update=True)
            assert target is not None
            campaign = s.get(Campaign, target.campaign_id)
            assert campaign is not None
            state = self._decide(target, CampaignKind(campaign.kind), outcome, settings, now,
                                 next_open)
            hooks = self.hooks.get(CampaignKind(campaign.kind))
            if hooks is not None:
                hooks.attempt_ended(s, target, attempt)
            if state.open:
                target.state = state.value
                target.updated_at = now
            else:
                self._close(s, target, state, outcome.value)
            return state

    def _decide(self, target: CampaignTarget, kind: CampaignKind, outcome: AttemptOutcome,
                settings: KindSettings, now: datetime,
                next_open: Callable[[datetime], datetime] | None) -> TargetState:
        if outcome in (AttemptOutcome.COMPLETED, AttemptOutcome.DECLINED):
            return TargetState.DONE
        if outcome is AttemptOutcome.REFUSED and len(target.destinations) == 1:
            return TargetState.REFUSED
        if outcome in (AttemptOutcome.LOST, AttemptOutcome.AGENT_NO_ANSWER) \
                and kind.agent_first:
            return TargetState.QUEUED     # still in the distributor's line: the next agent
        if outcome is AttemptOutcome.LOST:
            # Never reached Asterisk: dialled again soon, no attempt used.
            target.next_at = now + timedelta(seconds=LOST_RETRY_SECONDS)
            return TargetState.PENDING
        if outcome.uncounted:
            target.next_at = now if next_open is None else next_open(now)
            return TargetState.PENDING
        target.attempts += 1
        if target.attempts >= settings.max_attempts:
            return TargetState.WORKLIST
        round_over = target.attempts % len(target.destinations) == 0
        at = now + timedelta(seconds=settings.retry_spacing_seconds) if round_over else now
        target.next_at = next_open(at) if next_open is not None else at
        return TargetState.PENDING

    def _close(self, s: Session, target: CampaignTarget, state: TargetState,
               outcome: str) -> None:
        now = self._clock()
        target.state = state.value
        target.outcome = outcome
        target.closed_at = now
        target.updated_at = now
        target.next_at = None
        campaign = s.get(Campaign, target.campaign_id)
        hooks = self.hooks.get(CampaignKind(campaign.kind)) if campaign else None
        if hooks is not None:
            hooks.target_closed(s, target)


def _info(a: CampaignAttempt, t: CampaignTarget, c: Campaign) -> AttemptInfo:
    return AttemptInfo(
        id=a.id, target_id=t.id, campaign_id=c.id, kind=CampaignKind(c.kind), seq=a.seq,
        number=a.number, role=a.role, state=AttemptState(a.state), line=c.line,
        order_id=t.order_id, call_id=t.call_id, agent_id=a.agent_id, channel=a.channel,
        data=dict(t.data or {}), created_at=a.created_at)
