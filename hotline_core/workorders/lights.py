"""Lights (亮灯): the green/yellow/red state of an open work order (工单).

gaotai names the "红黄灯" prompt but gives no threshold; the threshold is preset data
(:class:`~hotline_core.workorders.presets.LightRule`). Time left and the allowance are measured on
the clock, from ``started_at`` (the instant the limit is counted from) to ``due_at``, so
that a light can be computed per order without a calendar lookup.

:func:`light_for` decides one order in Python; :func:`light_sql` is the same rule as a SQL
expression, which :func:`open_order_lights` and :func:`light_counts` use for all open
orders at once.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    ColumnExpressionArgument,
    case,
    func,
    literal,
    select,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from hotline_core.workorders.presets import Preset


class Light(StrEnum):
    """Colour of an open order's light."""

    GREEN = "green"  # 绿灯: in time
    YELLOW = "yellow"  # 黄灯: deadline near (预警)
    RED = "red"  # 红灯: overdue (逾期)


def light_for(preset: Preset, now: datetime, started_at: datetime, due_at: datetime) -> Light:
    """Red once past the due instant (the due instant itself is still in time, as in
    "N个工作日内"); yellow when the time left is at most the preset's percentage of the
    whole allowance, or at most its number of hours; else green."""
    if now > due_at:
        return Light.RED
    remaining = due_at - now
    rule = preset.lights
    # Integer arithmetic on microseconds keeps the percentage boundary exact.
    allowance_us = _microseconds(due_at - started_at)
    if _microseconds(remaining) * 100 <= allowance_us * rule.yellow_remaining_percent:
        return Light.YELLOW
    if rule.yellow_remaining_hours and remaining <= timedelta(hours=rule.yellow_remaining_hours):
        return Light.YELLOW
    return Light.GREEN


def _microseconds(delta: timedelta) -> int:
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


# ---- the same rule in SQL (for all open orders at once) -----------------------------------
# The rule above, per row in Python, cost ~1 s for the ~100 k open orders of a hotline with
# 1 M stored orders. Below it is one CASE expression the database evaluates on the stored
# instants (due_at, handling_started_at or received_at) and the preset's stored thresholds,
# in integer microseconds since the epoch, so the percentage boundary is as exact as
# ``light_for``'s (tests/workorders/test_lights_sql.py checks both on the same orders).


class epoch_us(FunctionElement[int]):  # noqa: N801 - SQL function style
    """Microseconds since 1970-01-01 of a stored UTC instant column, as an integer."""

    type = BigInteger()
    inherit_cache = True


@compiles(epoch_us, "postgresql")
def _epoch_us_pg(element: epoch_us, compiler: SQLCompiler, **kw: Any) -> str:
    # date_part gives double precision (EXTRACT's numeric is several times slower): about
    # 2e9 s leave 22 bits of fraction, 0.24 µs, so rounding recovers the exact microsecond.
    return f"CAST(ROUND(date_part('epoch', {compiler.process(element.clauses, **kw)}) " \
           "* 1000000) AS BIGINT)"


@compiles(epoch_us, "sqlite")
def _epoch_us_sqlite(element: epoch_us, compiler: SQLCompiler, **kw: Any) -> str:
    # SQLite keeps "YYYY-MM-DD HH:MM:SS.ffffff": whole seconds from strftime on the first
    # 19 characters (given the fraction, SQLite rounds to milliseconds: .999999 → next
    # second), the six fraction digits read as an integer.
    col = compiler.process(element.clauses, **kw)
    return (f"(CAST(strftime('%s', substr({col}, 1, 19)) AS INTEGER) * 1000000 "
            f"+ COALESCE(CAST(substr({col}, 21, 6) AS INTEGER), 0))")


def instant_us(value: datetime) -> int:
    """``value`` (aware) in microseconds since the epoch, as :class:`epoch_us` reads it."""
    return _microseconds(value.astimezone(UTC) - EPOCH)


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def light_sql(preset: Preset, now: datetime, started: ColumnExpressionArgument[Any],
              due: ColumnExpressionArgument[Any]) -> ColumnElement[str]:
    """``light_for(preset, now, started, due)`` as a SQL CASE on two instant columns."""
    rule = preset.lights
    now_us = literal(instant_us(now), BigInteger())
    due_us, started_us = epoch_us(due), epoch_us(started)
    remaining = due_us - now_us
    whens: list[tuple[ColumnElement[bool], str]] = [
        (now_us > due_us, Light.RED.value),
        (remaining * 100 <= (due_us - started_us) * rule.yellow_remaining_percent,
         Light.YELLOW.value)]
    if rule.yellow_remaining_hours:
        hours_us = rule.yellow_remaining_hours * 3_600_000_000
        whens.append((remaining <= literal(hours_us, BigInteger()), Light.YELLOW.value))
    return case(*whens, else_=Light.GREEN.value)


def open_order_lights(session: Session, preset: Preset, now: datetime,
                      unit: str | None = None) -> list[tuple[int, str | None, Light]]:
    """(order id, lead unit, light) of every order a unit works on against its deadline,
    in id order, the light computed by the database."""
    from hotline_core.workorders.desk import working_statuses
    from hotline_core.workorders.model import WorkOrder

    started = func.coalesce(WorkOrder.handling_started_at, WorkOrder.received_at)
    stmt = (select(WorkOrder.id, WorkOrder.lead_unit,
                   light_sql(preset, now, started, WorkOrder.due_at))
            .where(WorkOrder.status.in_(working_statuses()), WorkOrder.due_at.is_not(None))
            .order_by(WorkOrder.id))
    if unit is not None:
        stmt = stmt.where(WorkOrder.lead_unit == unit)
    return [(oid, lead, Light(light)) for oid, lead, light in session.execute(stmt)]


def light_counts(session: Session, preset: Preset, now: datetime,
                 unit: str | None = None) -> dict[str | None, dict[Light, int]]:
    """Per lead unit, how many open orders show each light (one GROUP BY in the database)."""
    from hotline_core.workorders.desk import working_statuses
    from hotline_core.workorders.model import WorkOrder

    started = func.coalesce(WorkOrder.handling_started_at, WorkOrder.received_at)
    light = light_sql(preset, now, started, WorkOrder.due_at).label("light")
    stmt = (select(WorkOrder.lead_unit, light, func.count())
            .where(WorkOrder.status.in_(working_statuses()), WorkOrder.due_at.is_not(None))
            .group_by(WorkOrder.lead_unit, light))
    if unit is not None:
        stmt = stmt.where(WorkOrder.lead_unit == unit)
    out: dict[str | None, dict[Light, int]] = {}
    for lead, value, count in session.execute(stmt):
        out.setdefault(lead, {})[Light(value)] = int(count)
    return out
