"""Sign-in for people on the composed API (real redis-server, migrated SQLite, the core's
route list): each role signs in and reaches what its role may, wrong passwords and the
lock-out, CSRF on cookie-authenticated changes, sign-out, password change, disabled users,
a new cookie at sign-in, hostile input, the cookie's flags."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from hotline_core import users
from hotline_core.signin_guard import SigninGuard
from hotline_core.users import SigninTable, User, UserSession
from testkit.people import CSRF_HEADER, DEFAULT_PASSWORD, add_user, sign_in
from tests.security.composed import Composed, bearer, composed

COOKIE = "hotline_session"


def _cookie(client: TestClient[Any, Any]) -> str | None:
    for morsel in client.session.cookie_jar:
        if morsel.key == COOKIE:
            return morsel.value
    return None


async def _json(app: Composed, method: str, path: str, body: Any = None,
                csrf: str | None = None) -> tuple[int, Any]:
    headers = {CSRF_HEADER: csrf} if csrf is not None else {}
    resp = await app.client.request(method, path, json=body, headers=headers)
    return resp.status, await resp.json()


def _people(app: Composed) -> None:
    """One user per role; the operator is agent 1001, the unit user is town-chengguan."""
    add_user(app.maker, "op1", "operator", agent_id="1001")
    add_user(app.maker, "qc1", "quality")
    add_user(app.maker, "cb1", "callback")
    add_user(app.maker, "sup1", "supervisor")
    add_user(app.maker, "disp1", "dispatcher")
    add_user(app.maker, "unit1", "unit", unit="town-chengguan")
    add_user(app.maker, "admin1", "admin")


# What each role may read, and one route it may not (403 from the gate or the handler).
ROLE_ROUTES = {
    "op1": ("operator", "/api/calls", "/api/call-figures/day?date=2026-06-08"),
    "qc1": ("quality", "/api/calls", "/api/workorders"),
    "cb1": ("callback", "/api/campaigns/worklist", "/api/restrictions/audit"),
    "sup1": ("supervisor", "/api/restrictions/audit", "POST /api/workorders"),
    "disp1": ("dispatcher", "/api/calls", "/api/campaigns"),
    "unit1": ("unit", "/api/workorders", "/api/calls"),
    "admin1": ("admin", "/api/session", "/api/agents"),
}


async def test_each_role_signs_in_and_reaches_only_its_routes(tmp_path: Path,
                                                               redis_url: str) -> None:
    async with composed(tmp_path, redis_url) as app:
        _people(app)
        for name, (role, allowed, refused) in ROLE_ROUTES.items():
            app.client.session.cookie_jar.clear()
            status, out = await _json(app, "GET", "/api/session")
            assert status == 401, (name, out)
            csrf = await sign_in(app.client, "", name)
            status, out = await _json(app, "GET", "/api/session")
            assert status == 200 and out["user"] == name and out["role"] == role, out
            assert out["csrf_token"] == csrf
            status, out = await _json(app, "GET", allowed)
            assert status == 200, (name, allowed, out)
            method, _, path = refused.rpartition(" ")
            status, out = await _json(app, method or "GET", path, {}, csrf=csrf)
            assert status == 403, (name, refused, status, out)
        # The operator is its agent: the session acts for 1001, never for 1002.
        app.client.session.cookie_jar.clear()
        csrf = await sign_in(app.client, "", "op1")
        status, out = await _json(app, "GET", "/api/session")
        assert out["agent"] == "1001" and out["unit"] is None
        status, out = await _json(app, "POST", "/api/agents/1002/login", {}, csrf=csrf)
        assert status == 403 and "1001 may not change the state of agent 1002" in out["error"]
        status, out = await _json(app, "POST", "/api/agents/1001/login", {}, csrf=csrf)
        assert (status, out["agent"]) == (200, "1001"), out
        assert [a.agent_id for a in await app.distributor.view.agents()] == ["1001"]


async def test_an_operator_cannot_use_supervisor_routes(tmp_path: Path,
                                                        redis_url: str) -> None:
    async with composed(tmp_path, redis_url) as app:
        add_user(app.maker, "op1", "operator", agent_id="1001")
        csrf = await sign_in(app.client, "", "op1")
        for method, path, body in [
                ("GET", "/api/call-figures/day?date=2026-06-08", None),
                ("GET", "/api/campaigns", None),
                ("GET", "/api/restrictions/audit", None),
                ("POST", "/api/restrictions", {"number": "13800000000", "reason": "x"}),
                ("POST", "/api/supervision/run", {})]:
            status, out = await _json(app, method, path, body, csrf=csrf)
            assert status == 403 and "operator" in out["error"], (path, status, out)
        assert await app.restrictions.is_restricted("13800000000") is None


async def test_wrong_password_and_unknown_user_get_one_answer(tmp_path: Path,
                                                              redis_url: str) -> None:
    async with composed(tmp_path, redis_url) as app:
        add_user(app.maker, "sup1", "supervisor")
        for name, password in [("sup1", "not the password"), ("nobody", DEFAULT_PASSWORD),
                               ("SUP1", "not the password")]:
            resp = await app.client.post("/api/session", json={"user": name,
                                                               "password": password})
            assert resp.status == 401
            assert (await resp.json())["error"] == "wrong user name or password"
            assert _cookie(app.client) is None
        # User names are not case-sensitive: SUP1 is sup1.
        await sign_in(app.client, "", "SUP1")


async def test_repeated_failures_lock_the_account(tmp_path: Path, redis_url: str) -> None:
    """[signin] max_failures = 3, lock_minutes = 10: the third wrong password locks sup1;
    then even the right password is refused (423) until the lock ends; sup2 is not
    affected; the lock is lifted by an administrator's new password."""
    rules = SigninTable(max_failures=3, lock_minutes=10)
    async with composed(tmp_path, redis_url, signin=rules) as app:
        add_user(app.maker, "sup1", "supervisor")
        add_user(app.maker, "sup2", "supervisor")
        statuses = []
        for _ in range(3):
            resp = await app.client.post("/api/session", json={"user": "sup1",
                                                               "password": "wrong-wrong"})
            statuses.append(resp.status)
        assert statuses == [401, 401, 423]
        resp = await app.client.post("/api/session", json={"user": "sup1",
                                                           "password": DEFAULT_PASSWORD})
        out = await resp.json()
        assert resp.status == 423 and "locked" in out["error"], out
        assert _cookie(app.client) is None
        with app.maker() as db:
            user = db.scalars(select(User).where(User.name == "sup1")).one()
            locked_until = users._utc(user.locked_until) if user.locked_until else None
            assert locked_until is not None
            minutes = (locked_until - users.utc_now()).total_seconds() / 60
            assert 9 < minutes <= 10
        await sign_in(app.client, "", "sup2")
        with app.maker() as db, db.begin():
            users.set_password(db, "sup1", "a new password 1", rules, users.utc_now())
        await sign_in(app.client, "", "sup1", "a new password 1")


async def test_a_cookie_post_without_the_csrf_token_is_refused(tmp_path: Path,
                                                              redis_url: str) -> None:
    async with composed(tmp_path, redis_url) as app:
        add_user(app.maker, "op1", "operator", agent_id="1001")
        csrf = await sign_in(app.client, "", "op1")
        for sent in (None, "", "forged", csrf + "x"):
            status, out = await _json(app, "POST", "/api/agents/1001/login", {}, csrf=sent)
            assert status == 403 and out["field"] == "X-CSRF-Token", out
            assert "CSRF token" in out["error"]
        status, out = await _json(app, "DELETE", "/api/session")
        assert status == 403 and out["field"] == "X-CSRF-Token"
        assert await app.distributor.view.agents() == []      # nothing happened
        # GET needs no token; a bearer request is no cookie request and needs none either.
        status, _ = await _json(app, "GET", "/api/agents")
        assert status == 200
        resp = await app.client.post("/api/agents/1002/login", json={},
                                     headers=bearer("1002"))
        assert resp.status == 200
        status, out = await _json(app, "POST", "/api/agents/1001/login", {}, csrf=csrf)
        assert status == 200, out


async def test_sign_out_ends_the_session_for_a_copied_cookie_too(tmp_path: Path,
                                                                 redis_url: str) -> None:
    async with composed(tmp_path, redis_url) as app:
        add_user(app.maker, "sup1", "supervisor")
        csrf = await sign_in(app.client, "", "sup1")
        copied = _cookie(app.client)
        assert copied
        status, out = await _json(app, "DELETE", "/api/session", csrf=csrf)
        assert (status, out) == (200, {"signed_out": True})
        status, _ = await _json(app, "GET", "/api/session")
        assert status == 401
        app.client.session.cookie_jar.clear()
        resp = await app.client.get("/api/restrictions/audit",
                                    headers={"Cookie": f"{COOKIE}={copied}"})
        assert resp.status == 401
        with app.maker() as db:
            rows = db.scalars(select(UserSession)).all()
            assert len(rows) == 1 and rows[0].ended_at is not None


async def test_password_change_needs_the_old_password(tmp_path: Path, redis_url: str) -> None:
    async with composed(tmp_path, redis_url) as app:
        add_user(app.maker, "disp1", "dispatcher")
        other = TestClient(app.client.server)           # a second browser of disp1
        await other.start_server()
        try:
            await sign_in(other, "", "disp1")
            csrf = await sign_in(app.client, "", "disp1")
            path = "/api/session/password"
            for body, field in [({"old_password": "guess-guess", "new_password": "x" * 12},
                                 "old_password"),
                                ({"old_password": DEFAULT_PASSWORD, "new_password": "short"},
                                 "new_password"),
                                ({"old_password": DEFAULT_PASSWORD,
                                  "new_password": DEFAULT_PASSWORD}, "new_password"),
                                ({"old_password": DEFAULT_PASSWORD}, "new_password")]:
                status, out = await _json(app, "POST", path, body, csrf=csrf)
                assert status == 422 and out["field"] == field, out
            status, out = await _json(app, "POST", path, {"old_password": DEFAULT_PASSWORD,
                                                          "new_password": "新的密码 long one"},
                                      csrf=csrf)
            assert (status, out) == (200, {"changed": True})
            # This session stays; the other browser's ended.
            assert (await app.client.get("/api/session")).status == 200
            assert (await other.get("/api/session")).status == 401
            app.client.session.cookie_jar.clear()
            resp = await app.client.post("/api/session", json={"user": "disp1",
                                                               "password": DEFAULT_PASSWORD})
            assert resp.status == 401
            await sign_in(app.client, "", "disp1", "新的密码 long one")
        finally:
            await other.close()


async def test_a_disabled_user_cannot_sign_in_and_is_signed_out(tmp_path: Path,
                                                                redis_url: str) -> None:
    async with composed(tmp_path, redis_url) as app:
        add_user(app.maker, "cb1", "callback")
        await sign_in(app.client, "", "cb1")
        with app.maker() as db, db.begin():
            users.disable_user(db, "cb1", users.utc_now())
        assert (await app.client.get("/api/campaigns/worklist")).status == 401
        resp = await app.client.post("/api/session", json={"user": "cb1",
                                                           "password": DEFAULT_PASSWORD})
        assert resp.status == 401


async def test_the_cookie_changes_at_sign_in(tmp_path: Path, redis_url: str) -> None:
    """Session fixation: a cookie planted before sign-in (here: another person's live
    session) is replaced, and the new session is a new row."""
    async with composed(tmp_path, redis_url) as app:
        add_user(app.maker, "sup1", "supervisor")
        add_user(app.maker, "cb1", "callback")
        await sign_in(app.client, "", "cb1")
        planted = _cookie(app.client)
        await sign_in(app.client, "", "sup1")
        fresh = _cookie(app.client)
        assert planted and fresh and fresh != planted
        status, out = await _json(app, "GET", "/api/session")
        assert out["user"] == "sup1"
        with app.maker() as db:
            assert len(db.scalars(select(UserSession)).all()) == 2


async def test_hostile_sign_in_input(tmp_path: Path, redis_url: str) -> None:
    async with composed(tmp_path, redis_url) as app:
        add_user(app.maker, "admin1", "admin")
        for body, status, field in [
                ({"user": "a" * 65, "password": "x"}, 422, "user"),
                ({"user": "a" * 100_000, "password": "x"}, 422, "user"),
                ({"user": "admin1", "password": "p" * 1025}, 422, "password"),
                ({"user": "", "password": "x"}, 422, "user"),
                ({"user": 7, "password": "x"}, 422, "user"),
                ({"user": ["admin1"], "password": "x"}, 422, "user"),
                ({"password": DEFAULT_PASSWORD}, 422, "user"),
                ({"user": "admin1\u0000", "password": DEFAULT_PASSWORD}, 400, "user"),
                ({"user": "../../etc/passwd", "password": "x"}, 401, None),
                ({"user": "ａｄｍｉｎ1", "password": DEFAULT_PASSWORD}, 401, None),
                ({"user": "admin1' OR '1'='1", "password": "x"}, 401, None)]:
            resp = await app.client.post("/api/session", json=body)
            out = await resp.json()
            assert resp.status == status, (body, out)
            assert out.get("field") == field, (body, out)
        for raw in (b"user=admin1&password=x", b"[1, 2]", b"{", b"\xff\xfe"):
            resp = await app.client.post("/api/session", data=raw,
                                         headers={"Content-Type": "application/json"})
            assert resp.status == 400, raw
        assert _cookie(app.client) is None


async def test_attempts_per_address_are_limited(tmp_path: Path, redis_url: str) -> None:
    """[signin] attempts_per_minute = 4: the fifth attempt within the minute is refused
    (429) before the password is even checked."""
    async with composed(tmp_path, redis_url, signin=SigninTable(attempts_per_minute=4)) as app:
        add_user(app.maker, "sup1", "supervisor")
        statuses = []
        for _ in range(5):
            resp = await app.client.post("/api/session", json={"user": "nobody",
                                                               "password": "x"})
            statuses.append(resp.status)
        assert statuses == [401, 401, 401, 401, 429]


async def test_a_name_that_does_not_exist_locks_exactly_like_an_account(
        tmp_path: Path, redis_url: str) -> None:
    """max_failures = 3: an existing account and a made-up name answer the same sequence
    (401, 401, 423, then 423 even for a password that would be right), so the lock tells an
    attacker nothing about which names exist. Names differing only in case are one name."""
    rules = SigninTable(max_failures=3, lock_minutes=10)
    async with composed(tmp_path, redis_url, signin=rules) as app:
        add_user(app.maker, "sup1", "supervisor")
        answers: dict[str, list[int]] = {}
        for name in ("sup1", "ghost7"):
            answers[name] = []
            for password in ("wrong-wrong", "WRONG-2", "wrong-3", DEFAULT_PASSWORD):
                resp = await app.client.post("/api/session", json={
                    "user": name.upper() if password == "WRONG-2" else name,
                    "password": password})
                answers[name].append(resp.status)
                body = await resp.json()
                if resp.status == 423:
                    assert set(body) == {"error", "locked_until"}, body
        assert answers == {"sup1": [401, 401, 423, 423], "ghost7": [401, 401, 423, 423]}


async def test_the_throttles_are_shared_through_redis(tmp_path: Path, redis_url: str) -> None:
    """Two cores on one Redis namespace (two composed apps): attempts_per_minute = 3 counts
    the attempts made to both, and an unknown name locked through one is locked on the other."""
    rules = SigninTable(attempts_per_minute=3, max_failures=2)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    async with composed(tmp_path / "a", redis_url, signin=rules, namespace="shared-signin") as a, \
            composed(tmp_path / "b", redis_url, signin=rules, namespace="shared-signin") as b:
        statuses = []
        for app in (a, b, a, b):
            resp = await app.client.post("/api/session", json={"user": "ghost", "password": "x"})
            statuses.append(resp.status)
        # ghost: 401, then 423 (second failure locks), 423 (locked), then the 4th attempt from
        # 127.0.0.1 in this minute is over the limit of 3.
        assert statuses == [401, 423, 423, 429]


async def test_without_redis_the_throttles_count_in_the_process(tmp_path: Path) -> None:
    """The guard's Redis is gone (a closed port): sign-in still works, limits still apply
    (in this process), and the loss is logged once, not per attempt."""
    dead = aioredis.from_url("redis://127.0.0.1:9/0", socket_timeout=1, socket_connect_timeout=1)
    guard = SigninGuard(dead, "dead")
    now = users.utc_now()
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    logger = logging.getLogger("hotline_core.signin_guard")
    handler = Keep()
    logger.addHandler(handler)
    try:
        allowed = [await guard.allow_attempt("127.0.0.1", 2, now) for _ in range(3)]
        assert allowed == [True, True, False]
        assert await guard.unknown_name_failed("ghost", 2, 10, now) is None
        until = await guard.unknown_name_failed("ghost", 2, 10, now)
        assert until is not None and (until - now).total_seconds() == 600
        assert await guard.unknown_name_locked("GHOST", now) == until
    finally:
        logger.removeHandler(handler)
        await dead.aclose()
    lost = [r for r in records if "Redis unreachable" in r.getMessage()]
    assert len(lost) == 1, [r.getMessage() for r in records]


async def test_the_cookie_is_http_only_and_same_site_strict(tmp_path: Path,
                                                            redis_url: str) -> None:
    async with composed(tmp_path, redis_url) as app:
        add_user(app.maker, "sup1", "supervisor")
        resp = await app.client.post("/api/session", json={"user": "sup1",
                                                           "password": DEFAULT_PASSWORD})
        assert resp.status == 200
        morsel = resp.cookies[COOKIE]
        assert morsel["httponly"] is True
        assert morsel["samesite"] == "Strict"
        assert morsel["path"] == "/"
        assert not morsel["secure"]             # plain HTTP on loopback in this composition
        set_cookie = resp.headers["Set-Cookie"]
        assert "HttpOnly" in set_cookie and "SameSite=Strict" in set_cookie
        # The cookie holds no readable user name, role or token.
        assert "sup1" not in morsel.value and "supervisor" not in morsel.value


async def test_routes_that_answer_the_public_know_a_signed_in_person(tmp_path: Path,
                                                                     redis_url: str) -> None:
    """Health details, the knowledge-base search and Open311 reads answer more to a role:
    a signed-in person counts as that role, not as the public."""
    async with composed(tmp_path, redis_url) as app:
        add_user(app.maker, "sup1", "supervisor")
        add_user(app.maker, "op1", "operator", agent_id="1001")
        csrf = await sign_in(app.client, "", "sup1")
        status, out = await _json(app, "GET", "/api/health")
        assert "components" in out, out
        status, entry = await _json(app, "POST", "/api/kb/entries", {
            "question": "内部口径：停水补偿怎么答", "answer": "按内部规定答复",
            "keywords": "停水 补偿", "public": False}, csrf=csrf)
        assert status in (200, 201) and entry["public"] is False, entry
        app.client.session.cookie_jar.clear()
        status, out = await _json(app, "GET", "/api/kb/search?q=停水补偿")
        assert entry["id"] not in [h["id"] for h in out["results"]]    # the public: not shown
        await sign_in(app.client, "", "op1")
        status, out = await _json(app, "GET", "/api/kb/search?q=停水补偿")
        assert entry["id"] in [h["id"] for h in out["results"]], out
        status, out = await _json(app, "GET", "/api/health")
        assert "components" not in out                       # an operator: up or not only
