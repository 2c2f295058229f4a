"""HTTP API of metrics (考核): per-unit rates and score for a week or a month, as JSON,
CSV or PNG, and hot topics. A unit user sees only its own row."""

from __future__ import annotations

import asyncio
from datetime import date, datetime, timedelta

from aiohttp import web
from sqlalchemy.orm import Session

from hotline_core.access import Role
from hotline_core.clock import start_of_day
from hotline_core.workorders.metrics import Rate
from hotline_core.workorders.reports import (
    UnitReport,
    hot_topics,
    reports_csv,
    reports_png,
    unit_reports,
)
from web.api import Routes, read_query, reply
from web.db import in_transaction
from web.errors import json_error
from web.keys import DESK_MISSING, WORKORDERS, need
from web.metrics.schemas import (
    HotOut,
    HotQuery,
    PeriodQuery,
    RateOut,
    ScoreOut,
    TopicOut,
    UnitRowOut,
    UnitsCsv,
    UnitsOut,
    UnitsPng,
)
from web.requests import principal

routes = Routes(tag="metrics")


def _bounds(q: PeriodQuery) -> tuple[date, date]:
    """The period's first day and the day after its last."""
    start = date.fromisoformat(q.start)
    if q.period == "week":
        if start.weekday() != 0:
            raise json_error(422, "start: a week starts on a Monday", field="start")
        return start, start + timedelta(days=7)
    if start.day != 1:
        raise json_error(422, "start: a month starts on its 1st day", field="start")
    return start, (start.replace(day=28) + timedelta(days=4)).replace(day=1)


def _rate(r: Rate) -> RateOut:
    return RateOut(numerator=r.numerator, denominator=r.denominator, value=r.value)


def _row(r: UnitReport) -> UnitRowOut:
    return UnitRowOut(
        unit=r.unit, name=r.name, orders=r.orders, response=_rate(r.rates.response),
        completion=_rate(r.rates.completion), satisfaction=_rate(r.rates.satisfaction),
        deductions={k.value: v for k, v in r.deductions.items()},
        score=ScoreOut(base=r.score.base, deducted=r.score.deducted, total=r.score.total))


async def _reports(request: web.Request) -> tuple[str, datetime, datetime, list[UnitReport]]:
    svc = need(request, WORKORDERS, DESK_MISSING)
    who = principal(request, svc.access)
    q = read_query(request, PeriodQuery)
    first, after = _bounds(q)
    # A period is made of calendar days of the hotline's zone, whatever the host's zone.
    start, end = start_of_day(first, svc.desk.zone), start_of_day(after, svc.desk.zone)
    as_of = min(end, svc.desk.now())

    def work(session: Session) -> list[UnitReport]:
        rows = unit_reports(session, svc.desk.preset, start, end, as_of)
        return [r for r in rows if who.role is not Role.UNIT or r.unit == who.unit]

    return q.period, start, end, await in_transaction(request, work)


@routes.get("/api/metrics/units", query=PeriodQuery, response=UnitsOut)
async def units_json(request: web.Request) -> web.Response:
    """Rates and score per unit (period=week|month, start)."""
    kind, start, end, rows = await _reports(request)
    return reply(UnitsOut(period=kind, start=start.isoformat(), end=end.isoformat(),
                          units=[_row(r) for r in rows]))


@routes.get("/api/metrics/units.csv", query=PeriodQuery, response=UnitsCsv,
            media_type="text/csv")
async def units_csv(request: web.Request) -> web.Response:
    """The same as CSV."""
    kind, start, _end, rows = await _reports(request)
    return web.Response(
        text=reports_csv(rows), content_type="text/csv", charset="utf-8",
        headers={"Content-Disposition":
                 f'attachment; filename="metrics-{kind}-{start.date().isoformat()}.csv"'})


@routes.get("/api/metrics/units.png", query=PeriodQuery, response=UnitsPng,
            media_type="image/png")
async def units_png(request: web.Request) -> web.Response:
    """The same as a PNG chart."""
    kind, start, _end, rows = await _reports(request)
    title = f"12345 {kind} report from {start.date().isoformat()}"
    # Rendering takes tens of milliseconds: keep it off the event loop.
    png = await asyncio.to_thread(reports_png, rows, title)
    return web.Response(body=png, content_type="image/png")


@routes.get("/api/metrics/hot-topics", query=HotQuery, response=HotOut)
async def hot(request: web.Request) -> web.Response:
    """Hot topics (start, days, top)."""
    svc = need(request, WORKORDERS, DESK_MISSING)
    who = principal(request, svc.access)
    if who.role is Role.UNIT:
        raise json_error(403, "hot-topic analysis is for the platform's staff")
    q = read_query(request, HotQuery)
    start = start_of_day(date.fromisoformat(q.start), svc.desk.zone)
    end = start + timedelta(days=q.days)
    topics = await in_transaction(request, lambda s: hot_topics(s, start, end, q.top))
    return reply(HotOut(start=start.isoformat(), end=end.isoformat(), topics=[
        TopicOut(matter=t.matter, count=t.count, previous=t.previous) for t in topics]))


register = routes.register
