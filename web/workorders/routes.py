"""HTTP API of work orders (工单接口): intake, dispatch, sign-off, return, extension,
reply, evaluation, review, supervision, dispatch data imports.

Every request carries ``Authorization: Bearer <token>`` (see :mod:`hotline_core.access`).
Database work is synchronous SQLAlchemy run in a worker thread, one transaction per
request (:func:`web.db.in_transaction`): a refused request leaves nothing written. The
desk's refusals (:class:`hotline_core.workorders.desk.WorkOrderError`) become HTTP errors
in the middleware (:data:`web.errors.DOMAIN_ERRORS`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import tzinfo
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel
from sqlalchemy.orm import Session

from hotline_core.access import Principal, Role
from hotline_core.clock import in_zone
from hotline_core.workorders import desk
from hotline_core.workorders.csv_import import (
    import_gazetteer,
    import_responsibility_list,
    import_units,
)
from hotline_core.workorders.desk import Intake
from hotline_core.workorders.dispatch import choose_units
from hotline_core.workorders.queries import orders_page
from hotline_core.workorders.replies import ReplyDraft, missing_parts
from hotline_core.workorders.supervision import lights, run_supervision
from hotline_core.workorders.views import event_view, order_view
from web.access import roles
from web.api import NO_BODY, CsvText, Routes, read_body, read_query, reply
from web.db import in_transaction, reading
from web.errors import json_error
from web.keys import DESK_MISSING, WORKORDERS, WorkOrderServices, need
from web.requests import ascii_id, principal, read_csv
from web.workorders.schemas import (
    ApprovalBody,
    ApprovalRequestBody,
    CitizenNoticeBody,
    CreatedOut,
    DispatchBody,
    DispatchPreviewOut,
    DispatchPreviewQuery,
    EvaluationBody,
    EventList,
    EventOut,
    ExtensionBody,
    ExtensionDecisionBody,
    GradeBody,
    ImportedOut,
    IntakeBody,
    LedgerBody,
    LightList,
    LightOut,
    LightsQuery,
    OrderList,
    OrderOut,
    OrderQuery,
    ReplyBody,
    ReplyCheckOut,
    ReturnBody,
    ReviewBody,
    ReviewConclusionBody,
    ReviewFormBody,
    SupervisionRunOut,
)

B = TypeVar("B", bound=BaseModel)
routes = Routes(tag="work orders")
ORDER = "/api/workorders/{order_id}"


def _who(request: web.Request) -> tuple[WorkOrderServices, Principal]:
    svc = need(request, WORKORDERS, DESK_MISSING)
    return svc, principal(request, svc.access)


def _order_id(request: web.Request) -> int:
    raw = request.match_info["order_id"]
    oid = ascii_id(raw)
    if oid is None:
        raise json_error(404, f"work order {raw!r} does not exist")
    return oid


def _detail(session: Session, svc: WorkOrderServices, who: Principal,
            order_id: int) -> OrderOut:
    session.flush()  # projection changes first, so the refresh below keeps them
    order = desk.readable(session, who, order_id)
    session.refresh(order)
    return OrderOut.model_validate(order_view(
        order, who, svc.access, svc.desk.preset, svc.desk.now(), listing=False,
        zone=svc.desk.zone))


# ------------------------------------------------------------------ intake and reads


def _intake(b: IntakeBody) -> Intake:
    return Intake(
        channel=b.channel, category=b.category, description=b.description,
        caller_number=b.caller_number, caller_name=b.caller_name, line=b.line,
        address=b.address, locality=b.locality, matter=b.matter,
        confidential=b.confidential, emergency=b.emergency, priority=b.priority,
        leader_instruction=b.leader_instruction, call_record_id=b.call_record_id or None,
        recording=b.recording or None, new_information=b.new_information,
        publish_consent=b.publish_consent)


@routes.post("/api/workorders", body=IntakeBody, response=CreatedOut, status=(201, 200))
async def create_order(request: web.Request) -> web.Response:
    """Create a work order (受理), record a not-accepted demand, answer from the knowledge
    base, or link a duplicate (200 + duplicate_of)."""
    svc, who = _who(request)
    body = await read_body(request, IntakeBody)
    intake = _intake(body)

    def work(session: Session) -> tuple[int, CreatedOut]:
        if body.not_accepted is not None:
            order = desk.record_not_accepted(session, svc.desk, who, intake,
                                             body.not_accepted.reason, body.not_accepted.note)
            return 201, CreatedOut(order=_detail(session, svc, who, order.id), created=True)
        if body.kb_entry_id is not None:
            order = desk.answer_from_knowledge_base(session, svc.desk, who, intake,
                                                    body.kb_entry_id)
            return 201, CreatedOut(order=_detail(session, svc, who, order.id), created=True)
        result = desk.create_order(session, svc.desk, who, intake)
        out = CreatedOut(order=_detail(session, svc, who, result.order.id),
                         created=result.created, duplicate_of=result.duplicate_of)
        return (201 if result.created else 200), out

    status, out = await in_transaction(request, work)
    return reply(out, status=status)


@routes.get("/api/workorders", query=OrderQuery, response=OrderList)
async def list_orders(request: web.Request) -> web.Response:
    """List orders (masked numbers; a unit sees only its own). Query: status, unit, limit,
    offset."""
    svc, who = _who(request)
    q = read_query(request, OrderQuery)

    def work(session: Session) -> OrderList:
        now = svc.desk.now()
        rows = orders_page(session, who, status=q.status.value if q.status else None,
                           unit=q.unit, limit=q.limit, offset=q.offset)
        return OrderList(orders=[OrderOut.model_validate(order_view(
            o, who, svc.access, svc.desk.preset, now, listing=True, zone=svc.desk.zone))
            for o in rows], limit=q.limit, offset=q.offset)

    return reply(await in_transaction(request, work))


@routes.get(ORDER, response=OrderOut)
async def get_order(request: web.Request) -> web.Response:
    """One order's detail."""
    svc, who = _who(request)
    oid = _order_id(request)
    return reply(await in_transaction(request, lambda s: _detail(s, svc, who, oid)))


@routes.get(ORDER + "/events", response=EventList)
async def get_events(request: web.Request) -> web.Response:
    """The append-only events."""
    svc, who = _who(request)
    oid = _order_id(request)

    def work(session: Session) -> EventList:
        desk.readable(session, who, oid)
        return EventList(order_id=oid, events=[
            EventOut.model_validate(event_view(e, svc.desk.zone))
            for e in desk.events_of(session, oid)])

    return reply(await in_transaction(request, work))


# ------------------------------------------------------------------ commands

def _command(body_model: type[B] | None,
             action: Callable[[Session, WorkOrderServices, Principal, int, B], object],
             ) -> Callable[[web.Request], Awaitable[web.Response]]:
    """A POST on one order: parse, run the command, answer with the order's new detail."""

    async def handler(request: web.Request) -> web.Response:
        svc, who = _who(request)
        oid = _order_id(request)
        body: Any = (await read_body(request, body_model)) if body_model is not None else None

        def work(session: Session) -> OrderOut:
            action(session, svc, who, oid, body)
            return _detail(session, svc, who, oid)

        return reply(await in_transaction(request, work))

    return handler


def _on_order(suffix: str, body: type[B] | None, tag: str, summary: str,
              action: Callable[[Session, WorkOrderServices, Principal, int, B], object]) -> None:
    routes.add("POST", ORDER + suffix, _command(body, action), response=OrderOut,
               body=body if body is not None else NO_BODY, tag=tag, summary=summary)


_on_order("/dispatch", DispatchBody, "dispatch", "Dispatch (派单): by the responsibility "
          "list, or to named units with a reason; may go to leader approval first",
          lambda s, svc, who, oid, b: desk.dispatch(
              s, svc.desk, who, oid, lead=b.lead or None, assists=list(b.assists),
              reason=b.reason))
_on_order("/approval-request", ApprovalRequestBody, "dispatch",
          "Ask for a leader's instruction",
          lambda s, svc, who, oid, b: desk.request_approval(s, svc.desk, who, oid, b.kind,
                                                            b.reason))
_on_order("/approval", ApprovalBody, "dispatch", "Record the leader's instruction (领导批示)",
          lambda s, svc, who, oid, b: desk.approve(s, svc.desk, who, oid, b.leader,
                                                   b.instruction))
_on_order("/sign-off", None, "unit", "Sign off (签收)",
          lambda s, svc, who, oid, _b: desk.sign_off(s, svc.desk, who, oid))
_on_order("/return", ReturnBody, "unit", "Return (退单) with reason",
          lambda s, svc, who, oid, b: desk.return_order(s, svc.desk, who, oid, b.reason,
                                                        b.suggested_unit))
_on_order("/extension", ExtensionBody, "unit", "Ask for an extension (延期)",
          lambda s, svc, who, oid, b: desk.request_extension(
              s, svc.desk, who, oid, in_zone(b.new_due_at, svc.desk.zone), b.reason,
              b.signed_by))
_on_order("/extension/decision", ExtensionDecisionBody, "dispatch",
          "Approve or refuse a pending extension",
          lambda s, svc, who, oid, b: desk.decide_extension(s, svc.desk, who, oid, b.approve,
                                                            b.note))
_on_order("/citizen-notice", CitizenNoticeBody, "callback",
          "Record what the citizen was told (e.g. the new deadline)",
          lambda s, svc, who, oid, b: desk.tell_citizen(s, svc.desk, who, oid, b.about,
                                                        b.message, b.channel))
_on_order("/ledger", LedgerBody, "supervision", "Put on / take off the ledger (挂账/销账)",
          lambda s, svc, who, oid, b: desk.ledger(s, svc.desk, who, oid, open_it=b.open,
                                                  criteria=b.criteria))
_on_order("/grade", GradeBody, "supervision", "Grade A or B (C/D are derived)",
          lambda s, svc, who, oid, b: desk.grade(s, svc.desk, who, oid, b.grade))
_on_order("/evaluation", EvaluationBody, "callback",
          "Five-level evaluation from the callback (回访评价)",
          lambda s, svc, who, oid, b: desk.evaluate(s, svc.desk, who, oid, b.level,
                                                    b.comment))
_on_order("/review", ReviewBody, "supervision",
          "Review an unsatisfied order: redo (once) or close",
          lambda s, svc, who, oid, b: desk.decide_review(
              s, svc.desk, who, oid, redo=b.decision == "redo", reason=b.reason,
              citizen_asked=b.citizen_asked))
_on_order("/review-form", ReviewFormBody, "unit",
          "File the signed review form after a second unsatisfied evaluation",
          lambda s, svc, who, oid, b: desk.file_review_form(s, svc.desk, who, oid, b.signer,
                                                            b.text))
_on_order("/review-conclusion", ReviewConclusionBody, "supervision",
          "Platform / social review conclusion",
          lambda s, svc, who, oid, b: desk.conclude_review(s, svc.desk, who, oid, b.outcome,
                                                           b.reason, b.panel))


@routes.post(ORDER + "/reply", body=ReplyBody, response=OrderOut, tag="unit")
async def reply_to_citizen(request: web.Request) -> web.Response:
    """Reply (回复): checked against the preset's reply rules; 422 lists the problems (the
    refusal itself is recorded)."""
    svc, who = _who(request)
    oid = _order_id(request)
    body = await read_body(request, ReplyBody)
    draft = _draft(body, svc.desk.zone)   # the same draft the reply check sees

    def work(session: Session) -> OrderOut | list[str]:
        outcome = desk.reply(session, svc.desk, who, oid, draft)
        if not outcome.accepted:
            return list(outcome.problems)   # committed: the refusal is an event too
        return _detail(session, svc, who, oid)

    out = await in_transaction(request, work)
    if isinstance(out, list):
        raise json_error(422, "reply refused: " + "; ".join(out), problems=out)
    return reply(out)


def _draft(body: ReplyBody, zone: tzinfo) -> ReplyDraft:
    return ReplyDraft(parts=dict(body.parts), resolved=body.resolved,
                      citizen_replied_at=(in_zone(body.citizen_replied_at, zone)
                                          if body.citizen_replied_at else None))


@routes.post(ORDER + "/reply-check", body=ReplyBody, response=ReplyCheckOut, tag="unit",
             access=roles(Role.UNIT))
async def check_reply_draft(request: web.Request) -> web.Response:
    """Check a reply draft against the preset's reply rules before submitting it (答复检查):
    the same check the reply runs, nothing recorded."""
    svc, who = _who(request)
    oid = _order_id(request)
    body = await read_body(request, ReplyBody)
    draft = _draft(body, svc.desk.zone)

    def work(session: Session) -> ReplyCheckOut:
        problems = desk.reply_problems(session, svc.desk, who, oid, draft)
        missing = missing_parts(svc.desk.preset.reply, draft)
        return ReplyCheckOut(accepted=not problems, problems=problems,
                             missing=[p.value for p in missing])

    return reply(await reading(request, work))


# ------------------------------------------------------------------ supervision & dispatch data


@routes.post("/api/supervision/run", body=NO_BODY, response=SupervisionRunOut,
             tag="supervision")
async def run_supervision_now(request: web.Request) -> web.Response:
    """Remind overdue units' A/B liaisons; start special supervision."""
    svc, who = _who(request)
    if who.role not in (Role.SUPERVISOR, Role.DISPATCHER):
        raise json_error(403, f"{who.role.value} may not run supervision")
    result = await in_transaction(request, lambda s: run_supervision(s, svc.desk))
    return reply(SupervisionRunOut(reminders=result.reminders, special=result.special))


@routes.get("/api/supervision/lights", query=LightsQuery, response=LightList,
            tag="supervision")
async def list_lights(request: web.Request) -> web.Response:
    """Lights (红黄绿灯) of open orders; a unit sees its own."""
    svc, who = _who(request)
    q = read_query(request, LightsQuery)
    unit = who.unit if who.role is Role.UNIT else q.unit

    def work(session: Session) -> LightList:
        rows = lights(session, svc.desk.preset, svc.desk.now(), unit)
        return LightList(lights=[LightOut(
            order_id=r.order_id, lead_unit=r.lead_unit,
            due_at=r.due_at.astimezone(svc.desk.zone).isoformat(), light=r.light.value)
            for r in rows])

    return reply(await in_transaction(request, work))


def _csv_import(path: str, summary: str, importer: Callable[[Session, str], int]) -> None:
    async def handler(request: web.Request) -> web.Response:
        _svc, who = _who(request)
        if who.role not in (Role.DISPATCHER, Role.SUPERVISOR):
            raise json_error(403, f"{who.role.value} may not import dispatch data")
        content = await read_csv(request)
        count = await in_transaction(request, lambda s: importer(s, content))
        return reply(ImportedOut(imported=count))

    routes.add("POST", path, handler, body=CsvText, body_media_type="text/csv",
               response=ImportedOut, tag="dispatch data", summary=summary)


_csv_import("/api/dispatch/units", "Import units CSV (text/csv)", import_units)
_csv_import("/api/dispatch/responsibility-list",
            "Replace the responsibility list from CSV (text/csv)", import_responsibility_list)
_csv_import("/api/dispatch/gazetteer", "Replace the gazetteer from CSV (text/csv)",
            import_gazetteer)


@routes.get("/api/dispatch/route", query=DispatchPreviewQuery, response=DispatchPreviewOut,
            tag="dispatch data")
async def preview_dispatch(request: web.Request) -> web.Response:
    """Preview which units an order would go to: matter, locality, address."""
    _who(request)
    q = read_query(request, DispatchPreviewQuery)

    def work(session: Session) -> DispatchPreviewOut:
        r = choose_units(session, q.matter, q.locality, q.address)
        return DispatchPreviewOut(lead=r.lead, assists=list(r.assists),
                                  reasons=list(r.reasons), approval=r.approval)

    return reply(await in_transaction(request, work))


register = routes.register
