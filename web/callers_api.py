"""Caller flags over HTTP: mark a number as needing help (elderly, dialect — R-ELDERLY) so
the caller is served first next time; agents and supervisors may set and clear it.
Answers echo the number masked."""

from __future__ import annotations

import dataclasses
import re

from aiohttp import web

from hotline_core.access import AccessPolicy, Role
from hotline_core.acd.caller_flags import CallerFlags
from hotline_core.masking import mask_phone
from web import keys
from web.errors import json_error
from web.workorders_requests import json_body, principal

_NUMBER = re.compile(r"^\+?[0-9]{3,20}$")


@dataclasses.dataclass(frozen=True)
class CallerServices:
    flags: CallerFlags
    access: AccessPolicy


def _check(request: web.Request) -> tuple[CallerServices, str]:
    svc = request.app[keys.SERVICES].get("callers")
    if not isinstance(svc, CallerServices):
        raise json_error(503, "caller flags are not configured in this process")
    who = principal(request, svc.access)
    if who.role not in (Role.OPERATOR, Role.SUPERVISOR):
        raise json_error(403, f"role {who.role.value} may not flag callers")
    number = request.match_info["number"]
    if not _NUMBER.match(number):
        raise json_error(422, "number: must be a phone number (digits)")
    return svc, number


async def flag(request: web.Request) -> web.Response:
    """Flag a caller as needing help (served first)."""
    svc, number = _check(request)
    body = await json_body(request)
    reason = body.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        raise json_error(422, "reason: say why the caller needs help (e.g. elderly, dialect)")
    await svc.flags.flag(number, reason.strip())
    return web.json_response({"number": mask_phone(number), "needs_help": True})


async def unflag(request: web.Request) -> web.Response:
    """Clear a caller's needs-help flag."""
    svc, number = _check(request)
    if not await svc.flags.unflag(number):
        raise json_error(404, f"{mask_phone(number)} is not flagged")
    return web.json_response({"number": mask_phone(number), "needs_help": False})


def register(app: web.Application) -> None:
    app.router.add_put("/api/callers/{number}/needs-help", flag)
    app.router.add_delete("/api/callers/{number}/needs-help", unflag)
