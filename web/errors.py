"""JSON errors with a reason, for every API route, the request checks every route shares,
and the one table that turns a domain refusal into an HTTP status (:data:`DOMAIN_ERRORS`,
applied by the middleware :func:`web.api.domain_errors`)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from hotline_core.acd import DistributionError
from hotline_core.spy import SpyRefused, SpyUnavailable
from hotline_core.users import UserError
from hotline_core.workorders.csv_import import CsvImportError
from hotline_core.workorders.desk import WorkOrderError
from hotline_core.workorders.dispatch import UnitChoiceError
from hotline_core.workorders.knowledge import NotPending

# Every status aiohttp has a class for (HTTPBadRequest, HTTPConflict, ...), by number.
_BY_STATUS: dict[int, type[web.HTTPException]] = {
    cls.status_code: cls for cls in vars(web).values()
    if isinstance(cls, type) and issubclass(cls, web.HTTPException)
    and isinstance(getattr(cls, "status_code", None), int) and cls.status_code >= 400
}


def error_class(status: int) -> type[web.HTTPException]:
    """aiohttp's exception class for ``status`` (400 for a status it has none for)."""
    return _BY_STATUS.get(status, web.HTTPBadRequest)


def json_error(status: int, reason: str, **extra: Any) -> web.HTTPException:
    """Build an HTTP error whose body is ``{"error": reason, ...}``; raise it from a handler."""
    body = {"error": reason, **extra}
    return error_class(status)(text=json.dumps(body, ensure_ascii=False),
                               content_type="application/json")


def unusable_text(value: str) -> str | None:
    """Why ``value`` cannot be stored or looked up as text, or None when it can.

    PostgreSQL text holds no NUL character, and a lone surrogate (``\\ud800``, legal in
    JSON escapes) has no UTF-8 encoding for either database.
    """
    if "\x00" in value:
        return "contains a NUL character"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "is not valid Unicode (lone surrogate)"
    return None


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def refuse_unusable_urls(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A NUL or an undecodable character in the path or the query is refused with 400
    before any route sees it (a database would fail on it later with a 500)."""
    for name, value in (("path", request.path), *request.query.items()):
        for part in (name, value):
            why = unusable_text(part)
            if why is not None:
                where = "the URL path" if name == "path" else f"query parameter {name!r}"
                raise json_error(400, f"{where} {why.replace('NUL', 'NUL (0x00)')}")
    return await handler(request)


# (status, reason, extra fields of the JSON error) of one domain exception.
Mapped = tuple[int, str, dict[str, Any]]


def _work_order(exc: Exception) -> Mapped:
    assert isinstance(exc, WorkOrderError)
    return exc.status, exc.reason, dict(exc.extra)


def _csv(exc: Exception) -> Mapped:
    assert isinstance(exc, CsvImportError)
    return 422, str(exc), {"problems": [
        {"line": p.line, "column": p.column, "message": p.message} for p in exc.problems]}


def _status(status: int, field: str | None = None) -> Callable[[Exception], Mapped]:
    def mapped(exc: Exception) -> Mapped:
        return status, str(exc), ({"field": field} if field else {})
    return mapped


def _fielded(status: int) -> Callable[[Exception], Mapped]:
    """The exception names its own ``field``."""
    def mapped(exc: Exception) -> Mapped:
        field = getattr(exc, "field", "")
        return status, str(exc), ({"field": field} if field else {})
    return mapped


# Every domain refusal the API answers, by exception type (subclasses included): a new
# domain error is one line here, never a try/except in a handler.
DOMAIN_ERRORS: dict[type[Exception], Callable[[Exception], Mapped]] = {
    WorkOrderError: _work_order,           # carries its own status (404, 403, 409, 422, 503)
    CsvImportError: _csv,                  # an import refused whole, with its problems
    UnitChoiceError: _status(422, "matter"),  # no unit for this matter and place
    NotPending: _status(409),              # a knowledge-base entry not waiting for review
    DistributionError: _status(409),       # an agent state change the distributor refuses
    UserError: _fielded(422),              # a refused user or password change (its field)
    SpyRefused: _status(409),              # a call that cannot be listened in on now
    SpyUnavailable: _status(503),          # AMI down: the supervisor's phone cannot ring
}


def domain_http(exc: Exception) -> Mapped | None:
    """The HTTP answer to a domain exception, or None when it is not a refusal (a bug)."""
    for kind in type(exc).__mro__:
        convert = DOMAIN_ERRORS.get(kind)
        if convert is not None:
            return convert(exc)
    return None
