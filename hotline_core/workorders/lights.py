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

import logging
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
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from hotline_core.workorders.lifecycle import UNIT_WORKING, Status
from hotline_core.workorders.model import LightRuleRow, WorkOrder
from hotline_core.workorders.presets import LightRule, Preset

log = logging.getLogger("hotline.lights")


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


# ---- stored instants: counting lights as index range counts ------------------------------
# The CASE above still reads every open row and does arithmetic on it (0.23 s for 108 k
# open orders of 1 M on PostgreSQL). The rule's answer for one order only changes at two
# instants: yellow from ``due − max(⌊allowance × percent / 100⌋, hours)`` (to the
# microsecond, the same integer arithmetic as ``light_for``), red after ``due``. The
# projection stores the first in ``work_orders.yellow_at`` whenever an event is appended
# (:func:`set_light_instant`); the second is ``due_at`` itself. Both depend only on the
# order's stored start and due instants and on the light rule — not on the working-day
# calendar, which only enters when the due instant is decided and written in the event.
# Which rule they were computed with is kept in ``wo_light_rule``; start-up recomputes
# them when the preset's rule differs (:func:`refresh_light_instants`). A reader uses the
# stored instants only when the stored rule is the reader's preset's, otherwise the CASE
# above, so both give the same light; so does an open order without an instant (a row
# not written by the desk's projection).

def _working() -> list[str]:
    return sorted(s.value for s in UNIT_WORKING)   # one order: the index predicate's


RULE_ROW_ID = 1          # wo_light_rule holds one row
_HOUR_US = 3_600_000_000


def rule_fingerprint(rule: LightRule) -> str:
    """What the stored instants depend on, as text (stored beside them)."""
    return (f"lights/1 yellow_remaining_percent={rule.yellow_remaining_percent} "
            f"yellow_remaining_hours={rule.yellow_remaining_hours}")


def yellow_instant(percent: int, hours: int, started: datetime, due: datetime) -> datetime:
    """The first instant ``light_for`` says yellow (or red) for an order started at
    ``started`` and due at ``due``: time left r (µs) is yellow when r × 100 ≤ allowance ×
    percent, i.e. r ≤ ⌊allowance × percent / 100⌋ (r is whole), or r ≤ hours."""
    lead_us = _microseconds(due - started) * percent // 100
    if hours:
        lead_us = max(lead_us, hours * _HOUR_US)
    return due - timedelta(microseconds=lead_us)


def light_at(now: datetime, yellow_at: datetime, due: datetime) -> Light:
    """The light from the stored instants (the same answer as ``light_for``)."""
    if now > due:
        return Light.RED
    return Light.YELLOW if now >= yellow_at else Light.GREEN


def _open(order: WorkOrder) -> bool:
    return order.due_at is not None and Status(order.status) in UNIT_WORKING


def set_light_instant(session: Session, order: WorkOrder) -> None:
    """Rewrite ``order.yellow_at`` after its projection changed (the desk calls this for
    every event), with the stored rule; none stored yet: left empty (readers then use the
    CASE). The rule row is read with a share lock so that a recompute under a new rule
    (which locks it for update) cannot interleave with this write."""
    rule = session.execute(select(LightRuleRow).where(LightRuleRow.id == RULE_ROW_ID)
                           .with_for_update(read=True)).scalar_one_or_none()
    if rule is None or not _open(order) or order.due_at is None:
        order.yellow_at = None
        return
    started = order.handling_started_at or order.received_at
    order.yellow_at = yellow_instant(rule.yellow_remaining_percent,
                                     rule.yellow_remaining_hours, started, order.due_at)


def instants_current(session: Session, preset: Preset) -> bool:
    """Whether the stored yellow instants were computed with ``preset``'s light rule."""
    stored = session.scalar(select(LightRuleRow.fingerprint)
                            .where(LightRuleRow.id == RULE_ROW_ID))
    return stored == rule_fingerprint(preset.lights)


def refresh_light_instants(session: Session, preset: Preset, now: datetime,
                           *, force: bool = False) -> int | None:
    """Recompute every open order's yellow instant under ``preset``'s light rule when the
    stored rule differs (or ``force``); returns how many orders were recomputed, None when
    the stored instants were already the preset's. The caller commits. Called at start-up
    (stack/core.py) and by whoever changes the preset's light rule at run time."""
    rule, fingerprint = preset.lights, rule_fingerprint(preset.lights)
    row = session.execute(select(LightRuleRow).where(LightRuleRow.id == RULE_ROW_ID)
                          .with_for_update()).scalar_one_or_none()
    if row is not None and row.fingerprint == fingerprint and not force:
        return None
    if row is None:
        row = LightRuleRow(id=RULE_ROW_ID)
        session.add(row)
    row.fingerprint, row.computed_at = fingerprint, now
    row.yellow_remaining_percent = rule.yellow_remaining_percent
    row.yellow_remaining_hours = rule.yellow_remaining_hours
    session.flush()
    working = _working()
    # Orders no unit works on any more keep no instant (they are not counted).
    session.execute(update(WorkOrder)
                    .where(WorkOrder.yellow_at.is_not(None),
                           or_(WorkOrder.status.not_in(working), WorkOrder.due_at.is_(None)))
                    .values(yellow_at=None).execution_options(synchronize_session=False))
    open_rows = session.execute(
        select(WorkOrder.id, WorkOrder.received_at, WorkOrder.handling_started_at,
               WorkOrder.due_at)
        .where(WorkOrder.status.in_(working), WorkOrder.due_at.is_not(None))).all()
    batch: list[dict[str, Any]] = []
    for oid, received, started, due in open_rows:
        if due is None:  # excluded by the query; keeps the type checker honest
            continue
        batch.append({"id": oid, "yellow_at": yellow_instant(
            rule.yellow_remaining_percent, rule.yellow_remaining_hours, started or received,
            due)})
        if len(batch) == _BATCH:
            _write(session, batch)
            batch = []
    _write(session, batch)
    return len(open_rows)


_BATCH = 5000


def ensure_light_instants(maker: sessionmaker[Session], preset: Preset,
                          now: datetime) -> int | None:
    """Start-up: :func:`refresh_light_instants` in its own transaction. Two cores starting
    at once may both insert the rule row; the loser retries once and then finds the
    winner's rule (the same preset: nothing to do)."""
    for attempt in (1, 2):
        try:
            with maker.begin() as session:
                done = refresh_light_instants(session, preset, now)
        except IntegrityError:
            if attempt == 2:
                raise
            continue
        if done is not None:
            log.info("light rule changed (%s): yellow instants of %d open orders recomputed",
                     rule_fingerprint(preset.lights), done)
        return done
    return None  # pragma: no cover - the loop returns or raises


def _write(session: Session, batch: list[dict[str, Any]]) -> None:
    if batch:  # ORM bulk UPDATE by primary key (one executemany)
        session.execute(update(WorkOrder).execution_options(synchronize_session=False),
                        batch)


def _computed_light(preset: Preset, now: datetime) -> ColumnElement[str]:
    started = func.coalesce(WorkOrder.handling_started_at, WorkOrder.received_at)
    return light_sql(preset, now, started, WorkOrder.due_at)


def _stored_light(preset: Preset, now: datetime) -> ColumnElement[str]:
    # Two comparisons per order; an open order the projection never wrote (a row inserted
    # by other means) has no instant and gets the per-row rule instead.
    return case((WorkOrder.due_at < now, Light.RED.value),
                (WorkOrder.yellow_at.is_(None), _computed_light(preset, now)),
                (WorkOrder.yellow_at <= now, Light.YELLOW.value), else_=Light.GREEN.value)


def light_column(session: Session, preset: Preset, now: datetime) -> ColumnElement[str]:
    """Each open order's light as a SQL expression: from the stored instants when they are
    ``preset``'s, else computed per row (:func:`light_sql`). Use with :func:`open_orders`."""
    if instants_current(session, preset):
        return _stored_light(preset, now)
    return _computed_light(preset, now)


def open_orders() -> list[ColumnElement[bool]]:
    """The WHERE of "orders a unit works on against a deadline" (the ones with a light):
    the predicate of the partial index ``ix_work_orders_open_lights``."""
    return [WorkOrder.status.in_(_working()), WorkOrder.due_at.is_not(None)]


def light_is(session: Session, preset: Preset, now: datetime,
             light: Light) -> list[ColumnElement[bool]]:
    """The WHERE of "open and showing ``light`` at ``now``"."""
    if light is Light.RED:   # the same for every rule: past due
        return [*open_orders(), WorkOrder.due_at < now]
    return [*open_orders(), light_column(session, preset, now) == light.value]


def open_order_lights(session: Session, preset: Preset, now: datetime,
                      unit: str | None = None) -> list[tuple[int, str | None, Light]]:
    """(order id, lead unit, light) of every order a unit works on against its deadline,
    in id order, the light computed by the database."""
    stmt = (select(WorkOrder.id, WorkOrder.lead_unit, light_column(session, preset, now))
            .where(*open_orders()).order_by(WorkOrder.id))
    if unit is not None:
        stmt = stmt.where(WorkOrder.lead_unit == unit)
    return [(oid, lead, Light(light)) for oid, lead, light in session.execute(stmt)]


def light_counts(session: Session, preset: Preset, now: datetime,
                 unit: str | None = None) -> dict[str | None, dict[Light, int]]:
    """Per lead unit, how many open orders show each light (one GROUP BY). On stored
    instants PostgreSQL reads the partial index ``ix_work_orders_open_lights`` alone (an
    index-only scan of the open orders) and compares two instants per order."""
    return _counts(session, light_column(session, preset, now), unit)


def _computed_counts(session: Session, preset: Preset, now: datetime,
                     unit: str | None) -> dict[str | None, dict[Light, int]]:
    """The same counts with the rule computed per row (the baseline the bench compares)."""
    return _counts(session, _computed_light(preset, now), unit)


def _counts(session: Session, light_expr: ColumnElement[str],
            unit: str | None) -> dict[str | None, dict[Light, int]]:
    light = light_expr.label("light")
    stmt = (select(WorkOrder.lead_unit, light, func.count())
            .where(*open_orders()).group_by(WorkOrder.lead_unit, light))
    if unit is not None:
        stmt = stmt.where(WorkOrder.lead_unit == unit)
    out: dict[str | None, dict[Light, int]] = {}
    for lead, value, count in session.execute(stmt):
        out.setdefault(lead, {})[Light(value)] = int(count)
    return out
