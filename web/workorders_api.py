"""HTTP API of work orders (工单接口): intake, dispatch, sign-off, return, extension,
reply, evaluation, review, supervision, dispatch data imports.

Wiring: put a :class:`WorkOrderServices` under ``services["workorders"]`` when calling
``create_app`` and pass :func:`register` in ``route_modules``. Every request carries
``Authorization: Bearer <token>`` (see :mod:`hotline_core.access`).

Database work is synchronous SQLAlchemy run in a worker thread (``asyncio.to_thread``),
one transaction per request: a refused request leaves nothing written.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import tzinfo
from typing import Any, TypeVar

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hotline_core.access import AccessPolicy, Principal, Role
from hotline_core.workorders import desk
from hotline_core.workorders.acceptance import NotAcceptedReason
from hotline_core.workorders.csv_import import (
    CsvImportError,
    import_gazetteer,
    import_responsibility_list,
    import_units,
)
from hotline_core.workorders.desk import DeskSettings, Intake, WorkOrderError
from hotline_core.workorders.dispatch import UnitChoiceError, choose_units
from hotline_core.workorders.lifecycle import Status
from hotline_core.workorders.model import UnitAssignment, WorkOrder
from hotline_core.workorders.presets import Category, ReplyPart, SatisfactionLevel
from hotline_core.workorders.replies import ReplyDraft
from hotline_core.workorders.supervision import lights, run_supervision
from hotline_core.workorders.views import event_view, order_view
from web import keys
from web.errors import json_error
from web.workorders_requests import (
    INT_MAX,
    ascii_id,
    choice,
    flag,
    integer,
    json_body,
    principal,
    query_int,
    strings,
    text,
    timestamp,
)

T = TypeVar("T")


@dataclass(frozen=True)
class WorkOrderServices:
    desk: DeskSettings
    access: AccessPolicy


def services(request: web.Request) -> WorkOrderServices:
    svc = request.app[keys.SERVICES].get("workorders")
    if not isinstance(svc, WorkOrderServices):
        raise json_error(503, "work orders are not configured on this server")
    return svc


async def in_transaction(request: web.Request, work: Callable[[Session], T]) -> T:
    """Run ``work`` in one transaction off the event loop; refusals roll back."""
    maker: sessionmaker[Session] = request.app[keys.SESSIONMAKER]

    def run() -> T:
        with maker() as session, session.begin():
            return work(session)

    try:
        return await asyncio.to_thread(run)
    except WorkOrderError as exc:
        raise json_error(exc.status, exc.reason, **exc.extra) from None
    except CsvImportError as exc:
        raise json_error(422, str(exc), problems=[
            {"line": p.line, "column": p.column, "message": p.message} for p in exc.problems
        ]) from None


def _who(request: web.Request) -> tuple[WorkOrderServices, Principal]:
    svc = services(request)
    return svc, principal(request, svc.access)


def _order_id(request: web.Request) -> int:
    raw = request.match_info["order_id"]
    oid = ascii_id(raw)
    if oid is None:
        raise json_error(404, f"work order {raw!r} does not exist")
    return oid


def _detail(session: Session, svc: WorkOrderServices, who: Principal,
            order_id: int) -> dict[str, Any]:
    session.flush()  # projection changes first, so the refresh below keeps them
    order = desk.readable(session, who, order_id)
    session.refresh(order)
    return order_view(order, who, svc.access, svc.desk.preset, svc.desk.now(), listing=False,
                      zone=svc.desk.zone)


# ------------------------------------------------------------------ intake and reads


def _intake(body: dict[str, Any]) -> Intake:
    return Intake(
        channel=text(body, "channel", required=True, max_len=20),
        category=choice(Category, body.get("category"), "category"),
        description=text(body, "description", required=True),
        caller_number=text(body, "caller_number", max_len=32),
        caller_name=text(body, "caller_name", max_len=100),
        line=text(body, "line", default="12345", max_len=32),
        address=text(body, "address", max_len=300),
        locality=text(body, "locality", max_len=200),
        matter=text(body, "matter", max_len=200),
        confidential=flag(body, "confidential"),
        emergency=flag(body, "emergency"),
        priority=integer(body, "priority", 0),
        leader_instruction=flag(body, "leader_instruction"),
        call_record_id=text(body, "call_record_id", max_len=64) or None,
        recording=text(body, "recording", max_len=500) or None,
        new_information=flag(body, "new_information"),
        publish_consent=flag(body, "publish_consent"),
    )


async def create_order(request: web.Request) -> web.Response:
    svc, who = _who(request)
    body = await json_body(request)
    intake = _intake(body)
    not_accepted = body.get("not_accepted")
    kb_entry = body.get("kb_entry_id")
    if not_accepted is not None and not isinstance(not_accepted, dict):
        raise json_error(422, "not_accepted: must be an object {reason, note}",
                         field="not_accepted")
    reason = (choice(NotAcceptedReason, not_accepted.get("reason"), "not_accepted.reason")
              if not_accepted is not None else None)
    if kb_entry is not None and (isinstance(kb_entry, bool) or not isinstance(kb_entry, int)
                                 or not 1 <= kb_entry <= INT_MAX):
        raise json_error(422, f"kb_entry_id: must be a whole number from 1 to {INT_MAX}",
                         field="kb_entry_id")

    def work(session: Session) -> tuple[int, dict[str, Any]]:
        if reason is not None:
            note = str((not_accepted or {}).get("note", ""))
            order = desk.record_not_accepted(session, svc.desk, who, intake, reason, note)
            return 201, {"order": _detail(session, svc, who, order.id), "created": True}
        if kb_entry is not None:
            order = desk.answer_from_knowledge_base(session, svc.desk, who, intake, kb_entry)
            return 201, {"order": _detail(session, svc, who, order.id), "created": True}
        result = desk.create_order(session, svc.desk, who, intake)
        out = {"order": _detail(session, svc, who, result.order.id), "created": result.created,
               "duplicate_of": result.duplicate_of}
        return (201 if result.created else 200), out

    status, out = await in_transaction(request, work)
    return web.json_response(out, status=status)


async def list_orders(request: web.Request) -> web.Response:
    svc, who = _who(request)
    limit = query_int(request, "limit", 50, 1, 500)
    offset = query_int(request, "offset", 0, 0, 10**9)
    status = request.query.get("status")
    if status is not None:
        status = choice(Status, status, "status").value
    unit = request.query.get("unit")

    def work(session: Session) -> dict[str, Any]:
        stmt = select(WorkOrder).order_by(WorkOrder.id.desc()).limit(limit).offset(offset)
        if who.role is Role.UNIT:
            # A unit sees only the orders dispatched to it (R-PRIVACY).
            stmt = stmt.where(WorkOrder.id.in_(
                select(UnitAssignment.order_id).where(UnitAssignment.unit_code == who.unit)))
        elif unit:
            stmt = stmt.where(WorkOrder.lead_unit == unit)
        if status:
            stmt = stmt.where(WorkOrder.status == status)
        now = svc.desk.now()
        return {"orders": [order_view(o, who, svc.access, svc.desk.preset, now, listing=True,
                                      zone=svc.desk.zone)
                           for o in session.scalars(stmt)],
                "limit": limit, "offset": offset}

    return web.json_response(await in_transaction(request, work))


async def get_order(request: web.Request) -> web.Response:
    svc, who = _who(request)
    oid = _order_id(request)
    return web.json_response(await in_transaction(request,
                                                  lambda s: _detail(s, svc, who, oid)))


async def get_events(request: web.Request) -> web.Response:
    svc, who = _who(request)
    oid = _order_id(request)

    def work(session: Session) -> dict[str, Any]:
        desk.readable(session, who, oid)
        return {"order_id": oid, "events": [event_view(e, svc.desk.zone)
                                             for e in desk.events_of(session, oid)]}

    return web.json_response(await in_transaction(request, work))


# ------------------------------------------------------------------ commands


Handler = Callable[[web.Request], Awaitable[web.Response]]
Action = Callable[[Session, "WorkOrderServices", Principal, int, dict[str, Any]], Any]


def _command(action: Action) -> Handler:
    """A POST on one order: parse, run the command, answer with the order's new detail."""

    async def handler(request: web.Request) -> web.Response:
        svc, who = _who(request)
        oid = _order_id(request)
        body = await json_body(request)

        def work(session: Session) -> dict[str, Any]:
            action(session, svc, who, oid, body)
            return _detail(session, svc, who, oid)

        return web.json_response(await in_transaction(request, work))

    return handler


def _dispatch(s: Session, svc: WorkOrderServices, who: Principal, oid: int,
              b: dict[str, Any]) -> None:
    lead = text(b, "lead", max_len=64) or None
    desk.dispatch(s, svc.desk, who, oid, lead=lead, assists=strings(b, "assists"),
                  reason=text(b, "reason"))


def _approval_request(s: Session, svc: WorkOrderServices, who: Principal, oid: int,
                      b: dict[str, Any]) -> None:
    desk.request_approval(s, svc.desk, who, oid, text(b, "kind", required=True),
                          text(b, "reason", required=True))


def _approve(s: Session, svc: WorkOrderServices, who: Principal, oid: int,
             b: dict[str, Any]) -> None:
    desk.approve(s, svc.desk, who, oid, text(b, "leader", required=True),
                 text(b, "instruction", required=True))


def _sign(s: Session, svc: WorkOrderServices, who: Principal, oid: int,
          b: dict[str, Any]) -> None:
    desk.sign_off(s, svc.desk, who, oid)


def _return(s: Session, svc: WorkOrderServices, who: Principal, oid: int,
            b: dict[str, Any]) -> None:
    desk.return_order(s, svc.desk, who, oid, text(b, "reason"), text(b, "suggested_unit"))


def _extension(s: Session, svc: WorkOrderServices, who: Principal, oid: int,
               b: dict[str, Any]) -> None:
    new_due = timestamp(b, "new_due_at", svc.desk.zone, required=True)
    assert new_due is not None
    desk.request_extension(s, svc.desk, who, oid, new_due, text(b, "reason"),
                           text(b, "signed_by"))


def _extension_decision(s: Session, svc: WorkOrderServices, who: Principal, oid: int,
                        b: dict[str, Any]) -> None:
    if "approve" not in b:
        raise json_error(422, "approve: is required (true or false)", field="approve")
    desk.decide_extension(s, svc.desk, who, oid, flag(b, "approve"), text(b, "note"))


def _citizen_notice(s: Session, svc: WorkOrderServices, who: Principal, oid: int,
                    b: dict[str, Any]) -> None:
    desk.tell_citizen(s, svc.desk, who, oid, text(b, "about", required=True),
                      text(b, "message", required=True), text(b, "channel", default="phone"))


def _ledger(s: Session, svc: WorkOrderServices, who: Principal, oid: int,
            b: dict[str, Any]) -> None:
    desk.ledger(s, svc.desk, who, oid, open_it=flag(b, "open", True),
                criteria=text(b, "criteria", required=True))


def _grade(s: Session, svc: WorkOrderServices, who: Principal, oid: int,
           b: dict[str, Any]) -> None:
    desk.grade(s, svc.desk, who, oid, text(b, "grade", required=True))


def _evaluation(s: Session, svc: WorkOrderServices, who: Principal, oid: int,
                b: dict[str, Any]) -> None:
    desk.evaluate(s, svc.desk, who, oid, choice(SatisfactionLevel, b.get("level"), "level"),
                  text(b, "comment"))


def _review(s: Session, svc: WorkOrderServices, who: Principal, oid: int,
            b: dict[str, Any]) -> None:
    decision = text(b, "decision", required=True)
    if decision not in ("redo", "close"):
        raise json_error(422, f"decision: {decision!r} is not one of ['redo', 'close']",
                         field="decision")
    desk.decide_review(s, svc.desk, who, oid, redo=decision == "redo",
                       reason=text(b, "reason", required=True),
                       citizen_asked=flag(b, "citizen_asked", True))


def _review_form(s: Session, svc: WorkOrderServices, who: Principal, oid: int,
                 b: dict[str, Any]) -> None:
    desk.file_review_form(s, svc.desk, who, oid, text(b, "signer", required=True),
                          text(b, "text", required=True))


def _review_conclusion(s: Session, svc: WorkOrderServices, who: Principal, oid: int,
                       b: dict[str, Any]) -> None:
    desk.conclude_review(s, svc.desk, who, oid, text(b, "outcome", required=True),
                         text(b, "reason", required=True), text(b, "panel"))


def _draft(body: dict[str, Any], zone: tzinfo) -> ReplyDraft:
    raw = body.get("parts")
    if not isinstance(raw, dict) or not raw:
        raise json_error(422, "parts: must be an object of reply parts, e.g. "
                         '{"response": "...", "result": "..."}', field="parts")
    parts: dict[ReplyPart, str] = {}
    for key, value in raw.items():
        part = choice(ReplyPart, key, "parts")
        if not isinstance(value, str):
            raise json_error(422, f"parts.{key}: must be a string", field=f"parts.{key}")
        parts[part] = value
    return ReplyDraft(parts=parts, resolved=flag(body, "resolved", True),
                      citizen_replied_at=timestamp(body, "citizen_replied_at", zone))


async def reply(request: web.Request) -> web.Response:
    """A refused reply answers 422 with every reason; the refusal itself is recorded."""
    svc, who = _who(request)
    oid = _order_id(request)
    draft = _draft(await json_body(request), svc.desk.zone)

    def work(session: Session) -> tuple[bool, dict[str, Any]]:
        outcome = desk.reply(session, svc.desk, who, oid, draft)
        if not outcome.accepted:
            return False, {"error": "reply refused: " + "; ".join(outcome.problems),
                           "problems": outcome.problems}
        return True, _detail(session, svc, who, oid)

    ok, out = await in_transaction(request, work)
    return web.json_response(out, status=200 if ok else 422)


# ------------------------------------------------------------------ supervision & dispatch data


async def run_supervision_now(request: web.Request) -> web.Response:
    svc, who = _who(request)
    if who.role not in (Role.SUPERVISOR, Role.DISPATCHER):
        raise json_error(403, f"{who.role.value} may not run supervision")
    result = await in_transaction(request, lambda s: run_supervision(s, svc.desk))
    return web.json_response({"reminders": result.reminders, "special": result.special})


async def list_lights(request: web.Request) -> web.Response:
    svc, who = _who(request)
    unit = who.unit if who.role is Role.UNIT else request.query.get("unit")

    def work(session: Session) -> dict[str, Any]:
        rows = lights(session, svc.desk.preset, svc.desk.now(), unit)
        return {"lights": [{"order_id": r.order_id, "lead_unit": r.lead_unit,
                            "due_at": r.due_at.astimezone(svc.desk.zone).isoformat(),
                            "light": r.light.value}
                           for r in rows]}

    return web.json_response(await in_transaction(request, work))


def _csv_import(importer: Callable[[Session, str], int]) -> Handler:
    async def handler(request: web.Request) -> web.Response:
        svc, who = _who(request)
        if who.role not in (Role.DISPATCHER, Role.SUPERVISOR):
            raise json_error(403, f"{who.role.value} may not import dispatch data")
        raw = await request.read()
        try:
            content = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise json_error(400, f"CSV must be UTF-8: {exc}") from None
        count = await in_transaction(request, lambda s: importer(s, content))
        return web.json_response({"imported": count})

    return handler


async def preview_dispatch(request: web.Request) -> web.Response:
    svc, who = _who(request)
    q = request.query

    def work(session: Session) -> dict[str, Any]:
        try:
            r = choose_units(session, q.get("matter", ""), q.get("locality", ""),
                             q.get("address", ""))
        except UnitChoiceError as exc:
            raise json_error(422, str(exc), field="matter") from None
        return {"lead": r.lead, "assists": r.assists, "reasons": r.reasons,
                "approval": r.approval}

    return web.json_response(await in_transaction(request, work))


ORDER = "/api/workorders/{order_id}"


def register(app: web.Application) -> None:
    r = app.router
    r.add_post("/api/workorders", create_order)
    r.add_get("/api/workorders", list_orders)
    r.add_get(ORDER, get_order)
    r.add_get(ORDER + "/events", get_events)
    r.add_post(ORDER + "/dispatch", _command(_dispatch))
    r.add_post(ORDER + "/approval-request", _command(_approval_request))
    r.add_post(ORDER + "/approval", _command(_approve))
    r.add_post(ORDER + "/sign-off", _command(_sign))
    r.add_post(ORDER + "/return", _command(_return))
    r.add_post(ORDER + "/extension", _command(_extension))
    r.add_post(ORDER + "/extension/decision", _command(_extension_decision))
    r.add_post(ORDER + "/citizen-notice", _command(_citizen_notice))
    r.add_post(ORDER + "/ledger", _command(_ledger))
    r.add_post(ORDER + "/grade", _command(_grade))
    r.add_post(ORDER + "/reply", reply)
    r.add_post(ORDER + "/evaluation", _command(_evaluation))
    r.add_post(ORDER + "/review", _command(_review))
    r.add_post(ORDER + "/review-form", _command(_review_form))
    r.add_post(ORDER + "/review-conclusion", _command(_review_conclusion))
    r.add_post("/api/supervision/run", run_supervision_now)
    r.add_get("/api/supervision/lights", list_lights)
    r.add_post("/api/dispatch/units", _csv_import(import_units))
    r.add_post("/api/dispatch/responsibility-list", _csv_import(import_responsibility_list))
    r.add_post("/api/dispatch/gazetteer", _csv_import(import_gazetteer))
    r.add_get("/api/dispatch/route", preview_dispatch)
    # The knowledge base and metrics share this module's services and transactions.
    from web import workorders_kb_api, workorders_metrics_api

    workorders_kb_api.register(app)
    workorders_metrics_api.register(app)
