"""Deductions entered by a supervisor (人工减分): the findings the platform cannot see by
itself — shirking (推诿不办), breaking first responsibility (不遵守“首接负责”制) and
missing double feedback (不落实“双反馈”制). Each costs the unit the preset's points
(``[metrics.deductions]``) in the period that holds ``occurred_at``.

Audit: a row says who entered it, when and why; it is never deleted. A wrong one is
withdrawn (撤销) with who, when and why, and then counts no more. The database refuses a
DELETE and any UPDATE but filling in the withdrawal once (triggers of migration
``0009_deductions``).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from hotline_core.clock import UtcDateTime
from hotline_core.db import Base
from hotline_core.workorders.model import Unit, WorkOrder
from hotline_core.workorders.presets import DeductionKind, Preset

# The kinds a person must find; the others are counted from the orders (metrics.py).
MANUAL_KINDS: tuple[DeductionKind, ...] = (
    DeductionKind.SHIRKING, DeductionKind.FIRST_RESPONSIBILITY_BREACH,
    DeductionKind.DOUBLE_FEEDBACK_MISSING)
REASON_MAX = 500


class UnitDeduction(Base):
    """One supervisor's finding against a unit (减分记录), with its audit fields."""

    __tablename__ = "wo_unit_deductions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    unit_code: Mapped[str] = mapped_column(ForeignKey("wo_units.code"))
    kind: Mapped[str] = mapped_column(String(40))
    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("work_orders.id"))
    reason: Mapped[str] = mapped_column(Text)
    entered_by: Mapped[str] = mapped_column(String(100))
    entered_at: Mapped[datetime] = mapped_column(UtcDateTime)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    withdrawn_by: Mapped[str | None] = mapped_column(String(100))
    withdraw_reason: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_wo_unit_deductions_unit_at", "unit_code", "occurred_at"),)


class DeductionError(ValueError):
    """A refused deduction or withdrawal; ``field`` names the input that is wrong."""

    def __init__(self, field: str, message: str, status: int = 422) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.status = status


@dataclass(frozen=True)
class NewDeduction:
    unit: str
    kind: str
    occurred_at: datetime
    reason: str
    order_id: int | None = None


def _reason(value: str, field: str) -> str:
    text = value.strip()
    if not text:
        raise DeductionError(field, "a reason is required")
    if len(text) > REASON_MAX:
        raise DeductionError(field, f"at most {REASON_MAX} characters")
    return text


def enter(session: Session, preset: Preset, new: NewDeduction, by: str,
          now: datetime) -> UnitDeduction:
    """Record a finding; refuses a kind that is not a person's finding or that the preset
    gives no points for, an unknown unit, an order of another unit, a future instant."""
    try:
        kind = DeductionKind(new.kind)
    except ValueError:
        raise DeductionError("kind", f"{new.kind[:40]!r} is not one of "
                             f"{', '.join(k.value for k in MANUAL_KINDS)}") from None
    if kind not in MANUAL_KINDS:
        raise DeductionError("kind", f"{kind.value} is counted from the orders, not entered")
    if kind not in preset.metrics.deductions:
        raise DeductionError("kind", f"the preset {preset.name} gives no points for "
                             f"{kind.value}")
    if session.get(Unit, new.unit) is None:
        raise DeductionError("unit", f"no unit {new.unit[:64]!r}")
    if new.order_id is not None:
        order = session.get(WorkOrder, new.order_id)
        if order is None:
            raise DeductionError("order_id", f"no order {new.order_id}")
        if order.lead_unit != new.unit and not any(
                a.unit_code == new.unit for a in order.assignments):
            raise DeductionError("order_id", f"order {new.order_id} was never unit "
                                 f"{new.unit}'s")
    if new.occurred_at > now:
        raise DeductionError("occurred_at", "is in the future")
    row = UnitDeduction(unit_code=new.unit, kind=kind.value, occurred_at=new.occurred_at,
                        order_id=new.order_id, reason=_reason(new.reason, "reason"),
                        entered_by=by, entered_at=now)
    session.add(row)
    session.flush()
    return row


def withdraw(session: Session, deduction_id: int, reason: str, by: str,
             now: datetime) -> UnitDeduction:
    """Withdraw (撤销) a deduction with a reason; the row stays, marked."""
    row = session.get(UnitDeduction, deduction_id)
    if row is None:
        raise DeductionError("id", f"no deduction {deduction_id}", status=404)
    if row.withdrawn_at is not None:
        raise DeductionError("id", f"deduction {deduction_id} was withdrawn already",
                             status=409)
    row.withdraw_reason = _reason(reason, "reason")
    row.withdrawn_at, row.withdrawn_by = now, by
    session.flush()
    return row


def listed(session: Session, start: datetime, end: datetime,
           unit: str | None = None) -> list[UnitDeduction]:
    """Every deduction of the period (withdrawn ones too, for the audit), oldest first."""
    stmt = (select(UnitDeduction)
            .where(UnitDeduction.occurred_at >= start, UnitDeduction.occurred_at < end)
            .order_by(UnitDeduction.occurred_at, UnitDeduction.id))
    if unit is not None:
        stmt = stmt.where(UnitDeduction.unit_code == unit)
    return list(session.scalars(stmt))


def counted(session: Session, start: datetime,
            end: datetime) -> dict[str, Counter[DeductionKind]]:
    """Per unit, the standing (not withdrawn) deductions of the period by kind."""
    out: dict[str, Counter[DeductionKind]] = {}
    stmt = (select(UnitDeduction.unit_code, UnitDeduction.kind)
            .where(UnitDeduction.occurred_at >= start, UnitDeduction.occurred_at < end,
                   UnitDeduction.withdrawn_at.is_(None)))
    for unit, kind in session.execute(stmt):
        out.setdefault(unit, Counter())[DeductionKind(kind)] += 1
    return out
