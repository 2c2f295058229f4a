"""HTTP API of metrics (考核): per-unit rates and score for a week or a month, as JSON,
CSV or PNG, and hot topics. A unit user sees only its own row."""

from __future__ import annotations

import asyncio
from datetime import date, datetime, timedelta, tzinfo

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.orm import Session

from hotline_core.access import Role
from hotline_core.clock import start_of_day
from hotline_core.workorders import deductions
from hotline_core.workorders.deductions import DeductionError, UnitDeduction
from hotline_core.workorders.metrics import Rate
from hotline_core.workorders.model import Unit
from hotline_core.workorders.presets import DeductionKind, Preset
from hotline_core.workorders.reports import (
    UnitReport,
    hot_topics,
    reports_csv,
    reports_png,
    unit_reports,
)
from hotline_core.workorders.rising import ALPHA, MIN_COUNT, rising_issues
from web.access import roles
from web.api import Routes, read_body, read_query, reply
from web.db import in_transaction, reading
from web.errors import json_error
from web.keys import DESK_MISSING, WORKORDERS, need
from web.metrics.schemas import (
    DeductionBody,
    DeductionList,
    DeductionOut,
    HotOut,
    HotQuery,
    PeriodQuery,
    RateOut,
    RisingList,
    RisingOut,
    RisingQuery,
    ScoreOut,
    TopicOut,
    UnitRowOut,
    UnitsCsv,
    UnitsOut,
    UnitsPng,
    WithdrawBody,
)
from web.requests import ascii_id, principal

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


def svc_zone(request: web.Request) -> tzinfo:
    return need(request, WORKORDERS, DESK_MISSING).desk.zone


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
    local = start.astimezone(svc_zone(request))
    title = (f"12345 热线 {local:%Y年%m月} 考核" if kind == "month"
             else f"12345 热线 {local:%Y-%m-%d} 起一周考核")
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


# ---- deductions a supervisor enters (人工减分), audited --------------------------------------
KIND_LABELS = {DeductionKind.SHIRKING: "推诿不办",
               DeductionKind.FIRST_RESPONSIBILITY_BREACH: "不遵守首接负责制",
               DeductionKind.DOUBLE_FEEDBACK_MISSING: "不落实双反馈制"}


def _deduction(d: UnitDeduction, names: dict[str, str], preset: Preset,
               zone: tzinfo) -> DeductionOut:
    kind = DeductionKind(d.kind)

    def when(v: datetime | None) -> str | None:
        return v.astimezone(zone).isoformat() if v is not None else None

    return DeductionOut(
        id=d.id, unit=d.unit_code, unit_name=names.get(d.unit_code, d.unit_code),
        kind=d.kind, kind_label=KIND_LABELS.get(kind, d.kind),
        points=preset.metrics.deductions.get(kind, 0.0),
        occurred_at=when(d.occurred_at) or "", order_id=d.order_id, reason=d.reason,
        entered_by=d.entered_by, entered_at=when(d.entered_at) or "",
        withdrawn_at=when(d.withdrawn_at), withdrawn_by=d.withdrawn_by,
        withdraw_reason=d.withdraw_reason)


def _refused(exc: DeductionError) -> web.HTTPException:
    # The body names the day (occurred_on); the domain checks the instant made of it.
    if exc.field == "occurred_at":
        return json_error(exc.status, str(exc).replace("occurred_at", "occurred_on", 1),
                          field="occurred_on")
    return json_error(exc.status, str(exc), field=exc.field)


@routes.get("/api/metrics/deductions", query=PeriodQuery, response=DeductionList,
            access=roles(Role.SUPERVISOR, Role.UNIT))
async def list_deductions(request: web.Request) -> web.Response:
    """Deductions entered in a period, withdrawn ones too (audit); a unit sees its own."""
    svc = need(request, WORKORDERS, DESK_MISSING)
    who = principal(request, svc.access)
    q = read_query(request, PeriodQuery)
    first, after = _bounds(q)
    zone = svc.desk.zone
    start, end = start_of_day(first, zone), start_of_day(after, zone)
    unit = who.unit if who.role is Role.UNIT else None

    def work(session: Session) -> DeductionList:
        names = dict(session.execute(select(Unit.code, Unit.name)).all())
        return DeductionList(start=start.isoformat(), end=end.isoformat(), deductions=[
            _deduction(d, names, svc.desk.preset, zone)
            for d in deductions.listed(session, start, end, unit)])

    return reply(await reading(request, work))


@routes.post("/api/metrics/deductions", body=DeductionBody, response=DeductionOut,
             status=201, access=roles(Role.SUPERVISOR))
async def enter_deduction(request: web.Request) -> web.Response:
    """Enter a deduction against a unit with a reason (推诿, 首接负责, 双反馈)."""
    svc = need(request, WORKORDERS, DESK_MISSING)
    who = principal(request, svc.access)
    body = await read_body(request, DeductionBody)
    zone = svc.desk.zone
    new = deductions.NewDeduction(
        unit=body.unit, kind=body.kind, reason=body.reason, order_id=body.order_id,
        occurred_at=start_of_day(date.fromisoformat(body.occurred_on), zone))

    def work(session: Session) -> DeductionOut:
        try:
            row = deductions.enter(session, svc.desk.preset, new, who.name, svc.desk.now())
        except DeductionError as exc:
            raise _refused(exc) from None
        names = dict(session.execute(select(Unit.code, Unit.name)).all())
        return _deduction(row, names, svc.desk.preset, zone)

    return reply(await in_transaction(request, work), status=201)


@routes.post("/api/metrics/deductions/{deduction_id}/withdraw", body=WithdrawBody,
             response=DeductionOut, access=roles(Role.SUPERVISOR))
async def withdraw_deduction(request: web.Request) -> web.Response:
    """Withdraw a deduction with a reason (撤销); it stays in the audit, counting no more."""
    svc = need(request, WORKORDERS, DESK_MISSING)
    who = principal(request, svc.access)
    deduction_id = ascii_id(request.match_info["deduction_id"])
    if deduction_id is None:
        raise json_error(404, "no such deduction: the id is a positive whole number",
                         field="deduction_id")
    body = await read_body(request, WithdrawBody)

    def work(session: Session) -> DeductionOut:
        try:
            row = deductions.withdraw(session, deduction_id, body.reason, who.name,
                                      svc.desk.now())
        except DeductionError as exc:
            raise _refused(exc) from None
        names = dict(session.execute(select(Unit.code, Unit.name)).all())
        return _deduction(row, names, svc.desk.preset, svc.desk.zone)

    return reply(await in_transaction(request, work))


@routes.get("/api/metrics/rising", query=RisingQuery, response=RisingList,
            access=roles(Role.SUPERVISOR, Role.DISPATCHER))
async def rising(request: web.Request) -> web.Response:
    """Rising matters and places of a week against the week before (未诉先办预警)."""
    svc = need(request, WORKORDERS, DESK_MISSING)
    q = read_query(request, RisingQuery)
    first = date.fromisoformat(q.start)
    if first.weekday() != 0:
        raise json_error(422, "start: a week starts on a Monday", field="start")
    start = start_of_day(first, svc.desk.zone)
    found = await reading(request, lambda s: rising_issues(s, start))
    return reply(RisingList(
        start=start.isoformat(), end=(start + timedelta(days=7)).isoformat(),
        alpha=float(ALPHA), min_count=MIN_COUNT, rising=[RisingOut(
            kind=r.kind, name=r.name, this_week=r.this_week, last_week=r.last_week,
            p_value=r.p_value) for r in found]))


register = routes.register
