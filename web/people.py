"""The session cookie of a signed-in person (登录会话), its CSRF check, and what pages and
routes ask about the person (:func:`signed_in_person`, :func:`require_person`). Shared by
every resource package (the sign-in routes are in ``web/session/``).

The cookie (:data:`COOKIE_NAME`) is encrypted and authenticated by aiohttp-session's
``EncryptedCookieStorage`` (Fernet) with the key of :class:`SigninServices`; it holds only
the session token. The token names a row in ``user_sessions`` (:mod:`hotline_core.users`),
looked up on every request, so signing out ends a session even for a copied cookie.

A request that carries ``Authorization`` is a machine's: the cookie is not read, and no
CSRF token is asked. A state-changing request (POST, PUT, PATCH, DELETE) that is
authenticated by the cookie must send the session's CSRF token in :data:`CSRF_HEADER`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hmac
from collections.abc import Collection
from typing import Any

import aiohttp_session
from aiohttp import web
from aiohttp_session.cookie_storage import EncryptedCookieStorage
from cryptography.fernet import Fernet

from hotline_core.access import Role
from hotline_core.signin_guard import SigninGuard
from hotline_core.users import SignedIn, SigninTable, signed_in, utc_now
from web import keys
from web.errors import Handler, json_error
from web.requests import PERSON

COOKIE_NAME = "hotline_session"
CSRF_HEADER = "X-CSRF-Token"
TOKEN_KEY = "token"              # the session token inside the encrypted cookie
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Signing in is the one state change made without a session's CSRF token (there is none
# yet); it always starts a new session, so a planted cookie gains nothing.
CSRF_EXEMPT = frozenset({("POST", "/api/session")})


@dataclasses.dataclass(frozen=True)
class SigninServices:
    """What sign-in needs, under :data:`SIGNIN`: the ``[signin]`` rules, the cookie key and
    whether the cookie may only travel over HTTPS."""

    rules: SigninTable
    cookie_key: bytes               # a Fernet key (32 bytes, url-safe base64); never logged
    secure_cookie: bool             # the stack serves HTTPS: the cookie travels only over it
    # Attempts per address and unknown names' lock-out; the stack gives it Redis (shared by
    # every core), a composition without one counts in this process.
    guard: SigninGuard = dataclasses.field(default_factory=lambda: SigninGuard(None))

    def __repr__(self) -> str:      # the key stays out of any log or traceback
        return f"SigninServices(rules={self.rules!r}, secure_cookie={self.secure_cookie})"


SIGNIN = web.AppKey("signin", SigninServices)


SIGNED_IN: web.RequestKey[SignedIn] = web.RequestKey("signed_in", SignedIn)


def cookie_storage(svc: SigninServices) -> EncryptedCookieStorage:
    # A Fernet object: given bytes, the storage would base64-encode them a second time.
    return EncryptedCookieStorage(
        Fernet(svc.cookie_key), cookie_name=COOKIE_NAME, httponly=True, samesite="Strict",
        secure=svc.secure_cookie, max_age=svc.rules.session_hours * 3600)


_STORAGE: web.AppKey[dict[str, Any]] = web.AppKey("session_storage", dict)


def install(app: web.Application) -> bool:
    """Called by :func:`web.app.create_app` after the services: with :data:`SIGNIN`
    provided, the cookie storage is made once for the app and True is returned (without
    it the process serves bearer tokens only)."""
    svc = app.get(SIGNIN)
    if svc is None:
        return False
    app[_STORAGE] = {"middleware": aiohttp_session.session_middleware(cookie_storage(svc))}
    return True


def signed_in_person(request: web.Request) -> SignedIn | None:
    """The person signed in with this request's cookie, or None."""
    return request[SIGNED_IN] if SIGNED_IN in request else None


def require_person(request: web.Request, roles: Collection[Role]) -> SignedIn:
    """For pages: the signed-in person of one of ``roles``; otherwise a redirect to the
    sign-in page (not signed in) or 403 (another role)."""
    person = signed_in_person(request)
    if person is None:
        raise web.HTTPFound(f"/signin?next={request.rel_url.path}")
    if person.principal.role not in roles:
        raise json_error(403, f"role {person.principal.role.value} may not open this page")
    return person


@web.middleware
async def people(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Reads the session cookie (when this process signs people in) and checks the CSRF
    token of a cookie-authenticated state change."""
    held = request.app.get(_STORAGE)
    if held is None:
        return await handler(request)
    cookie_mw = held["middleware"]

    async def inner(req: web.Request) -> web.StreamResponse:
        await _identify(req)
        return await handler(req)

    response: web.StreamResponse = await cookie_mw(request, inner)
    return response


async def _identify(request: web.Request) -> None:
    if "Authorization" in request.headers or COOKIE_NAME not in request.cookies:
        return
    session = await aiohttp_session.get_session(request)
    token = session.get(TOKEN_KEY)
    if not isinstance(token, str) or not token:
        return
    svc = request.app[SIGNIN]
    maker = request.app[keys.SESSIONMAKER]

    def look_up() -> SignedIn | None:
        with maker() as db:
            return signed_in(db, token, svc.rules, utc_now())

    person = await asyncio.to_thread(look_up)
    if person is None:
        session.invalidate()       # ended or expired: the browser drops the cookie
        return
    request[SIGNED_IN] = person
    request[PERSON] = person.principal
    if request.method not in SAFE_METHODS and (request.method, request.path) not in CSRF_EXEMPT:
        sent = request.headers.get(CSRF_HEADER, "")
        if not hmac.compare_digest(sent.encode("utf-8", "replace"),
                                   person.csrf_token.encode()):
            raise json_error(403, f"missing or wrong CSRF token: a signed-in request that "
                                  f"changes something must send the header {CSRF_HEADER} "
                                  "with the csrf_token of GET /api/session",
                             field=CSRF_HEADER)
