"""Reminder calls to an overdue unit (催办电话, R-LIGHTS, R-AB).

Supervision (:mod:`hotline_core.workorders.supervision`) writes a ``reminder`` event when an
order goes red, naming the unit's A and B liaisons (AB角联络员) and their phones as the unit
directory had them. This module queues that reminder's call with the dialer
(:mod:`hotline_core.campaigns`: liaison A first, B at once when A does not answer or does
not confirm) in the same transaction as a ``reminder_call_scheduled`` event, says what the
call tells the liaison (the order number and how long it is overdue) and records the
confirmation (key 1) as a ``reminder_confirmed`` event. Each attempt is a ``call_attempt``
event (:class:`~hotline_core.workorders.callbacks.OrderCampaignHooks`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, exists, func, or_, select
from sqlalchemy.orm import Session, aliased

from hotline_core.access import Principal, Role
from hotline_core.campaigns.model import CampaignKind
from hotline_core.campaigns.store import Destination, enqueue_in
from hotline_core.workorders.callbacks import PLATFORM
from hotline_core.workorders.desk import (
    Conflict,
    DeskSettings,
    _append,
    load,
    state_of,
    working_statuses,
)
from hotline_core.workorders.lifecycle import UNIT_WORKING, EventKind, OrderState
from hotline_core.workorders.model import WorkOrder, WorkOrderEvent

LIAISON_ORDER = ("A", "B")   # minhe's AB角: A first, B when A cannot be reached


@dataclass(frozen=True)
class Liaison:
    """A unit's liaison the reminder call goes to."""

    role: str       # A or B
    name: str
    phone: str


def _last_seq(order_id: Any, kind: EventKind) -> Any:
    ev = aliased(WorkOrderEvent)
    return (select(func.max(ev.seq)).where(ev.order_id == order_id, ev.kind == kind.value)
            .scalar_subquery())


def due_for_reminder_call(session: Session, limit: int = 500) -> list[int]:
    """Orders still with their unit whose last reminder has no call queued yet."""
    reminder = aliased(WorkOrderEvent)
    last_call = _last_seq(WorkOrder.id, EventKind.REMINDER_CALL_SCHEDULED)
    pending = exists().where(and_(
        reminder.order_id == WorkOrder.id, reminder.kind == EventKind.REMINDER.value,
        or_(last_call.is_(None), reminder.seq > last_call)))
    stmt = (select(WorkOrder.id).where(WorkOrder.status.in_(working_statuses()), pending)
            .order_by(WorkOrder.due_at, WorkOrder.id).limit(limit))
    return list(session.scalars(stmt))


def _last_reminder(session: Session, order_id: int) -> WorkOrderEvent | None:
    return session.scalars(
        select(WorkOrderEvent).where(WorkOrderEvent.order_id == order_id,
                                     WorkOrderEvent.kind == EventKind.REMINDER.value)
        .order_by(WorkOrderEvent.seq.desc()).limit(1)).first()


def liaisons_to_call(session: Session, order_id: int) -> list[Liaison]:
    """The liaisons the last reminder named, A before B; one without a phone is left out."""
    ev = _last_reminder(session, order_id)
    named = ev.data.get("call", []) if ev is not None else []
    found = {str(c.get("role")): Liaison(str(c.get("role")), str(c.get("name", "")),
                                         str(c.get("phone", "")).strip())
             for c in named if isinstance(c, dict)}
    return [found[r] for r in LIAISON_ORDER if r in found and found[r].phone]


def schedule_reminder_call(session: Session, cfg: DeskSettings, order_id: int) -> int | None:
    """Queue the call of the order's last reminder; the dialer's target id, or None when
    the unit has no liaison phone (the event says so; staff act on the reminder)."""
    order = load(session, order_id, lock=True)
    reminder = _last_reminder(session, order_id)
    if reminder is None:
        raise Conflict(f"work order {order_id} has no reminder to call about")
    liaisons = liaisons_to_call(session, order_id)
    data: dict[str, Any] = {
        "reminder_seq": reminder.seq,
        "liaisons": [{"role": x.role, "name": x.name, "phone": x.phone} for x in liaisons]}
    target_id = None
    if liaisons:
        target_id, _created = enqueue_in(
            session, CampaignKind.REMINDER, line=order.line,
            destinations=[Destination(x.phone, x.role) for x in liaisons],
            key=f"reminder/{order.id}/{reminder.seq}", order_id=order.id,
            data={"order_id": order.id, "names": {x.role: x.name for x in liaisons}})
        data["target"] = target_id
    else:
        data["reason"] = "the unit directory names no A/B liaison phone"
    _append(session, order, EventKind.REMINDER_CALL_SCHEDULED, PLATFORM, cfg.now(), data,
            unit=order.lead_unit)
    return target_id


def schedule_reminder_calls(session: Session, cfg: DeskSettings,
                            limit: int = 500) -> list[int]:
    """One pass: queue the call of every reminder that has none; returns the orders."""
    done = []
    for order_id in due_for_reminder_call(session, limit):
        schedule_reminder_call(session, cfg, order_id)
        done.append(order_id)
    return done


def still_overdue(session: Session, order_id: int) -> bool:
    """True while the unit is still working on the order (a reply or a return ends it)."""
    return state_of(session, load(session, order_id)).status in UNIT_WORKING


@dataclass(frozen=True)
class ReminderScript:
    """What the liaison hears: the order number and how long it is overdue (超期)."""

    order_id: int
    overdue: timedelta
    open: bool          # False once the unit replied or returned the order

    @property
    def days_hours(self) -> tuple[int, int]:
        """Whole days and remaining whole hours overdue (natural time since the deadline)."""
        hours = max(0, int(self.overdue.total_seconds() // 3600))
        return divmod(hours, 24)


def reminder_script(session: Session, cfg: DeskSettings, order_id: int,
                    now: datetime | None = None) -> ReminderScript:
    order = load(session, order_id)
    at = now or cfg.now()
    overdue = at - order.due_at if order.due_at is not None else timedelta(0)
    return ReminderScript(order_id=order.id, overdue=max(overdue, timedelta(0)),
                          open=order.status in working_statuses())


def confirm(session: Session, cfg: DeskSettings, order_id: int, attempt: int,
            liaison: Liaison) -> OrderState:
    """The liaison pressed 1: the unit has been told (an event in the liaison's name)."""
    order = load(session, order_id, lock=True)
    if _last_reminder(session, order_id) is None:
        raise Conflict(f"work order {order_id} has no reminder to confirm")
    who = Principal(name=f"{liaison.name}({liaison.role})", role=Role.UNIT,
                    unit=order.lead_unit)
    return _append(session, order, EventKind.REMINDER_CONFIRMED, who, cfg.now(), {
        "campaign": CampaignKind.REMINDER.value, "attempt": attempt, "role": liaison.role,
        "name": liaison.name, "by": "dtmf",
    }, unit=order.lead_unit)
