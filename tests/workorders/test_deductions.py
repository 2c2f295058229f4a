"""Supervisors' deductions (人工减分) in storage, on SQLite and PostgreSQL: they count in
their period at the preset's points until withdrawn; the database keeps the audit trail
(no DELETE; an UPDATE only fills in the withdrawal, once)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import delete, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from hotline_core.workorders import deductions
from hotline_core.workorders.deductions import DeductionError, NewDeduction, UnitDeduction
from hotline_core.workorders.model import Unit
from hotline_core.workorders.presets import DeductionKind, Preset

NOW = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)
OCT = (datetime(2026, 9, 30, 16, tzinfo=UTC), datetime(2026, 10, 31, 16, tzinfo=UTC))


def _new(**change: Any) -> NewDeduction:
    base: dict[str, Any] = {"unit": "u1", "kind": "shirking", "reason": "推诿",
                            "occurred_at": datetime(2026, 10, 20, 0, tzinfo=UTC)}
    return NewDeduction(**{**base, **change})


def test_deductions_count_until_withdrawn_and_stay_audited(
        maker: sessionmaker[Session], preset: Preset) -> None:
    with maker() as s, s.begin():
        s.add(Unit(code="u1", name="城关镇", kind="town"))
    with maker() as s, s.begin():
        a = deductions.enter(s, preset, _new(), "sup1", NOW)
        deductions.enter(s, preset, _new(kind="double_feedback_missing"), "sup1", NOW)
        # November: outside October's period.
        deductions.enter(s, preset, _new(occurred_at=datetime(2026, 11, 2, tzinfo=UTC)),
                         "sup1", NOW)
        first = a.id
    with maker() as s:
        assert deductions.counted(s, *OCT) == {"u1": {DeductionKind.SHIRKING: 1,
                                                      DeductionKind.DOUBLE_FEEDBACK_MISSING: 1}}
    # A standing finding's reason cannot be rewritten either (only withdrawn).
    with maker() as s, pytest.raises(DBAPIError), s.begin():
        s.execute(update(UnitDeduction).where(UnitDeduction.id == first).values(reason="改"))
    with maker() as s, s.begin():
        deductions.withdraw(s, first, "录错", "sup2", NOW)
    with maker() as s:
        assert deductions.counted(s, *OCT) == {
            "u1": {DeductionKind.DOUBLE_FEEDBACK_MISSING: 1}}
        rows = deductions.listed(s, *OCT)
        assert [(r.kind, r.withdrawn_by, r.withdraw_reason) for r in rows] == [
            ("shirking", "sup2", "录错"), ("double_feedback_missing", None, None)]
    # The database refuses to forget or rewrite.
    for stmt in (delete(UnitDeduction).where(UnitDeduction.id == first),
                 update(UnitDeduction).where(UnitDeduction.id == first)
                 .values(reason="改写")):
        with maker() as s, pytest.raises(DBAPIError), s.begin():
            s.execute(stmt)
    with maker() as s, pytest.raises(DeductionError) as refused, s.begin():
        deductions.withdraw(s, first, "再撤", "sup2", NOW)
    assert refused.value.status == 409


@pytest.mark.parametrize(("change", "field"), [
    ({"kind": "late_sign_off"}, "kind"), ({"kind": "nonsense"}, "kind"),
    ({"unit": "nobody"}, "unit"), ({"reason": " "}, "reason"),
    ({"occurred_at": datetime(2026, 12, 1, tzinfo=UTC)}, "occurred_at"),
    ({"order_id": 424242}, "order_id"),
])
def test_refusals_name_the_field(maker: sessionmaker[Session], preset: Preset,
                                 change: dict[str, Any], field: str) -> None:
    with maker() as s, s.begin():
        s.add(Unit(code="u1", name="城关镇", kind="town"))
    with maker() as s, pytest.raises(DeductionError) as refused, s.begin():
        deductions.enter(s, preset, _new(**change), "sup1", NOW)
    assert refused.value.field == field
    with maker() as s:
        assert deductions.listed(s, *OCT) == []
