"""Sign in, who am I, sign out, change the password (登录/退出/修改密码).

Sign-in failures: one answer (401) for an unknown user, a wrong password and a disabled
user; the account locks after ``[signin] max_failures`` wrong passwords in a row (423) — and
so does a name that does not exist (hotline_core/signin_guard.py), so 423 tells nothing
about which accounts exist; one client address may try ``attempts_per_minute`` times a
minute (429), counted in Redis across cores.
"""

from __future__ import annotations

import json

import aiohttp_session
from aiohttp import web
from sqlalchemy.orm import Session

from hotline_core import users
from hotline_core.users import AccountLocked, SignedIn, SigninRefused
from web.access import ANY_ROLE, PUBLIC
from web.api import Routes, read_body, reply
from web.db import in_transaction
from web.errors import json_error
from web.keys import need
from web.people import SIGNIN, TOKEN_KEY, SigninServices, signed_in_person
from web.session.schemas import (
    PasswordBody,
    PasswordChangedOut,
    PersonOut,
    SignedOutOut,
    SigninBody,
)

routes = Routes(tag="session")
MISSING = "sign-in for people is not configured in this process"
class HTTPLocked(web.HTTPClientError):
    """423 Locked (aiohttp has no class for it): the account, not the request, is at fault."""

    status_code = 423


def _locked(outcome: AccountLocked) -> HTTPLocked:
    return HTTPLocked(text=json.dumps({"error": str(outcome),
                                       "locked_until": outcome.until.isoformat()}),
                      content_type="application/json")


def _person_out(person: SignedIn) -> PersonOut:
    who = person.principal
    return PersonOut(user=person.user_name, role=who.role.value, unit=who.unit,
                     agent=person.agent_id, csrf_token=person.csrf_token)


def _signed_in(request: web.Request) -> SignedIn:
    person = signed_in_person(request)
    if person is None:
        raise json_error(401, "not signed in (bearer tokens have no session): "
                              "POST /api/session with user and password")
    return person


@routes.post("/api/session", body=SigninBody, response=PersonOut, access=PUBLIC)
async def sign_in(request: web.Request) -> web.Response:
    """Sign in with a user name and password; sets the session cookie and answers the
    CSRF token for later state changes."""
    svc: SigninServices = need(request, SIGNIN, MISSING)
    body = await read_body(request, SigninBody)
    now = users.utc_now()
    if not await svc.guard.allow_attempt(request.remote or "?", svc.rules.attempts_per_minute,
                                         now):
        raise json_error(429, "too many sign-in attempts from this address: wait a minute")
    until = await svc.guard.unknown_name_locked(body.user, now)
    if until is not None:
        raise _locked(AccountLocked(until))

    def work(db: Session) -> SignedIn | SigninRefused | AccountLocked:
        return users.sign_in(db, body.user, body.password, svc.rules, now)

    outcome = await in_transaction(request, work)   # a failure's count is committed
    if isinstance(outcome, SigninRefused) and outcome.unknown_name:
        until = await svc.guard.unknown_name_failed(
            body.user, svc.rules.max_failures, svc.rules.lock_minutes, now)
        if until is not None:
            outcome = AccountLocked(until)
    if isinstance(outcome, AccountLocked):
        raise _locked(outcome)
    if isinstance(outcome, SigninRefused):
        raise json_error(401, "wrong user name or password")
    # A new cookie for a new session: whatever cookie came in (fixation) is replaced.
    session = await aiohttp_session.new_session(request)
    session[TOKEN_KEY] = outcome.session_key
    return reply(_person_out(outcome))


@routes.get("/api/session", response=PersonOut, access=PUBLIC)  # 401: nobody
async def who_am_i(request: web.Request) -> web.Response:
    """Who is signed in, with the CSRF token (401 when nobody is)."""
    need(request, SIGNIN, MISSING)
    return reply(_person_out(_signed_in(request)))


@routes.delete("/api/session", response=SignedOutOut, access=ANY_ROLE)
async def sign_out(request: web.Request) -> web.Response:
    """Sign out: the session ends on the server, the cookie is dropped."""
    need(request, SIGNIN, MISSING)
    person = _signed_in(request)
    now = users.utc_now()
    await in_transaction(request, lambda db: users.sign_out(db, person.session_key, now))
    (await aiohttp_session.get_session(request)).invalidate()
    return reply(SignedOutOut(signed_out=True))


@routes.post("/api/session/password", body=PasswordBody, response=PasswordChangedOut,
             access=ANY_ROLE)
async def change_password(request: web.Request) -> web.Response:
    """Change one's own password (the old one is required); one's other sessions end."""
    svc = need(request, SIGNIN, MISSING)
    person = _signed_in(request)
    body = await read_body(request, PasswordBody)
    now = users.utc_now()
    await in_transaction(request, lambda db: users.change_password(
        db, person, body.old_password, body.new_password, svc.rules, now))
    return reply(PasswordChangedOut(changed=True))


register = routes.register

