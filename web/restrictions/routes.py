"""The restriction list over HTTP (限制呼入, R-RESTRICT): supervisors restrict a number for
a number of natural days with a reason, lift it early (audited), and read hits and audit.

The length, when the request names none, is the active rule preset's ``[restriction] days``
(``presets/<name>.toml``; huizhou's rule: 30 natural days); the core passes it in.

Answers show numbers masked (:func:`hotline_core.masking.mask_phone`), for supervisors
too: the audit is read to see who restricted whom and why, not to collect numbers.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from aiohttp import web

from hotline_core.access import Principal, Role
from hotline_core.masking import mask_phone
from web.api import Routes, read_body, reply
from web.errors import json_error
from web.keys import need
from web.requests import principal
from web.restrictions.schemas import (
    AuditEntryOut,
    AuditOut,
    HitOut,
    LiftBody,
    LiftedOut,
    RestrictBody,
    RestrictionOut,
)
from web.restrictions.services import RESTRICTIONS, RestrictionServices

routes = Routes(tag="restrictions")


def _supervisor(request: web.Request) -> tuple[RestrictionServices, Principal]:
    svc = need(request, RESTRICTIONS, "the restriction list is not configured in this process")
    who = principal(request, svc.access)
    if who.role is not Role.SUPERVISOR:
        raise json_error(403, "only supervisors manage the restriction list")
    return svc, who


def _masked(item: Any) -> dict[str, Any]:
    """A restriction, audit entry or hit as an answer: its number masked."""
    data = dataclasses.asdict(item)
    data["number"] = mask_phone(str(data["number"]))
    return data


@routes.post("/api/restrictions", body=RestrictBody, response=RestrictionOut, status=201)
async def restrict(request: web.Request) -> web.Response:
    """Restrict a number for N natural days (supervisor)."""
    svc, who = _supervisor(request)
    body = await read_body(request, RestrictBody)
    days = body.days if body.days is not None else svc.days
    entry = await svc.restrictions.restrict(body.number, body.reason.strip(), by=who.name,
                                            days=days)
    return reply(RestrictionOut.model_validate(_masked(entry)), status=201)


@routes.post("/api/restrictions/{number}/lift", body=LiftBody, response=LiftedOut)
async def lift(request: web.Request) -> web.Response:
    """Lift a restriction early (audited)."""
    svc, who = _supervisor(request)
    body = await read_body(request, LiftBody)
    number = request.match_info["number"]
    if not await svc.restrictions.lift(number, by=who.name, reason=body.reason.strip()):
        raise json_error(404, f"{mask_phone(number)} is not on the restriction list")
    return reply(LiftedOut(number=mask_phone(number), lifted=True))


@routes.get("/api/restrictions/audit", response=AuditOut)
async def audit(request: web.Request) -> web.Response:
    """Restriction audit trail and hits."""
    svc, _who = _supervisor(request)
    entries = await svc.restrictions.audit()
    hits = await svc.restrictions.hits()
    return reply(AuditOut(audit=[AuditEntryOut.model_validate(_masked(e)) for e in entries],
                          hits=[HitOut.model_validate(_masked(h)) for h in hits]))


register = routes.register
