"""Open311 GeoReport v2 façade (开放接口): the hotline's categories as services, its work
orders as service requests, for civic apps that speak the standard.

Service codes are the category codes (consult, help, complaint, report, suggestion,
other). Requests are public: no caller identity ever, confidential and not-accepted
orders are left out. Posting a request needs an ``api_key`` that is an operator's or
dispatcher's token; it becomes a work order from the ``api`` channel.
Errors follow GeoReport: ``[{"code": 400, "description": "..."}]``.
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta, timezone
from typing import Any

from aiohttp import web
from sqlalchemy import select

from hotline_core.presets import Category
from hotline_core.workorders import desk
from hotline_core.workorders.access import Role
from hotline_core.workorders.desk import Intake, WorkOrderError
from hotline_core.workorders.lifecycle import Status
from hotline_core.workorders.model import Unit, WorkOrder
from web import keys
from web.workorders_api import services

SERVICES = {
    Category.CONSULT: ("咨询", "政策法规、公共服务信息咨询"),
    Category.HELP: ("求助", "非紧急类求助服务"),
    Category.COMPLAINT: ("投诉", "对行政机关、公共服务的投诉"),
    Category.REPORT: ("举报", "涉及行政执法的举报"),
    Category.SUGGESTION: ("建议", "意见建议"),
    Category.OTHER: ("其他", "其他诉求"),
}
HIDDEN = (Status.NOT_ACCEPTED.value,)
CLOSED = (Status.CLOSED.value,)


def _error(status: int, description: str) -> web.HTTPException:
    cls = {400: web.HTTPBadRequest, 403: web.HTTPForbidden, 404: web.HTTPNotFound}.get(
        status, web.HTTPBadRequest)
    return cls(text=json.dumps([{"code": status, "description": description}],
                               ensure_ascii=False), content_type="application/json")


async def service_list(request: web.Request) -> web.Response:
    return web.json_response([
        {"service_code": c.value, "service_name": name, "description": text,
         "metadata": False, "type": "realtime", "keywords": c.value, "group": "12345"}
        for c, (name, text) in SERVICES.items()
    ])


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() + "+08:00" if value else None


def _request_view(o: WorkOrder, units: dict[str, str]) -> dict[str, Any]:
    return {
        "service_request_id": str(o.id),
        "status": "closed" if o.status in CLOSED else "open",
        "status_notes": o.status,
        "service_name": SERVICES[Category(o.category)][0],
        "service_code": o.category,
        "description": o.description,
        "agency_responsible": units.get(o.lead_unit or "", ""),
        "service_notice": "",
        "requested_datetime": _iso(o.received_at),
        "updated_datetime": _iso(o.closed_at or o.replied_at or o.signed_at
                                 or o.dispatched_at or o.received_at),
        "expected_datetime": _iso(o.due_at),
        "address": o.locality or o.address,
        "address_id": "", "zipcode": "", "lat": None, "long": None, "media_url": "",
    }


def _public(stmt: Any) -> Any:
    return stmt.where(WorkOrder.confidential.is_(False), WorkOrder.status.not_in(HIDDEN))


def _date(raw: str | None, name: str) -> datetime | None:
    if not raw:
        return None
    try:
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise _error(400, f"{name}: {raw!r} is not a W3C date-time") from None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(timezone(timedelta(hours=8))).replace(tzinfo=None)
    return parsed


async def request_list(request: web.Request) -> web.Response:
    q = request.query
    start, end = _date(q.get("start_date"), "start_date"), _date(q.get("end_date"), "end_date")
    codes = [c for c in q.get("service_code", "").split(",") if c]
    for c in codes:
        if c not in {s.value for s in Category}:
            raise _error(400, f"service_code: {c!r} is not a service")
    status = q.get("status", "")
    if status not in ("", "open", "closed"):
        raise _error(400, "status: must be open or closed")
    ids = [i for i in q.get("service_request_id", "").split(",") if i]
    if not all(i.isdigit() for i in ids):
        raise _error(400, "service_request_id: must be numbers")
    maker = request.app[keys.SESSIONMAKER]

    def work() -> list[dict[str, Any]]:
        stmt = _public(select(WorkOrder)).order_by(WorkOrder.id.desc()).limit(1000)
        if ids:
            stmt = stmt.where(WorkOrder.id.in_([int(i) for i in ids]))
        if codes:
            stmt = stmt.where(WorkOrder.category.in_(codes))
        if start:
            stmt = stmt.where(WorkOrder.received_at >= start)
        if end:
            stmt = stmt.where(WorkOrder.received_at < end)
        if status == "closed":
            stmt = stmt.where(WorkOrder.status.in_(CLOSED))
        elif status == "open":
            stmt = stmt.where(WorkOrder.status.not_in(CLOSED))
        with maker() as session:
            units = dict(session.execute(select(Unit.code, Unit.name)).all())
            return [_request_view(o, units) for o in session.scalars(stmt)]

    return web.json_response(await asyncio.to_thread(work))


async def request_one(request: web.Request) -> web.Response:
    raw = request.match_info["request_id"]
    if not raw.isdigit():
        raise _error(404, f"service request {raw!r} does not exist")
    maker = request.app[keys.SESSIONMAKER]

    def work() -> list[dict[str, Any]]:
        with maker() as session:
            o = session.scalars(_public(select(WorkOrder)).where(WorkOrder.id == int(raw))).first()
            if o is None:
                raise _error(404, f"service request {raw} does not exist")
            units = dict(session.execute(select(Unit.code, Unit.name)).all())
            return [_request_view(o, units)]

    return web.json_response(await asyncio.to_thread(work))


async def create_request(request: web.Request) -> web.Response:
    svc = services(request)
    form = await request.post()
    who = svc.access.principal_for(str(form.get("api_key", "")))
    if who is None or who.role not in (Role.OPERATOR, Role.DISPATCHER):
        raise _error(403, "api_key: not a key that may submit requests")
    code = str(form.get("service_code", ""))
    try:
        category = Category(code)
    except ValueError:
        raise _error(400, f"service_code: {code!r} is not a service") from None
    description = str(form.get("description", "")).strip()
    if not description:
        raise _error(400, "description: is required")
    name = " ".join(str(form.get(k, "")) for k in ("last_name", "first_name")).strip()
    intake = Intake(channel="api", category=category, description=description,
                    caller_number=str(form.get("phone", "")), caller_name=name,
                    address=str(form.get("address_string", "")))
    maker = request.app[keys.SESSIONMAKER]

    def work() -> dict[str, Any]:
        with maker() as session, session.begin():
            result = desk.create_order(session, svc.desk, who, intake)
            notice = "" if result.created else f"已有相同诉求工单 {result.duplicate_of}"
            return {"service_request_id": str(result.order.id), "service_notice": notice,
                    "account_id": None}

    try:
        out = await asyncio.to_thread(work)
    except WorkOrderError as exc:
        raise _error(400, exc.reason) from None
    return web.json_response([out], status=201)


def register(app: web.Application) -> None:
    app.router.add_get("/open311/v2/services.json", service_list)
    app.router.add_get("/open311/v2/requests.json", request_list)
    app.router.add_post("/open311/v2/requests.json", create_request)
    app.router.add_get("/open311/v2/requests/{request_id}.json", request_one)

