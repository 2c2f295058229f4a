"""Transfer routes: the agent on the call (or a supervisor) transfers it to 110/119/120/122;
everyone who may read call records reads a call's transfers."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from hotline_core.access import Principal, Role
from hotline_core.transfers import CallTransfer, TransferError, TransferMode
from web.api import NO_BODY, Routes, read_body, reply
from web.errors import json_error
from web.keys import need
from web.requests import principal
from web.transfers.schemas import (
    ListCategory,
    TransferBody,
    TransferList,
    TransferListOut,
    TransferOut,
)
from web.transfers.services import TRANSFERS, TransferServices

routes = Routes(tag="transfers")
READERS = {Role.OPERATOR, Role.DISPATCHER, Role.SUPERVISOR, Role.CALLBACK}


def _services(request: web.Request) -> TransferServices:
    return need(request, TRANSFERS, "call transfers are not configured in this process")


def _utc(value: datetime | None) -> datetime | None:
    """Instants are written in UTC; SQLite gives them back without the zone."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _out(row: CallTransfer) -> TransferOut:
    requested = _utc(row.requested_at)
    assert requested is not None
    return TransferOut(id=row.id, call_id=row.call_record_id, target=row.target,
                       mode=row.mode, requested_by=row.requested_by,
                       requested_at=requested, answered_at=_utc(row.answered_at),
                       ended_at=_utc(row.ended_at), outcome=row.outcome, detail=row.detail)


def _call_id(request: web.Request) -> str:
    call_id = request.match_info["call_id"]
    # Asterisk unique ids: digits and one dot.
    if not (0 < len(call_id) <= 64 and call_id.replace(".", "", 1).isdigit()):
        raise json_error(404, "no such call")
    return call_id


@routes.post("/api/calls/{call_id}/transfer", body=TransferBody, response=TransferOut,
             status=201)
async def transfer(request: web.Request) -> web.Response:
    """Transfer a call to an emergency centre (一键转接 / 三方通话)."""
    svc = _services(request)
    who: Principal = principal(request, svc.access)
    if who.role not in (Role.OPERATOR, Role.SUPERVISOR):
        raise json_error(403, f"role {who.role.value} may not transfer calls")
    call_id = _call_id(request)
    body = await read_body(request, TransferBody)
    try:
        transfer_id = await svc.transferrer.start(
            call_id, body.target, TransferMode(body.mode), who.name,
            who.role is Role.SUPERVISOR)
    except TransferError as exc:
        extra: dict[str, Any] = {"field": exc.field} if exc.field else {}
        raise json_error(exc.status, str(exc), **extra) from None
    row = await asyncio.to_thread(svc.store.get, transfer_id)
    if row is None:  # pragma: no cover - written before start() returned
        raise json_error(500, "transfer row missing")
    return reply(_out(row), status=201)


async def _finish(request: web.Request, complete: bool) -> web.Response:
    svc = _services(request)
    who = principal(request, svc.access)
    if who.role not in (Role.OPERATOR, Role.SUPERVISOR):
        raise json_error(403, f"role {who.role.value} may not transfer calls")
    raw = request.match_info["transfer_id"]
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 18):
        raise json_error(404, "no such transfer")
    try:
        await svc.transferrer.finish(int(raw), complete, who.name,
                                     who.role is Role.SUPERVISOR)
    except TransferError as exc:
        extra: dict[str, Any] = {"field": exc.field} if exc.field else {}
        raise json_error(exc.status, str(exc), **extra) from None
    row = await asyncio.to_thread(svc.store.get, int(raw))
    if row is None:  # pragma: no cover - finish() found it under way
        raise json_error(404, "no such transfer")
    return reply(_out(row))


@routes.post("/api/transfers/{transfer_id}/complete", body=NO_BODY, response=TransferOut)
async def complete(request: web.Request) -> web.Response:
    """Complete an attended transfer: the citizen joins the centre, the agent leaves."""
    return await _finish(request, True)


@routes.post("/api/transfers/{transfer_id}/cancel", body=NO_BODY, response=TransferOut)
async def cancel(request: web.Request) -> web.Response:
    """Cancel an attended transfer: the centre's leg ends, the citizen is back with the
    agent."""
    return await _finish(request, False)


@routes.get("/api/calls/{call_id}/transfers", response=TransferList)
async def transfers_of_call(request: web.Request) -> web.Response:
    """A call's transfers: target, mode, times and outcome."""
    svc = _services(request)
    who = principal(request, svc.access)
    if who.role not in READERS:
        raise json_error(403, f"role {who.role.value} may not read call records")
    rows = await asyncio.to_thread(svc.store.of_call, _call_id(request))
    return reply(TransferList(transfers=[_out(r) for r in rows]))


@routes.get("/api/transfer-list", response=TransferListOut)
async def transfer_list(request: web.Request) -> web.Response:
    """The two-way transfer list: which matters go to 110/119/120/122 and come back."""
    svc = _services(request)
    who = principal(request, svc.access)
    if who.role not in READERS:
        raise json_error(403, f"role {who.role.value} may not read the transfer list")
    if svc.transfer_list is None:
        raise json_error(503, "no transfer list is configured in this process")
    tl = svc.transfer_list
    return reply(TransferListOut(
        outbound=[ListCategory(category=c.category, centre=c.target, items=list(c.items))
                  for c in tl.outbound],
        inbound=[ListCategory(category=c.category, centre=c.source, items=list(c.items))
                 for c in tl.inbound]))


register = routes.register
