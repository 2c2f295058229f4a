"""Reading API requests: the bearer token's (or the signed-in person's) principal, ids in
the path, the checks every JSON body gets (valid JSON, an object, no NUL or lone surrogate)
and CSV uploads. Fields are validated by each package's models (:func:`web.api.read_body`)."""

from __future__ import annotations

import json
import re
from typing import Any

from aiohttp import web

from hotline_core.access import AccessPolicy, Principal
from web.errors import json_error, unusable_text

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


# The principal of a person signed in with the session cookie (web/people.py sets
# it; a request carrying Authorization is never cookie-authenticated).
PERSON: web.RequestKey[Principal] = web.RequestKey("person", Principal)


def principal(request: web.Request, policy: AccessPolicy) -> Principal:
    """Who sends the request: the bearer token's principal, or the signed-in person's."""
    header = request.headers.get("Authorization", "")
    if not header and PERSON in request:
        return request[PERSON]
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise json_error(401, "missing bearer token: send 'Authorization: Bearer <token>' "
                              "(people sign in: POST /api/session)")
    who = policy.principal_for(token.strip())
    if who is None:
        raise json_error(401, "unknown bearer token")
    return who


def optional_principal(request: web.Request, policy: AccessPolicy) -> Principal | None:
    """The caller on a route that also answers the public: None without a token and
    without a signed-in person; an unknown token is still refused (401)."""
    if "Authorization" not in request.headers:
        return request[PERSON] if PERSON in request else None
    return principal(request, policy)


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
