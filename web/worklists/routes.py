"""HTTP API of the platform's worklists (工作清单) and the decisions taken from them.

Lists (GET, newest state of the database, one transaction):
``/api/worklists/dispatch`` (dispatchers, supervisors), ``/api/worklists/quality``
(quality group, supervisors), ``/api/worklists/callback`` (callback group, supervisors),
``/api/worklists/monitoring`` (dispatchers, supervisors), ``/api/worklists/supervision``
(supervisors). Decisions (POST, one transaction, a refusal writes nothing):
``/api/workorders/{order_id}/return-review`` (accept and re-dispatch, or refuse with a
reason) and ``/api/workorders/{order_id}/quality-check`` (approve, or send back with a
reason). The rules are in :mod:`hotline_core.workorders.platform_review`."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TypeVar

from aiohttp import web
from pydantic import BaseModel
from sqlalchemy.orm import Session

from hotline_core.access import Principal, Role
from hotline_core.workorders import platform_review, worklists
from hotline_core.workorders.desk import load, state_of
from web.access import roles
from web.api import Routes, read_body, reply
from web.db import in_transaction
from web.errors import json_error
from web.keys import DESK_MISSING, WORKORDERS, WorkOrderServices, need
from web.requests import ascii_id, principal
from web.worklists.schemas import (
    CallbackListOut,
    DecidedOut,
    DispatchListOut,
    MonitoringListOut,
    QualityCheckBody,
    QualityListOut,
    ReturnReviewBody,
    SupervisionListOut,
)

M = TypeVar("M", bound=BaseModel)
routes = Routes(tag="worklists")
DI, SU, QU, CB = Role.DISPATCHER, Role.SUPERVISOR, Role.QUALITY, Role.CALLBACK
DISPATCH_ROLES = (DI, SU)
QUALITY_ROLES = (QU, SU)
CALLBACK_ROLES = (CB, SU)
MONITORING_ROLES = (DI, SU)
SUPERVISION_ROLES = (SU,)


def _who(request: web.Request, allowed: tuple[Role, ...]) -> tuple[WorkOrderServices,
                                                                    Principal]:
    svc = need(request, WORKORDERS, DESK_MISSING)
    who = principal(request, svc.access)
    if who.role not in allowed:   # the gate checks too; a bearer-less composition still
        raise json_error(403, f"role {who.role.value} may not read this worklist")
    return svc, who


def _order_id(request: web.Request) -> int:
    raw = request.match_info["order_id"]
    oid = ascii_id(raw)
    if oid is None:
        raise json_error(404, f"work order {raw!r} does not exist")
    return oid


async def _list(request: web.Request, allowed: tuple[Role, ...], model: type[M],
                build: Callable[[Session, WorkOrderServices], object]) -> web.Response:
    svc, _who_ = _who(request, allowed)

    def work(session: Session) -> M:
        return model.model_validate(_plain(build(session, svc)))

    return reply(await in_transaction(request, work))


def _plain(value: object) -> object:
    """Dataclasses of the domain as the dicts the answer models validate."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    return value


@routes.get("/api/worklists/dispatch", response=DispatchListOut,
            access=roles(*DISPATCH_ROLES))
async def dispatch_list(request: web.Request) -> web.Response:
    """Orders to dispatch with the routing preview, and returns to review (退单审核)."""
    return await _list(request, DISPATCH_ROLES, DispatchListOut,
                       lambda s, svc: worklists.dispatch_list(s, svc.desk))


@routes.get("/api/worklists/quality", response=QualityListOut, access=roles(*QUALITY_ROLES))
async def quality_list(request: web.Request) -> web.Response:
    """Replies waiting for the quality check (质检), with the reply check's findings."""
    return await _list(request, QUALITY_ROLES, QualityListOut, lambda s, svc: {
        "replies": [dataclasses.asdict(r) for r in worklists.quality_list(s, svc.desk)]})


@routes.get("/api/worklists/callback", response=CallbackListOut,
            access=roles(*CALLBACK_ROLES))
async def callback_list(request: web.Request) -> web.Response:
    """Orders waiting for their callback (回访): time left, the automated callback's outcome."""
    return await _list(request, CALLBACK_ROLES, CallbackListOut, lambda s, svc: {
        "orders": [dataclasses.asdict(r) for r in worklists.callback_list(s, svc.desk)]})


@routes.get("/api/worklists/monitoring", response=MonitoringListOut,
            access=roles(*MONITORING_ROLES))
async def monitoring_list(request: web.Request) -> web.Response:
    """The monitoring pool (监测池): open C/D orders, ledger orders, their reminders."""
    return await _list(request, MONITORING_ROLES, MonitoringListOut, lambda s, svc: {
        "orders": [dataclasses.asdict(r) for r in worklists.monitoring_list(s, svc.desk)]})


@routes.get("/api/worklists/supervision", response=SupervisionListOut,
            access=roles(*SUPERVISION_ROLES))
async def supervision_list(request: web.Request) -> web.Response:
    """Yellow and red orders and special supervision (专项督办)."""
    return await _list(request, SUPERVISION_ROLES, SupervisionListOut, lambda s, svc: {
        "orders": [dataclasses.asdict(r) for r in worklists.supervision_list(s, svc.desk)]})


def _decided(session: Session, order_id: int) -> DecidedOut:
    session.flush()
    order = load(session, order_id)
    state = state_of(session, order)
    return DecidedOut(order_id=order.id, status=state.status.value, lead_unit=state.lead_unit,
                      return_waiting=state.return_pending_from is not None,
                      quality_approved=state.quality_approved)


@routes.post("/api/workorders/{order_id}/return-review", body=ReturnReviewBody,
             response=DecidedOut, tag="dispatch", access=roles(*DISPATCH_ROLES))
async def review_return(request: web.Request) -> web.Response:
    """Review a unit's return (退单审核): accept and re-dispatch (改派), or refuse with a
    reason (back to the returning unit); 409 when no return waits for review."""
    svc, who = _who(request, DISPATCH_ROLES)
    oid = _order_id(request)
    body = await read_body(request, ReturnReviewBody)

    def work(session: Session) -> DecidedOut:
        if body.decision == "accept":
            platform_review.accept_return(
                session, svc.desk, who, oid, lead=body.lead.strip() or None,
                assists=[a.strip() for a in body.assists if a.strip()], reason=body.reason)
        else:
            platform_review.refuse_return(session, svc.desk, who, oid, body.reason)
        return _decided(session, oid)

    return reply(await in_transaction(request, work))


@routes.post("/api/workorders/{order_id}/quality-check", body=QualityCheckBody,
             response=DecidedOut, tag="quality", access=roles(*QUALITY_ROLES))
async def quality_check(request: web.Request) -> web.Response:
    """Quality check of the current reply (质检): approve, or send back with a reason (the
    lead unit replies again); 409 when the order waits for no check."""
    svc, who = _who(request, QUALITY_ROLES)
    oid = _order_id(request)
    body = await read_body(request, QualityCheckBody)

    def work(session: Session) -> DecidedOut:
        if body.decision == "approve":
            platform_review.approve_reply(session, svc.desk, who, oid, body.reason)
        else:
            platform_review.send_reply_back(session, svc.desk, who, oid, body.reason)
        return _decided(session, oid)

    return reply(await in_transaction(request, work))


register = routes.register
