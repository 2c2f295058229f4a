"""Reading API requests: bearer-token principal, JSON bodies and typed fields.

Every problem becomes a JSON error naming the field, before anything is written.
"""

from __future__ import annotations

import json
from datetime import datetime
from enum import StrEnum
from typing import Any, TypeVar

from aiohttp import web

from hotline_core.workorders.access import AccessPolicy, Principal
from web.errors import json_error

E = TypeVar("E", bound=StrEnum)


def principal(request: web.Request, policy: AccessPolicy) -> Principal:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise json_error(401, "missing bearer token: send 'Authorization: Bearer <token>'")
    who = policy.principal_for(token.strip())
    if who is None:
        raise json_error(401, "unknown bearer token")
    return who


async def json_body(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise json_error(400, f"body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise json_error(400, "body must be a JSON object")
    return data


def _bad(field: str, message: str) -> web.HTTPException:
    return json_error(422, f"{field}: {message}", field=field)


def text(body: dict[str, Any], field: str, *, required: bool = False, default: str = "",
         max_len: int = 10_000) -> str:
    value = body.get(field)
    if value is None:
        if required:
            raise _bad(field, "is required")
        return default
    if not isinstance(value, str):
        raise _bad(field, f"must be a string, got {type(value).__name__}")
    if required and not value.strip():
        raise _bad(field, "must not be empty")
    if len(value) > max_len:
        raise _bad(field, f"is longer than {max_len} characters")
    return value


def flag(body: dict[str, Any], field: str, default: bool = False) -> bool:
    value = body.get(field, default)
    if not isinstance(value, bool):
        raise _bad(field, "must be true or false")
    return value


def integer(body: dict[str, Any], field: str, default: int | None = None) -> int:
    value = body.get(field, default)
    if value is None:
        raise _bad(field, "is required")
    if isinstance(value, bool) or not isinstance(value, int):
        raise _bad(field, "must be a whole number")
    return value


def choice(kind: type[E], value: Any, field: str) -> E:
    try:
        return kind(value)
    except ValueError:
        raise _bad(field, f"{value!r} is not one of {[m.value for m in kind]}") from None


def timestamp(body: dict[str, Any], field: str, *, required: bool = False) -> datetime | None:
    value = body.get(field)
    if value is None:
        if required:
            raise _bad(field, "is required")
        return None
    if not isinstance(value, str):
        raise _bad(field, "must be an ISO 8601 date-time string")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise _bad(field, f"{value!r} is not an ISO 8601 date-time") from None
    # Hotline time is China Standard Time without zone; convert zone-aware input to it.
    if parsed.tzinfo is not None:
        from datetime import timedelta, timezone

        parsed = parsed.astimezone(timezone(timedelta(hours=8))).replace(tzinfo=None)
    return parsed


def strings(body: dict[str, Any], field: str) -> list[str]:
    value = body.get(field, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _bad(field, "must be a list of strings")
    return list(value)


def query_int(request: web.Request, name: str, default: int, lo: int, hi: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise _bad(name, f"{raw!r} is not a whole number") from None
    if not lo <= value <= hi:
        raise _bad(name, f"must be between {lo} and {hi}")
    return value
