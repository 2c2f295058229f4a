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

from datetime import date, timedelta

from aiohttp import web
from sqlalchemy.orm import Session

from hotline_core.access import Role
from hotline_core.call_intervals import CONNECTION_TARGET, Report, day_bounds, report, stored_rows
from hotline_core.call_queries import month_by_day
from web.api import Routes, read_query, reply
from web.call_figures.schemas import (
    DayOut,
    DayQuery,
    DayTotalsOut,
    IntervalRowOut,
    IntervalsOut,
    MonthOut,
    MonthQuery,
    ReportOut,
    TotalsOut,
)
from web.db import reading
from web.errors import json_error
from web.keys import DESK_MISSING, WORKORDERS, WorkOrderServices, need
from web.requests import principal

routes = Routes(tag="call figures")


def _supervisor(request: web.Request) -> WorkOrderServices:
    svc = need(request, WORKORDERS, DESK_MISSING)
    who = principal(request, svc.access)
    if who.role is not Role.SUPERVISOR:
        raise json_error(403, f"{who.role.value} may not read call-centre figures; "
                         "allowed: supervisor")
    return svc


def _report(r: Report) -> ReportOut:
    return ReportOut(start=r.start.isoformat(), end=r.end.isoformat(),
                     lines={line: TotalsOut.model_validate(t.as_dict())
                            for line, t in sorted(r.lines.items())},
                     total=TotalsOut.model_validate(r.total.as_dict()))


def _today(svc: WorkOrderServices) -> date:
    return svc.desk.now().astimezone(svc.desk.zone).date()


@routes.get("/api/call-figures/day", query=DayQuery, response=DayOut)
async def day_figures(request: web.Request) -> web.Response:
    """A day's call figures per line and the day before (date=YYYY-MM-DD, line)."""
    svc = _supervisor(request)
    q = read_query(request, DayQuery)
    zone = svc.desk.zone
    day = date.fromisoformat(q.date) if q.date else _today(svc)

    def work(session: Session) -> DayOut:
        this = report(session, *day_bounds(day, zone), line=q.line)
        before = report(session, *day_bounds(day - timedelta(days=1), zone), line=q.line)
        return DayOut(date=day.isoformat(), day=_report(this), previous_day=_report(before))

    return reply(await reading(request, work))


@routes.get("/api/call-figures/month", query=MonthQuery, response=MonthOut)
async def month_figures(request: web.Request) -> web.Response:
    """A month's call figures and 24-hour connection rate (month=YYYY-MM, line)."""
    svc = _supervisor(request)
    q = read_query(request, MonthQuery)
    today = _today(svc)
    year, month = (int(q.month[:4]), int(q.month[5:])) if q.month else (today.year,
                                                                         today.month)

    def work(session: Session) -> MonthOut:
        whole, days = month_by_day(session, year, month, svc.desk.zone, q.line)
        view = _report(whole)
        return MonthOut(month=f"{year:04d}-{month:02d}", connection_target=CONNECTION_TARGET,
                        start=view.start, end=view.end, lines=view.lines, total=view.total,
                        days=[DayTotalsOut.model_validate({"date": d.isoformat(),
                                                           **t.as_dict()}) for d, t in days])

    return reply(await reading(request, work))


@routes.get("/api/call-figures/intervals", query=DayQuery, response=IntervalsOut)
async def interval_rows(request: web.Request) -> web.Response:
    """A day's stored 30-minute rows per line (date=YYYY-MM-DD, line)."""
    svc = _supervisor(request)
    q = read_query(request, DayQuery)
    zone = svc.desk.zone
    day = date.fromisoformat(q.date) if q.date else _today(svc)

    def work(session: Session) -> IntervalsOut:
        rows = stored_rows(session, *day_bounds(day, zone), q.line)
        return IntervalsOut(date=day.isoformat(), minutes=30, rows=[IntervalRowOut(
            line=r.line, starts_at=r.starts_at.astimezone(zone).isoformat(),
            offered=r.offered, answered=r.answered, abandoned=r.abandoned,
            answered_within_15s=r.answered_within_15s, talk_seconds=r.talk_seconds,
            wait_seconds=r.wait_seconds) for r in rows])

    return reply(await reading(request, work))


register = routes.register
