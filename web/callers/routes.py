"""Caller flags over HTTP: mark a number as needing help (elderly, dialect — R-ELDERLY) so
the caller is served first next time; agents and supervisors may set and clear it.
Answers echo the number masked."""

from __future__ import annotations

import re

from aiohttp import web

from hotline_core.access import Role
from hotline_core.masking import mask_phone
from web.api import Routes, read_body, reply
from web.callers.schemas import PHONE_NUMBER, FlagBody, FlagOut
from web.callers.services import CALLERS, CallerServices
from web.errors import json_error
from web.keys import need
from web.requests import principal

routes = Routes(tag="callers")
_NUMBER = re.compile(PHONE_NUMBER)
PATH = "/api/callers/{number}/needs-help"


def _check(request: web.Request) -> tuple[CallerServices, str]:
    svc = need(request, CALLERS, "caller flags are not configured in this process")
    who = principal(request, svc.access)
    if who.role not in (Role.OPERATOR, Role.SUPERVISOR):
        raise json_error(403, f"role {who.role.value} may not flag callers")
    number = request.match_info["number"]
    if not _NUMBER.match(number):
        raise json_error(422, "number: must be a phone number (digits)", field="number")
    return svc, number


@routes.put(PATH, body=FlagBody, response=FlagOut)
async def flag(request: web.Request) -> web.Response:
    """Flag a caller as needing help (served first)."""
    svc, number = _check(request)
    body = await read_body(request, FlagBody)
    await svc.flags.flag(number, body.reason.strip())
    return reply(FlagOut(number=mask_phone(number), needs_help=True))


@routes.delete(PATH, response=FlagOut)
async def unflag(request: web.Request) -> web.Response:
    """Clear a caller's needs-help flag."""
    svc, number = _check(request)
    if not await svc.flags.unflag(number):
        raise json_error(404, f"{mask_phone(number)} is not flagged")
    return reply(FlagOut(number=mask_phone(number), needs_help=False))


register = routes.register
