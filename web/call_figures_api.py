"""HTTP API of call-centre figures (话务报表), for supervisors only: a day against the day
before, a month with its 24-hour connection rate, and the 30-minute rows themselves.

Read from the stored interval rows (``call_intervals``, kept by the core every five
minutes from the call records: see :mod:`hotline_core.call_intervals`). Days and months
are calendar days of the hotline's zone (``[workorders] time_zone``).

- ``GET /api/call-figures/day?date=YYYY-MM-DD`` (default today): ``day`` and
  ``previous_day``, each per line and in total.
- ``GET /api/call-figures/month?month=YYYY-MM`` (default this month): the month per line
  and in total, with ``meets_connection_target`` (≥ 95 %), and each day's total.
- ``GET /api/call-figures/intervals?date=YYYY-MM-DD[&line=N]``: the day's rows.
"""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from typing import Any

from aiohttp import web
from sqlalchemy.orm import Session, sessionmaker

from hotline_core.call_intervals import (
    CONNECTION_TARGET,
    Report,
    Totals,
    day_bounds,
    month_bounds,
    report,
    stored_rows,
    summed,
)
from hotline_core.access import Role
from web import keys
from web.errors import json_error
from web.workorders_api import services
from web.workorders_requests import principal

_MAX_LINE = 20  # the call_intervals.line column


def _supervisor(request: web.Request) -> Any:
    svc = services(request)
    who = principal(request, svc.access)
    if who.role is not Role.SUPERVISOR:
        raise json_error(403, f"{who.role.value} may not read call-centre figures; "
                         "allowed: supervisor")
    return svc


def _day(request: web.Request, today: date) -> date:
    raw = request.query.get("date")
    if raw is None:
        return today
    try:
        if len(raw) != 10:
            raise ValueError
        day = date.fromisoformat(raw)
    except ValueError:
        raise json_error(422, f"date: {raw[:40]!r} is not a date YYYY-MM-DD",
                         field="date") from None
    # The day before and after must exist too.
    if day.year >= 9999 or day.year <= 1:
        raise json_error(422, f"date: {day.isoformat()} is out of range", field="date")
    return day


def _month(request: web.Request, today: date) -> tuple[int, int]:
    raw = request.query.get("month")
    if raw is None:
        return today.year, today.month
    try:
        if len(raw) != 7 or raw[4] != "-" or not (raw[:4] + raw[5:]).isdigit():
            raise ValueError
        year, month = int(raw[:4]), int(raw[5:])
        date(year, month, 1)
        if year >= 9999:
            raise ValueError
    except ValueError:
        raise json_error(422, f"month: {raw[:40]!r} is not a month YYYY-MM",
                         field="month") from None
    return year, month


def _line(request: web.Request) -> str | None:
    raw = request.query.get("line")
    if raw is None:
        return None
    if not raw or len(raw) > _MAX_LINE or not raw.isascii() or not raw.isdigit():
        raise json_error(422, f"line: {raw[:40]!r} is not a line number (digits, at most "
                         f"{_MAX_LINE})", field="line")
    return raw


def _report_view(r: Report) -> dict[str, Any]:
    return {"start": r.start.isoformat(), "end": r.end.isoformat(),
            "lines": {line: t.as_dict() for line, t in sorted(r.lines.items())},
            "total": r.total.as_dict()}


async def _read(request: web.Request, work: Any) -> Any:
    maker: sessionmaker[Session] = request.app[keys.SESSIONMAKER]

    def run() -> Any:
        with maker() as session:
            return work(session)

    return await asyncio.to_thread(run)


async def day_figures(request: web.Request) -> web.Response:
    """A day's call figures per line and the day before (date=YYYY-MM-DD, line)."""
    svc = _supervisor(request)
    zone = svc.desk.zone
    day = _day(request, svc.desk.now().astimezone(zone).date())
    line = _line(request)

    def work(session: Session) -> dict[str, Any]:
        this = report(session, *day_bounds(day, zone), line=line)
        before = report(session, *day_bounds(day - timedelta(days=1), zone), line=line)
        return {"date": day.isoformat(), "day": _report_view(this),
                "previous_day": _report_view(before)}

    return web.json_response(await _read(request, work))


async def month_figures(request: web.Request) -> web.Response:
    """A month's call figures and 24-hour connection rate (month=YYYY-MM, line)."""
    svc = _supervisor(request)
    zone = svc.desk.zone
    year, month = _month(request, svc.desk.now().astimezone(zone).date())
    line = _line(request)

    def work(session: Session) -> dict[str, Any]:
        start, end = month_bounds(year, month, zone)
        rows = stored_rows(session, start, end, line)   # read once, summed per day below
        whole = summed(rows, start, end)
        by_day: dict[date, Totals] = {}
        for row in rows:
            by_day.setdefault(row.starts_at.astimezone(zone).date(), Totals()).add(row)
        days: list[dict[str, Any]] = []
        day, last = start.date(), end.astimezone(zone).date()
        while day < last:
            days.append({"date": day.isoformat(), **by_day.get(day, Totals()).as_dict()})
            day += timedelta(days=1)
        return {"month": f"{year:04d}-{month:02d}", "connection_target": CONNECTION_TARGET,
                **_report_view(whole), "days": days}

    return web.json_response(await _read(request, work))


async def interval_rows(request: web.Request) -> web.Response:
    """A day's stored 30-minute rows per line (date=YYYY-MM-DD, line)."""
    svc = _supervisor(request)
    zone = svc.desk.zone
    day = _day(request, svc.desk.now().astimezone(zone).date())
    line = _line(request)

    def work(session: Session) -> dict[str, Any]:
        rows = stored_rows(session, *day_bounds(day, zone), line)
        return {"date": day.isoformat(), "minutes": 30, "rows": [
            {"line": r.line, "starts_at": r.starts_at.astimezone(zone).isoformat(),
             "offered": r.offered, "answered": r.answered, "abandoned": r.abandoned,
             "answered_within_15s": r.answered_within_15s,
             "talk_seconds": r.talk_seconds, "wait_seconds": r.wait_seconds}
            for r in rows]}

    return web.json_response(await _read(request, work))


def register(app: web.Application) -> None:
    app.router.add_get("/api/call-figures/day", day_figures)
    app.router.add_get("/api/call-figures/month", month_figures)
    app.router.add_get("/api/call-figures/intervals", interval_rows)
