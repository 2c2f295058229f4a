"""HTTP API of metrics (考核): per-unit rates and score for a week or a month, as JSON,
CSV or PNG, and hot topics. A unit user sees only its own row."""

from __future__ import annotations

import asyncio
from datetime import date, datetime, timedelta
from typing import Any

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
from web.errors import json_error
from web.workorders_api import in_transaction, services
from web.workorders_requests import principal, query_int


def period(request: web.Request) -> tuple[str, datetime, datetime]:
    """``period=week|month`` and ``start=YYYY-MM-DD`` (a Monday / the 1st)."""
    kind = request.query.get("period", "month")
    raw = request.query.get("start", "")
    try:
        start = date.fromisoformat(raw)
    except ValueError:
        raise json_error(422, f"start: {raw!r} is not a date YYYY-MM-DD", field="start") from None
    if kind == "week":
        if start.weekday() != 0:
            raise json_error(422, "start: a week starts on a Monday", field="start")
        end = start + timedelta(days=7)
    elif kind == "month":
        if start.day != 1:
            raise json_error(422, "start: a month starts on its 1st day", field="start")
        end = (start.replace(day=28) + timedelta(days=4)).replace(day=1)
    else:
        raise json_error(422, f"period: {kind!r} is not one of ['week', 'month']",
                         field="period")
    # A period is made of calendar days of the hotline's zone, whatever the host's zone.
    zone = services(request).desk.zone
    return kind, start_of_day(start, zone), start_of_day(end, zone)


def _rate(r: Rate) -> dict[str, Any]:
    return {"numerator": r.numerator, "denominator": r.denominator, "value": r.value}


def _view(r: UnitReport) -> dict[str, Any]:
    return {
        "unit": r.unit, "name": r.name, "orders": r.orders,
        "response": _rate(r.rates.response), "completion": _rate(r.rates.completion),
        "satisfaction": _rate(r.rates.satisfaction),
        "deductions": {k.value: v for k, v in r.deductions.items()},
        "score": {"base": r.score.base, "deducted": r.score.deducted, "total": r.score.total},
    }


async def _reports(request: web.Request) -> tuple[str, datetime, datetime, list[UnitReport]]:
    svc = services(request)
    who = principal(request, svc.access)
    kind, start, end = period(request)
    as_of = min(end, svc.desk.now())

    def work(session: Session) -> list[UnitReport]:
        rows = unit_reports(session, svc.desk.preset, start, end, as_of)
        return [r for r in rows if who.role is not Role.UNIT or r.unit == who.unit]

    return kind, start, end, await in_transaction(request, work)


async def units_json(request: web.Request) -> web.Response:
    kind, start, end, rows = await _reports(request)
    return web.json_response({"period": kind, "start": start.isoformat(),
                              "end": end.isoformat(), "units": [_view(r) for r in rows]})


async def units_csv(request: web.Request) -> web.Response:
    kind, start, _end, rows = await _reports(request)
    return web.Response(
        text=reports_csv(rows), content_type="text/csv", charset="utf-8",
        headers={"Content-Disposition":
                 f'attachment; filename="metrics-{kind}-{start.date().isoformat()}.csv"'})


async def units_png(request: web.Request) -> web.Response:
    kind, start, _end, rows = await _reports(request)
    title = f"12345 {kind} report from {start.date().isoformat()}"
    # Rendering takes tens of milliseconds: keep it off the event loop.
    png = await asyncio.to_thread(reports_png, rows, title)
    return web.Response(body=png, content_type="image/png")


async def hot(request: web.Request) -> web.Response:
    svc = services(request)
    who = principal(request, svc.access)
    if who.role is Role.UNIT:
        raise json_error(403, "hot-topic analysis is for the platform's staff")
    raw = request.query.get("start", "")
    try:
        start = start_of_day(date.fromisoformat(raw), svc.desk.zone)
    except ValueError:
        raise json_error(422, f"start: {raw!r} is not a date YYYY-MM-DD", field="start") from None
    days = query_int(request, "days", 7, 1, 366)
    top = query_int(request, "top", 10, 1, 100)
    end = start + timedelta(days=days)
    topics = await in_transaction(request, lambda s: hot_topics(s, start, end, top))
    return web.json_response({"start": start.isoformat(), "end": end.isoformat(), "topics": [
        {"matter": t.matter, "count": t.count, "previous": t.previous} for t in topics]})


def register(app: web.Application) -> None:
    app.router.add_get("/api/metrics/units", units_json)
    app.router.add_get("/api/metrics/units.csv", units_csv)
    app.router.add_get("/api/metrics/units.png", units_png)
    app.router.add_get("/api/metrics/hot-topics", hot)
