"""JSON errors with a reason, for every API route."""

from __future__ import annotations

from typing import Any

from aiohttp import web


def json_error(status: int, reason: str, **extra: Any) -> web.HTTPException:
    """Build an HTTP error whose body is ``{"error": reason, ...}``; raise it from a handler."""
    cls = web.HTTPException
    for candidate in (web.HTTPBadRequest, web.HTTPForbidden, web.HTTPNotFound,
                      web.HTTPConflict, web.HTTPUnprocessableEntity, web.HTTPUnauthorized,
                      web.HTTPServiceUnavailable):
        if candidate.status_code == status:
            cls = candidate
            break
    body = {"error": reason, **extra}
    import json

    return cls(text=json.dumps(body, ensure_ascii=False), content_type="application/json")
