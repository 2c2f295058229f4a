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

import json
from datetime import datetime, tzinfo
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from hotline_core.access import Principal, Role
from hotline_core.clock import in_zone
from hotline_core.workorders import desk
from hotline_core.workorders.desk import Intake
from hotline_core.workorders.lifecycle import Status
from hotline_core.workorders.model import WorkOrder
from hotline_core.workorders.presets import Category
from hotline_core.workorders.queries import (
    RequestFilter,
    service_request,
    service_requests,
    unit_names,
)
from web.api import Routes, read_query
from web.db import in_transaction, reading
from web.errors import error_class
from web.keys import DESK_MISSING, WORKORDERS, WorkOrderServices, need
from web.open311.schemas import (
    CreatedList,
    CreatedOut,
    GeoErrors,
    RequestForm,
    RequestList,
    RequestOut,
    RequestQuery,
    ServiceList,
    ServiceOut,
)
from web.requests import PERSON, ascii_id

SERVICES = {
    Category.CONSULT: ("咨询", "政策法规、公共服务信息咨询"),
    Category.HELP: ("求助", "非紧急类求助服务"),
    Category.COMPLAINT: ("投诉", "对行政机关、公共服务的投诉"),
    Category.REPORT: ("举报", "涉及行政执法的举报"),
    Category.SUGGESTION: ("建议", "意见建议"),
    Category.OTHER: ("其他", "其他诉求"),
}
CLOSED = (Status.CLOSED.value,)


def _error(status: int, description: str) -> web.HTTPException:
    return error_class(status)(text=json.dumps([{"code": status, "description": description}],
                               ensure_ascii=False), content_type="application/json")


def _georeport(status: int, reason: str, _extra: dict[str, Any]) -> web.HTTPException:
    """A refusal in GeoReport's shape; a field the request got wrong is a 400 there."""
    return _error(400 if status == 422 else status, reason)


def _refused_as_400(_status: int, reason: str, _extra: dict[str, Any]) -> web.HTTPException:
    """Submitting: every refusal of the desk is a 400 with its reason (GeoReport)."""
    return _error(400, reason)


routes = Routes(tag="open311")
GEO: dict[str, Any] = {"error": GeoErrors, "error_shape": _georeport}


@routes.get("/open311/v2/services.json", response=ServiceList, **GEO)
async def service_list(_request: web.Request) -> web.Response:
    """GeoReport v2 services: the hotline's categories."""
    return web.json_response(ServiceList([
        ServiceOut(service_code=c.value, service_name=name, description=text,
                   metadata=False, type="realtime", keywords=c.value, group="12345")
        for c, (name, text) in SERVICES.items()]).model_dump(mode="json"))


def _iso(value: datetime | None, zone: tzinfo) -> str | None:
    """A stored instant (aware UTC) written in the hotline's zone, with its offset."""
    return value.astimezone(zone).isoformat() if value else None


def _request_view(o: WorkOrder, units: dict[str, str], zone: tzinfo) -> RequestOut:
    return RequestOut(
        service_request_id=str(o.id),
        status="closed" if o.status in CLOSED else "open",
        status_notes=o.status,
        service_name=SERVICES[Category(o.category)][0],
        service_code=o.category,
        description=o.description,
        agency_responsible=units.get(o.lead_unit or "", ""),
        service_notice="",
        requested_datetime=_iso(o.received_at, zone),
        updated_datetime=_iso(o.closed_at or o.replied_at or o.signed_at
                              or o.dispatched_at or o.received_at, zone),
        expected_datetime=_iso(o.due_at, zone),
        address=o.locality,  # the locality only: an exact address may identify a person
        address_id="", zipcode="", lat=None, long=None, media_url="",
    )


def _reader(request: web.Request, svc: WorkOrderServices) -> Principal | None:
    """Who reads: ``None`` for the public (no token)."""
    header = request.headers.get("Authorization")
    if header is None:                               # the public, or a signed-in person
        return request[PERSON] if PERSON in request else None
    scheme, _, token = header.partition(" ")
    who = svc.access.principal_for(token.strip())
    if scheme.lower() != "bearer" or who is None:
        raise _error(401, "Authorization: unknown token (leave it out to read as the public)")
    return who


def _date(raw: str | None, name: str, zone: tzinfo) -> datetime | None:
    """A W3C date-time as an aware instant; without an offset, the hotline's wall time."""
    if not raw:
        return None
    try:
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise _error(400, f"{name}: {raw!r} is not a W3C date-time") from None
    return in_zone(parsed, zone)


@routes.get("/open311/v2/requests.json", query=RequestQuery, response=RequestList, **GEO)
async def request_list(request: web.Request) -> web.Response:
    """GeoReport v2 requests (what the reader may see, see the module's docstring)."""
    svc = need(request, WORKORDERS, DESK_MISSING)
    q = read_query(request, RequestQuery)
    zone = svc.desk.zone
    wanted = RequestFilter(
        ids=tuple(int(i) for i in q.service_request_id.split(",") if i),
        categories=tuple(c for c in q.service_code.split(",") if c),
        start=_date(q.start_date, "start_date", zone), end=_date(q.end_date, "end_date", zone),
        status=q.status)
    who = _reader(request, svc)

    def work(session: Any) -> RequestList:
        units = unit_names(session)
        return RequestList([_request_view(o, units, zone)
                            for o in service_requests(session, who, wanted)])

    return web.json_response((await reading(request, work)).model_dump(mode="json"))


@routes.get("/open311/v2/requests/{request_id}.json", response=RequestList, **GEO)
async def request_one(request: web.Request) -> web.Response:
    """One request (GeoReport answers a list of one)."""
    raw = request.match_info["request_id"]
    oid = ascii_id(raw)
    if oid is None:
        raise _error(404, f"service request {raw!r} does not exist")
    svc = need(request, WORKORDERS, DESK_MISSING)
    who = _reader(request, svc)
    zone = svc.desk.zone

    def work(session: Any) -> RequestList:
        o = service_request(session, who, oid)
        if o is None:
            raise _error(404, f"service request {raw} does not exist")
        return RequestList([_request_view(o, unit_names(session), zone)])

    return web.json_response((await reading(request, work)).model_dump(mode="json"))

async def _form(request: web.Request) -> RequestForm:
    """The posted form as :class:`RequestForm`; a GeoReport 400 naming the field at fault."""
    form = await request.post()
    fields = {name: value if isinstance(value, str) else object()   # a file: refused
              for name, value in form.items()}
    try:
        return RequestForm.model_validate(fields)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        why = str(first["msg"]).removeprefix("Value error, ")
        raise _error(400, f"{where}: {why}" if where else why) from None


@routes.post("/open311/v2/requests.json", body=RequestForm, status=201,
             body_media_type="application/x-www-form-urlencoded", response=CreatedList,
             error=GeoErrors, error_shape=_refused_as_400)
async def create_request(request: web.Request) -> web.Response:
    """GeoReport v2 create (form: api_key, service_code, description, ...): a work order
    from the ``api`` channel."""
    svc = need(request, WORKORDERS, DESK_MISSING)
    form = await _form(request)
    who = svc.access.principal_for(form.api_key)
    if who is None or who.role not in (Role.OPERATOR, Role.DISPATCHER):
        raise _error(403, "api_key: not a key that may submit requests")
    try:
        category = Category(form.service_code)
    except ValueError:
        raise _error(400, f"service_code: {form.service_code!r} is not a service") from None
    description = form.description.strip()
    if not description:
        raise _error(400, "description: is required")
    name = f"{form.last_name} {form.first_name}".strip()
    intake = Intake(channel="api", category=category, description=description,
                    caller_number=form.phone, caller_name=name, address=form.address_string)

    def work(session: Any) -> CreatedOut:
        result = desk.create_order(session, svc.desk, who, intake)
        notice = "" if result.created else f"已有相同诉求工单 {result.duplicate_of}"
        return CreatedOut(service_request_id=str(result.order.id), service_notice=notice,
                          account_id=None)

    out = await in_transaction(request, work)
    return web.json_response(CreatedList([out]).model_dump(mode="json"), status=201)


register = routes.register
