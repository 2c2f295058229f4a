"""Metrics on a generated month of orders equal a plain-Python recomputation.

The month (June 2026) is generated from a seeded plan: who leads, how long sign-off
took, whether and how the unit replied, what the citizen said. The expected rates and
scores are recomputed here from that plan and the gaotai rules as the seed states them
(sign-off within 1 hour; consult/help 1, suggestion 3, complaint/report 7 working days;
score = 30 % response + 35 % completion + 35 % satisfaction, 1 point per late sign-off,
late handling and redo), with working days counted on the official calendar.
"""

from __future__ import annotations

import csv
import io
import random
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from hotline_core.access import Principal, Role
from hotline_core.workorders import desk
from hotline_core.workorders.calendar import ChineseWorkingCalendar
from hotline_core.workorders.desk import DeskSettings, Intake
from hotline_core.workorders.presets import Category, ReplyPart, SatisfactionLevel
from hotline_core.workorders.replies import ReplyDraft
from tests.workorders.conftest import Api, Clock

UNITS = ["dept-housing", "dept-market", "dept-hrss", "dept-transport", "town-chengguan"]
WORKING_DAYS_LIMIT = {"consult": 1, "help": 1, "suggestion": 3, "complaint": 7, "report": 7}
SATISFIED = {"very_satisfied", "satisfied", "basically_satisfied"}
AS_OF = datetime(2026, 7, 1)  # end of the month: the report is judged then

OPERATOR = Principal("op", Role.OPERATOR)
DISPATCHER = Principal("disp", Role.DISPATCHER)
CALLBACK = Principal("cb", Role.CALLBACK)


@dataclass
class Plan:
    received: datetime
    category: str
    returned_by: str | None  # unit that first got it and returned it in time
    lead: str
    sign_after: timedelta | None  # after the (final) dispatch; None = never signed
    reply_after: timedelta | None  # after sign-off; None = never replied
    level: str | None  # evaluation; None = not yet called back


def make_plan(cal: ChineseWorkingCalendar, rng: random.Random) -> list[Plan]:
    days = [date(2026, 6, d) for d in range(1, 31) if cal.is_working_day(date(2026, 6, d))]
    plans = []
    for _ in range(160):
        day = rng.choice(days)
        received = datetime(day.year, day.month, day.day, rng.randint(9, 16), rng.choice((0, 30)))
        lead = rng.choice(UNITS)
        returned_by = rng.choice([u for u in UNITS if u != lead]) if rng.random() < 0.1 else None
        sign_after = rng.choice([timedelta(minutes=20), timedelta(minutes=55),
                                 timedelta(minutes=95), None])
        reply_after = rng.choice([timedelta(hours=1), timedelta(hours=3), None]) \
            if sign_after is not None else None
        level = rng.choice([None, "very_satisfied", "satisfied", "basically_satisfied",
                            "unsatisfied", "very_unsatisfied"]) if reply_after else None
        plans.append(Plan(received, rng.choice(list(WORKING_DAYS_LIMIT)), returned_by, lead,
                          sign_after, reply_after, level))
    return plans


def add_working_days(cal: ChineseWorkingCalendar, start: datetime, n: int) -> datetime:
    """Same clock time on the n-th following working day (received on a working day)."""
    d, left = start.date(), n
    while left:
        d += timedelta(days=1)
        left -= cal.is_working_day(d)
    return datetime.combine(d, start.time())


def generate(maker: sessionmaker[Session], settings: DeskSettings, clock: Clock,
             plans: list[Plan]) -> None:
    reply = ReplyDraft({ReplyPart.RESPONSE: "已到现场核实。", ReplyPart.RESULT: "问题已处理。"})
    for i, p in enumerate(plans):
        with maker() as s, s.begin():
            clock.set(p.received)
            oid = desk.create_order(s, settings, OPERATOR, Intake(
                channel="web", category=Category(p.category), description=f"诉求{i}",
                caller_number=f"1390000{i:04d}", matter=f"事项{i}")).order.id
            clock.advance(minutes=5)
            if p.returned_by:
                first = Principal("u", Role.UNIT, p.returned_by)
                desk.dispatch(s, settings, DISPATCHER, oid, lead=p.returned_by, reason="初判")
                clock.advance(minutes=10)
                desk.sign_off(s, settings, first, oid)
                clock.advance(minutes=30)
                desk.return_order(s, settings, first, oid, "非本单位职责")
                clock.advance(minutes=5)
            desk.dispatch(s, settings, DISPATCHER, oid, lead=p.lead, reason="按职责")
            if p.sign_after is None:
                continue
            unit = Principal("u", Role.UNIT, p.lead)
            clock.advance(seconds=p.sign_after.total_seconds())
            desk.sign_off(s, settings, unit, oid)
            if p.reply_after is None:
                continue
            clock.advance(seconds=p.reply_after.total_seconds())
            assert desk.reply(s, settings, unit, oid, reply).accepted
            if p.level is not None:
                clock.advance(hours=2)
                desk.evaluate(s, settings, CALLBACK, oid, SatisfactionLevel(p.level))


def expected(cal: ChineseWorkingCalendar, plans: list[Plan]) -> dict[str, dict[str, object]]:
    per: dict[str, dict[str, list[bool]]] = defaultdict(lambda: defaultdict(list))
    late: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for p in plans:
        u = per[p.lead]
        if p.returned_by:
            per[p.returned_by]  # the returning unit has a row, without this order
        dispatched = p.received + timedelta(minutes=5) + (
            timedelta(minutes=50) if p.returned_by else timedelta(0))
        due = add_working_days(cal, p.received, WORKING_DAYS_LIMIT[p.category])
        # Response: signed within 1 hour of the dispatch; never signed = late once it passed.
        if p.sign_after is not None:
            u["response"].append(p.sign_after <= timedelta(hours=1))
        elif AS_OF > dispatched + timedelta(hours=1):
            u["response"].append(False)
        if u["response"] and u["response"][-1] is False:
            late[p.lead]["late_sign_off"] += 1
        closed = p.level in SATISFIED
        replied_at = (dispatched + p.sign_after + p.reply_after
                      if p.sign_after is not None and p.reply_after is not None else None)
        if closed:
            u["completion"].append(True)
        elif AS_OF > due:
            u["completion"].append(False)
        if (replied_at is not None and replied_at > due) or (replied_at is None and AS_OF > due):
            late[p.lead]["late_handling"] += 1
        if p.level is not None:
            u["satisfaction"].append(p.level in SATISFIED)
    out: dict[str, dict[str, object]] = {}
    for unit, rates in per.items():
        def frac(xs: list[bool]) -> tuple[int, int]:
            return sum(xs), len(xs)

        def val(xs: list[bool]) -> float:
            return sum(xs) / len(xs) if xs else 1.0

        base = (30 * val(rates["response"]) + 35 * val(rates["completion"])
                + 35 * val(rates["satisfaction"]))
        deducted = float(sum(late[unit].values()))
        out[unit] = {"response": frac(rates["response"]),
                     "completion": frac(rates["completion"]),
                     "satisfaction": frac(rates["satisfaction"]),
                     "score": max(0.0, base - deducted)}
    return out


async def test_month_metrics_match_an_independent_recomputation(
    api: Api, seeded: sessionmaker[Session], settings: DeskSettings, clock: Clock,
    calendar: ChineseWorkingCalendar,
) -> None:
    plans = make_plan(calendar, random.Random(20261122))
    generate(seeded, settings, clock, plans)
    want = expected(calendar, plans)
    clock.set(datetime(2026, 7, 15, 12, 0))  # the report is asked for later: judged at 07-01
    status, got = await api.get("/api/metrics/units?period=month&start=2026-06-01",
                                "supervisor")
    assert status == 200
    rows = {r["unit"]: r for r in got["units"]}
    assert set(rows) == set(want)
    for unit, exp in want.items():
        row = rows[unit]
        for rate in ("response", "completion", "satisfaction"):
            assert (row[rate]["numerator"], row[rate]["denominator"]) == exp[rate], (unit, rate)
        assert abs(row["score"]["total"] - float(exp["score"])) < 1e-9, unit  # type: ignore[arg-type]
    assert sum(r["orders"] for r in rows.values()) == len(plans)

    status, text = await api.get("/api/metrics/units.csv?period=month&start=2026-06-01",
                                 "supervisor")
    assert status == 200
    table = list(csv.DictReader(io.StringIO(text.decode("utf-8"))))
    assert {r["unit"]: float(r["score"]) for r in table} == {
        u: round(float(e["score"]), 2) for u, e in want.items()}  # type: ignore[arg-type]
    status, png = await api.get("/api/metrics/units.png?period=month&start=2026-06-01",
                                "supervisor")
    assert status == 200 and png[:8] == b"\x89PNG\r\n\x1a\n"

    # A unit sees only its own row.
    _, mine = await api.get("/api/metrics/units?period=month&start=2026-06-01", "dept-hrss")
    assert [r["unit"] for r in mine["units"]] == ["dept-hrss"]
    status, err = await api.get("/api/metrics/units?period=month&start=2026-06-03",
                                "supervisor")
    assert status == 422 and err["field"] == "start"
