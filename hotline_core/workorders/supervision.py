"""Supervision (督办): lights for open orders, reminders and special supervision.

gaotai: an overdue unit gets a reminder (the seed asks for an automatic reminder call);
if it has still not reported one working day later (the preset's
``special_supervision_after``), special supervision starts. minhe: reminders go to the
unit's A/B liaisons (AB角). The reminder event records their phone numbers; the core's
order-campaign pass then queues the reminder call to A, then B
(:mod:`hotline_core.workorders.reminders`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from hotline_core.access import Principal, Role
from hotline_core.workorders import deadlines
from hotline_core.workorders.calendar import CalendarGapError
from hotline_core.workorders.desk import DeskSettings, _append, state_of, working_statuses
from hotline_core.workorders.lifecycle import EventKind
from hotline_core.workorders.lights import Light, light_column, light_for, open_orders
from hotline_core.workorders.model import Unit, UnitContact, WorkOrder
from hotline_core.workorders.presets import Preset

PLATFORM = Principal(name="platform", role=Role.SUPERVISOR)


def light_of(preset: Preset, order: WorkOrder, now: datetime) -> Light | None:
    """The order's light while a unit works against its deadline, else None."""
    if order.status not in working_statuses() or order.due_at is None:
        return None
    started = order.handling_started_at or order.received_at
    return light_for(preset, now, started, order.due_at)


@dataclass(frozen=True)
class LightRow:
    order_id: int
    lead_unit: str | None
    due_at: datetime
    light: Light


def lights(session: Session, preset: Preset, now: datetime, unit: str | None = None,
           batch: int = 5000) -> Iterator[LightRow]:
    """Lights of every order a unit is working on, streamed in id order (narrow rows); the
    database computes each light (:func:`~hotline_core.workorders.lights.light_column`)."""
    stmt = (select(WorkOrder.id, WorkOrder.lead_unit, WorkOrder.due_at,
                   light_column(session, preset, now))
            .where(*open_orders())
            .order_by(WorkOrder.id)
            .execution_options(yield_per=batch))
    if unit is not None:
        stmt = stmt.where(WorkOrder.lead_unit == unit)
    for oid, lead, due, light in session.execute(stmt):
        if due is None:  # excluded by the query; keeps the type checker honest
            continue
        yield LightRow(oid, lead, due, Light(light))


@dataclass(frozen=True)
class SupervisionRun:
    reminders: list[int]
    special: list[int]


def _contacts(session: Session, unit: str | None) -> list[dict[str, str]]:
    if unit is None:
        return []
    rows = session.scalars(select(UnitContact).where(UnitContact.unit_code == unit,
                                                     UnitContact.role.in_(["A", "B"]))
                           .order_by(UnitContact.role))
    return [{"role": c.role, "name": c.name, "phone": c.phone} for c in rows]


def run_supervision(session: Session, cfg: DeskSettings) -> SupervisionRun:
    """One pass: remind every newly overdue order's unit; escalate unreported reminders."""
    now = cfg.now()
    reminded: list[int] = []
    special: list[int] = []
    overdue = session.scalars(
        select(WorkOrder).where(WorkOrder.status.in_(working_statuses()),
                                WorkOrder.due_at <= now).order_by(WorkOrder.id)
    )
    for order in list(overdue):
        state = state_of(session, order)
        if state.reminded_at is None:
            unit = session.get(Unit, order.lead_unit) if order.lead_unit else None
            _append(session, order, EventKind.REMINDER, PLATFORM, now, {
                "light": Light.RED.value, "due_at": order.due_at.isoformat()
                if order.due_at else None,
                "unit": order.lead_unit, "unit_name": unit.name if unit else None,
                "call": _contacts(session, order.lead_unit),
            }, unit=order.lead_unit)
            reminded.append(order.id)
            continue
        if state.special_supervision_at is not None:
            continue
        try:
            starts = deadlines.special_supervision_due(cfg.preset, cfg.calendar,
                                                       state.reminded_at)
        except CalendarGapError:
            continue  # cannot tell yet; the next run after the calendar is updated will
        if now >= starts:
            _append(session, order, EventKind.SPECIAL_SUPERVISION, PLATFORM, now, {
                "reminded_at": state.reminded_at.isoformat(),
                "reason": "督办后仍未反馈办理情况", "unit": order.lead_unit,
            }, unit=order.lead_unit)
            special.append(order.id)
    return SupervisionRun(reminded, special)
