"""Open311 GeoReport v2 façade (开放接口): the hotline's categories as services, its work
orders as service requests, for civic apps that speak the standard.

Service codes are the category codes (consult, help, complaint, report, suggestion,
other). Posting a request needs an ``api_key`` that is an operator's or dispatcher's
token; it becomes a work order from the ``api`` channel.
Errors follow GeoReport: ``[{"code": 400, "description": "..."}]``.

What a read shows, by who asks (``Authorization: Bearer <token>`` is optional):

- without a token (the public): only orders whose citizen agreed to publication
  (``publish_consent`` at intake);
- a unit's token: only the orders dispatched to that unit;
- a staff token (operator, dispatcher, supervisor, callback): every order;
- an unknown token: 401.

For everyone: confidential and not-accepted orders are never listed, no caller name or
number ever, and the place is the locality (village, community), never the exact
address; the description is shown (for the public, of consenting orders only).
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, tzinfo
from typing import Any

from aiohttp import web
from sqlalchemy import select

from hotline_core.access import Principal, Role
from hotline_core.clock import in_zone
from hotline_core.workorders import desk
from hotline_core.workorders.desk import Intake, WorkOrderError
from hotline_core.workorders.lifecycle import Status
from hotline_core.workorders.model import Unit, UnitAssignment, WorkOrder
from hotline_core.workorders.presets import Category
from web import keys
from web.errors import error_class, unusable_text
from web.workorders_api import services
from web.workorders_requests import ascii_id

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
STAFF = frozenset({Role.OPERATOR, Role.DISPATCHER, Role.SUPERVISOR, Role.CALLBACK})


def _error(status: int, description: str) -> web.HTTPException:
    return error_class(status)(text=json.dumps([{"code": status, "description": description}],
                               ensure_ascii=False), content_type="application/json")


async def service_list(request: web.Request) -> web.Response:
    return web.json_response([
        {"service_code": c.value, "service_name": name, "description": text,
         "metadata": False, "type": "realtime", "keywords": c.value, "group": "12345"}
        for c, (name, text) in SERVICES.items()
    ])


def _iso(value: datetime | None, zone: tzinfo) -> str | None:
    """A stored instant (aware UTC) written in the hotline's zone, with its offset."""
    return value.astimezone(zone).isoformat() if value else None


def _request_view(o: WorkOrder, units: dict[str, str], zone: tzinfo) -> dict[str, Any]:
    return {
        "service_request_id": str(o.id),
        "status": "closed" if o.status in CLOSED else "open",
        "status_notes": o.status,
        "service_name": SERVICES[Category(o.category)][0],
        "service_code": o.category,
        "description": o.description,
        "agency_responsible": units.get(o.lead_unit or "", ""),
        "service_notice": "",
        "requested_datetime": _iso(o.received_at, zone),
        "updated_datetime": _iso(o.closed_at or o.replied_at or o.signed_at
                                 or o.dispatched_at or o.received_at, zone),
        "expected_datetime": _iso(o.due_at, zone),
        "address": o.locality,  # the locality only: an exact address may identify a person
        "address_id": "", "zipcode": "", "lat": None, "long": None, "media_url": "",
    }


def _is_id(raw: str) -> bool:
    """An order id: ASCII digits that fit the databases' 32-bit integer column."""
    return ascii_id(raw) is not None


def _reader(request: web.Request) -> Principal | None:
    """Who reads: ``None`` for the public (no token)."""
    header = request.headers.get("Authorization")
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    who = services(request).access.principal_for(token.strip())
    if scheme.lower() != "bearer" or who is None:
        raise _error(401, "Authorization: unknown token (leave it out to read as the public)")
    return who


def _visible(stmt: Any, who: Principal | None) -> Any:
    """The orders ``who`` may read on this interface (see the module's docstring)."""
    stmt = stmt.where(WorkOrder.confidential.is_(False), WorkOrder.status.not_in(HIDDEN))
    if who is None:
        return stmt.where(WorkOrder.publish_consent.is_(True))
    if who.role is Role.UNIT:
        return stmt.where(WorkOrder.id.in_(
            select(UnitAssignment.order_id).where(UnitAssignment.unit_code == who.unit)))
    if who.role in STAFF:
        return stmt
    return stmt.where(WorkOrder.publish_consent.is_(True))


def _date(raw: str | None, name: str, zone: tzinfo) -> datetime | None:
    """A W3C date-time as an aware instant; without an offset, the hotline's wall time."""
    if not raw:
        return None
    try:
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise _error(400, f"{name}: {raw!r} is not a W3C date-time") from None
    return in_zone(parsed, zone)


async def request_list(request: web.Request) -> web.Response:
    q = request.query
    zone = services(request).desk.zone
    start = _date(q.get("start_date"), "start_date", zone)
    end = _date(q.get("end_date"), "end_date", zone)
    codes = [c for c in q.get("service_code", "").split(",") if c]
    for c in codes:
        if c not in {s.value for s in Category}:
            raise _error(400, f"service_code: {c!r} is not a service")
    status = q.get("status", "")
    if status not in ("", "open", "closed"):
        raise _error(400, "status: must be open or closed")
    ids = [i for i in q.get("service_request_id", "").split(",") if i]
    if not all(_is_id(i) for i in ids):
        raise _error(400, "service_request_id: must be order ids (ASCII digits)")
    who = _reader(request)
    maker = request.app[keys.SESSIONMAKER]

    def work() -> list[dict[str, Any]]:
        stmt = _visible(select(WorkOrder), who).order_by(WorkOrder.id.desc()).limit(1000)
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
            return [_request_view(o, units, zone) for o in session.scalars(stmt)]

    return web.json_response(await asyncio.to_thread(work))


async def request_one(request: web.Request) -> web.Response:
    raw = request.match_info["request_id"]
    if not _is_id(raw):
        raise _error(404, f"service request {raw!r} does not exist")
    who = _reader(request)
    zone = services(request).desk.zone
    maker = request.app[keys.SESSIONMAKER]

    def work() -> list[dict[str, Any]]:
        with maker() as session:
            stmt = _visible(select(WorkOrder), who).where(WorkOrder.id == int(raw))
            o = session.scalars(stmt).first()
            if o is None:
                raise _error(404, f"service request {raw} does not exist")
            units = dict(session.execute(select(Unit.code, Unit.name)).all())
            return [_request_view(o, units, zone)]

    return web.json_response(await asyncio.to_thread(work))


# How long each GeoReport v2 form field may be: the work-order column it lands in, or a
# generous bound for fields the hotline ignores. ``last_name`` + " " + ``first_name`` fits
# the 100 characters of caller_name.
FIELD_LIMITS = {
    "api_key": 200, "jurisdiction_id": 100, "service_code": 40, "lat": 40, "long": 40,
    "address_string": 300, "address_id": 100, "email": 254, "device_id": 100,
    "account_id": 100, "first_name": 50, "last_name": 49, "phone": 32,
    "description": 10_000, "media_url": 2_000,
}
OTHER_FIELD_LIMIT = 1_000  # attribute[...] and any other field
MAX_FIELDS = 100


def _form_problem(form: Any) -> str | None:
    """Why the posted form cannot be taken as it is, naming the field; None when it can."""
    if len(form) > MAX_FIELDS:
        return f"the form has {len(form)} fields; at most {MAX_FIELDS}"
    for name, value in form.items():
        if not isinstance(value, str):
            return f"{name}: must be a text field, not a file"
        limit = FIELD_LIMITS.get(name, OTHER_FIELD_LIMIT)
        if len(value) > limit:
            return f"{name}: is longer than {limit} characters"
        why = unusable_text(value) or unusable_text(name)
        if why is not None:
            return f"{name}: {why}"
    return None


async def create_request(request: web.Request) -> web.Response:
    svc = services(request)
    form = await request.post()
    problem = _form_problem(form)
    if problem is not None:
        raise _error(400, problem)
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

