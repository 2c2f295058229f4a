"""The agent's screen pop (来电弹屏): what an agent sees when the phone rings.

For the call offered to (or connected with) an agent: its line and department, the caller's
number, the caller's earlier calls and work orders, any open overdue order of the caller
(超期工单), and the caller's flags (restricted — 限制呼入, needs help — 需要帮扶). The
number is given as stored; masking (:func:`hotline_core.masking.mask_phone`) is the web
layer's decision by role.

The line, department and caller come from the distributor's own hash of the call (it holds
them from the enqueue on, before the call record's queued write may have landed), or from
the call record once the distributor has let the call go. Every look-up is bounded by a
timeout; the database reads run in a worker thread.

Also here: the duplicate candidates (重复件候选) the desktop shows before an order from a
call is saved — the caller's open orders about the same matter received in the last days.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hotline_core.acd.agents import AgentState
from hotline_core.acd.caller_flags import CallerFlags
from hotline_core.acd.read_models import DistributionView
from hotline_core.acd.restriction import Restriction, RestrictionList
from hotline_core.call_records import CallRecord
from hotline_core.phone_numbers import UNKNOWN, canonical_number
from hotline_core.workorders.desk import working_statuses
from hotline_core.workorders.lifecycle import OPEN_STATUSES
from hotline_core.workorders.model import WorkOrder

HISTORY_KEPT = 10            # earlier calls and earlier orders shown, each
# States in which the agent's phone is ringing or talking: the call is the agent's.
ON_THE_PHONE = (AgentState.RINGING, AgentState.ON_CALL)


def number_forms(caller: str) -> list[str]:
    """The forms a caller's number may be stored in: as the carrier sent it, canonical,
    and the ``+86`` form of a mainland number (as :class:`OverdueOrders` looks them up).
    An unknown number has no forms: it matches nobody's history."""
    number = canonical_number(caller)
    if number == UNKNOWN or not caller.strip():
        return []
    forms = {number, caller.strip()}
    if number.isdigit():
        forms.add(f"+86{number.lstrip('0')}")
    return sorted(forms)


@dataclass(frozen=True)
class EarlierCall:
    """One earlier call of the caller (历史来电)."""

    id: str
    line: str
    offered_at: datetime
    disposition: str
    agent_id: str | None


@dataclass(frozen=True)
class EarlierOrder:
    """One earlier work order of the caller (历史工单)."""

    id: int
    received_at: datetime
    category: str
    matter: str
    status: str
    due_at: datetime | None
    overdue: bool            # a unit is still working on it and its deadline has passed


@dataclass(frozen=True)
class CallerHistory:
    calls: list[EarlierCall]
    orders: list[EarlierOrder]            # newest first, at most HISTORY_KEPT
    overdue_orders: list[EarlierOrder]    # every open overdue order, however old


def _earlier_order(order: WorkOrder, now: datetime) -> EarlierOrder:
    overdue = (order.status in working_statuses() and order.due_at is not None
               and order.due_at <= now)
    return EarlierOrder(id=order.id, received_at=order.received_at, category=order.category,
                        matter=order.matter, status=order.status, due_at=order.due_at,
                        overdue=overdue)


def caller_history(session: Session, caller: str, *, call_id: str, now: datetime,
                   kept: int = HISTORY_KEPT) -> CallerHistory:
    """The caller's calls before ``call_id`` and orders, newest first, and every open
    overdue order (open: a unit is working on it; overdue: its deadline is at or before
    ``now``, as for the ``overdue_order`` priority)."""
    forms = number_forms(caller)
    if not forms:
        return CallerHistory([], [], [])
    calls = session.scalars(
        select(CallRecord).where(CallRecord.caller.in_(forms), CallRecord.id != call_id)
        .order_by(CallRecord.offered_at.desc(), CallRecord.id.desc()).limit(kept)).all()
    orders = session.scalars(
        select(WorkOrder).where(WorkOrder.caller_number.in_(forms))
        .order_by(WorkOrder.received_at.desc(), WorkOrder.id.desc()).limit(kept)).all()
    overdue = session.scalars(
        select(WorkOrder).where(WorkOrder.caller_number.in_(forms),
                                WorkOrder.status.in_(working_statuses()),
                                WorkOrder.due_at <= now)
        .order_by(WorkOrder.due_at, WorkOrder.id)).all()
    return CallerHistory(
        calls=[EarlierCall(c.id, c.line, c.offered_at, c.disposition, c.agent_id)
               for c in calls],
        orders=[_earlier_order(o, now) for o in orders],
        overdue_orders=[_earlier_order(o, now) for o in overdue])


def duplicate_candidates(session: Session, caller: str, matter: str, *, now: datetime,
                         days: int) -> list[WorkOrder]:
    """The caller's open orders about ``matter`` received in the last ``days`` days
    (oldest first): what the agent is asked about before saving a new order."""
    forms = number_forms(caller)
    if not forms or not matter:
        return []
    return list(session.scalars(
        select(WorkOrder).where(WorkOrder.caller_number.in_(forms), WorkOrder.matter == matter,
                                WorkOrder.status.in_([s.value for s in OPEN_STATUSES]),
                                WorkOrder.received_at >= now - timedelta(days=days))
        .order_by(WorkOrder.received_at, WorkOrder.id)).all())


@dataclass(frozen=True)
class CallFacts:
    """Line, department and caller of one call."""

    call_id: str
    line: str
    department: str
    caller: str


@dataclass(frozen=True)
class ScreenPop:
    """Everything the pop shows about one call (number unmasked: the web layer masks)."""

    call: CallFacts
    agent_id: str | None          # the agent it rings or talks to, or the record's agent
    needs_help: bool
    restriction: Restriction | None
    history: CallerHistory


class ScreenPops:
    """Builds screen pops from the distributor's state, the call records, the work orders
    and the callers' flags of one hotline."""

    def __init__(self, view: DistributionView, sessions: sessionmaker[Session],
                 flags: CallerFlags, restrictions: RestrictionList,
                 now: Callable[[], datetime], timeout: float = 3.0) -> None:
        self._view = view
        self._sessions = sessions
        self._flags = flags
        self._restrictions = restrictions
        self._now = now
        self._timeout = timeout

    async def current_call(self, agent_id: str) -> str | None:
        """The call ringing on or talking to ``agent_id`` now, or None."""
        async with asyncio.timeout(self._timeout):
            status = await self._view.agent(agent_id)
        if status is None or status.state not in ON_THE_PHONE:
            return None
        return status.current_call

    async def owner(self, call_id: str) -> str | None:
        """The agent the call is offered to or connected with now, else the agent the call
        record names (after the call); None for a call no agent took."""
        record = await self._record(call_id)
        return record.agent_id if record is not None else None

    async def _record(self, call_id: str) -> CallRecord | None:
        def read() -> CallRecord | None:
            with self._sessions() as s:
                row = s.get(CallRecord, call_id)
                if row is not None:
                    s.expunge(row)
                return row
        async with asyncio.timeout(self._timeout):
            return await asyncio.to_thread(read)

    async def pop(self, call_id: str, agent_id: str | None = None) -> ScreenPop | None:
        """The pop of ``call_id`` (None: the hotline knows no such call). ``agent_id``:
        the agent it rings on, when the caller knows it already."""
        async with asyncio.timeout(self._timeout):
            held = await self._view.held_call(call_id)
        record = await self._record(call_id)
        if held is not None:
            c = held.call
            facts = CallFacts(call_id, c.line, c.department, c.caller)
            agent_id = agent_id or held.agent_id
        elif record is not None:
            facts = CallFacts(call_id, record.line, record.department, record.caller)
        else:
            return None
        now = self._now()

        def history() -> CallerHistory:
            with self._sessions() as s:
                return caller_history(s, facts.caller, call_id=call_id, now=now)

        async with asyncio.timeout(self._timeout):
            past = await asyncio.to_thread(history)
            needs_help = await self._flags.needs_help(facts.caller)
            restriction = await self._restrictions.restriction_of(facts.caller)
        owner = agent_id or (record.agent_id if record is not None else None)
        return ScreenPop(call=facts, agent_id=owner, needs_help=needs_help,
                         restriction=restriction, history=past)
