"""The restriction list over HTTP (限制呼入, R-RESTRICT): supervisors restrict a number for
a number of natural days with a reason, lift it early (audited), and read hits and audit.

The length, when the request names none, is the active rule preset's ``[restriction] days``
(``presets/<name>.toml``; huizhou's rule: 30 natural days); the core passes it in.

Answers show numbers masked (:func:`hotline_core.masking.mask_phone`), for supervisors
too: the audit is read to see who restricted whom and why, not to collect numbers.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from aiohttp import web

from hotline_core.acd.restriction import RestrictionList
from hotline_core.masking import mask_phone
from hotline_core.access import AccessPolicy, Principal, Role
from web import keys
from web.errors import json_error
from web.workorders_requests import json_body, principal

_NUMBER = re.compile(r"^\+?[0-9]{3,20}$")


@dataclasses.dataclass(frozen=True)
class RestrictionServices:
    restrictions: RestrictionList
    access: AccessPolicy
    days: int   # the active preset's [restriction] days (Preset.restriction_days)


def _services(request: web.Request) -> RestrictionServices:
    svc = request.app[keys.SERVICES].get("restrictions")
    if not isinstance(svc, RestrictionServices):
        raise json_error(503, "the restriction list is not configured in this process")
    return svc


def _supervisor(request: web.Request, svc: RestrictionServices) -> Principal:
    who = principal(request, svc.access)
    if who.role is not Role.SUPERVISOR:
        raise json_error(403, "only supervisors manage the restriction list")
    return who


def _reason(body: dict[str, Any]) -> str:
    reason = body.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        raise json_error(422, "reason: is required (why the number is restricted or lifted)")
    return reason.strip()


async def restrict(request: web.Request) -> web.Response:
    """Restrict a number for N natural days (supervisor)."""
    svc = _services(request)
    who = _supervisor(request, svc)
    body = await json_body(request)
    number = body.get("number")
    if not isinstance(number, str) or not _NUMBER.match(number):
        raise json_error(422, "number: must be a phone number (digits)")
    days = body.get("days", svc.days)
    if not isinstance(days, int) or isinstance(days, bool) or not 1 <= days <= 366:
        raise json_error(422, "days: must be a whole number of days, 1-366")
    entry = await svc.restrictions.restrict(number, _reason(body), by=who.name, days=days)
    return web.json_response(_masked(entry), status=201)


async def lift(request: web.Request) -> web.Response:
    """Lift a restriction early (audited)."""
    svc = _services(request)
    who = _supervisor(request, svc)
    body = await json_body(request)
    number = request.match_info["number"]
    if not await svc.restrictions.lift(number, by=who.name, reason=_reason(body)):
        raise json_error(404, f"{mask_phone(number)} is not on the restriction list")
    return web.json_response({"number": mask_phone(number), "lifted": True})


async def audit(request: web.Request) -> web.Response:
    """Restriction audit trail and hits."""
    svc = _services(request)
    _supervisor(request, svc)
    entries = await svc.restrictions.audit()
    hits = await svc.restrictions.hits()
    return web.json_response({"audit": [_masked(e) for e in entries],
                              "hits": [_masked(h) for h in hits]})


def _masked(item: Any) -> dict[str, Any]:
    """A restriction, audit entry or hit as an answer: its number masked."""
    data = dataclasses.asdict(item)
    data["number"] = mask_phone(str(data["number"]))
    return data


def register(app: web.Application) -> None:
    app.router.add_post("/api/restrictions", restrict)
    app.router.add_post("/api/restrictions/{number}/lift", lift)
    app.router.add_get("/api/restrictions/audit", audit)
