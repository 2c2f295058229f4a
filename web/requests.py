"""Reading API requests: bearer-token principal, JSON bodies and typed fields.

Every problem becomes a JSON error naming the field, before anything is written.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, tzinfo
from enum import StrEnum
from typing import Any, TypeVar

from aiohttp import web

from hotline_core.access import AccessPolicy, Principal
from hotline_core.clock import in_zone
from web.errors import json_error, unusable_text

E = TypeVar("E", bound=StrEnum)

# Ids and stored whole numbers are signed 32-bit integers in SQLite and PostgreSQL alike.
INT_MAX = 2**31 - 1
INT_MIN = -(2**31)
_ASCII_DIGITS = re.compile(r"[0-9]{1,10}")


def ascii_id(raw: str) -> int | None:
    """The positive id written in ``raw`` with ASCII digits only, or None.

    ``str.isdigit`` is not enough: ``"²"`` and ``"١"`` (Arabic-Indic one) are digits to
    Python, and ``int("١")`` is 1 — a second spelling of every id.
    """
    if not _ASCII_DIGITS.fullmatch(raw):
        return None
    value = int(raw)
    return value if 1 <= value <= INT_MAX else None


def principal(request: web.Request, policy: AccessPolicy) -> Principal:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise json_error(401, "missing bearer token: send 'Authorization: Bearer <token>'")
    who = policy.principal_for(token.strip())
    if who is None:
        raise json_error(401, "unknown bearer token")
    return who


async def read_csv(request: web.Request) -> str:
    """A CSV upload's text; 400 when it is not UTF-8."""
    try:
        return (await request.read()).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise json_error(400, f"CSV must be UTF-8: {exc}") from None


async def json_body(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except RecursionError:
        raise json_error(400, "body is not usable JSON: nested too deeply") from None
    except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError, over-long integers
        raise json_error(400, f"body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise json_error(400, "body must be a JSON object")
    _check_strings(data)
    return data


def _check_strings(data: dict[str, Any]) -> None:
    """Refuse a NUL or a lone surrogate in any key or string of the body, naming where."""
    stack: list[tuple[str, Any]] = [("", data)]
    while stack:
        where, value = stack.pop()
        if isinstance(value, dict):
            for key, item in value.items():
                name = f"{where}.{key}" if where else str(key)
                why = unusable_text(key)
                if why is not None:
                    raise json_error(400, f"{name!r}: the key {why}", field=name)
                stack.append((name, item))
        elif isinstance(value, list):
            stack.extend((f"{where}[{i}]", item) for i, item in enumerate(value))
        elif isinstance(value, str):
            why = unusable_text(value)
            if why is not None:
                raise json_error(400, f"{where}: {why}", field=where)


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


def integer(body: dict[str, Any], field: str, default: int | None = None, *,
            lo: int = INT_MIN, hi: int = INT_MAX) -> int:
    value = body.get(field, default)
    if value is None:
        raise _bad(field, "is required")
    if isinstance(value, bool) or not isinstance(value, int):
        raise _bad(field, "must be a whole number")
    if not lo <= value <= hi:
        raise _bad(field, f"must be between {lo} and {hi}")
    return value


def choice(kind: type[E], value: Any, field: str) -> E:
    try:
        return kind(value)
    except ValueError:
        raise _bad(field, f"{value!r} is not one of {[m.value for m in kind]}") from None


def timestamp(body: dict[str, Any], field: str, zone: tzinfo, *,
              required: bool = False) -> datetime | None:
    """An ISO 8601 date-time as an aware instant; without an offset it is wall-clock time
    in the hotline's ``zone``."""
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
    return in_zone(parsed, zone)


def strings(body: dict[str, Any], field: str) -> list[str]:
    value = body.get(field, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _bad(field, "must be a list of strings")
    return list(value)


def query_int(request: web.Request, name: str, default: int, lo: int, hi: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    if not re.fullmatch(r"-?[0-9]{1,12}", raw):  # ASCII digits only: int("١٠") is 10
        raise _bad(name, f"{raw!r} is not a whole number")
    value = int(raw)
    if not lo <= value <= hi:
        raise _bad(name, f"must be between {lo} and {hi}")
    return value
