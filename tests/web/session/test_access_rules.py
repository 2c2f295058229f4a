"""Every route has an access rule (item 5): the application's route table is walked; a
route without a rule fails the walk and is refused by the gate; anonymous requests reach
only the routes declared public; a signed-in administrator (a role no work route lists) is
refused by every other route before its handler runs."""

from __future__ import annotations

import re
from pathlib import Path

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from cryptography.fernet import Fernet
from sqlalchemy.orm import sessionmaker

from hotline_core.users import SigninTable
from testkit.people import CSRF_HEADER, add_user, sign_in
from tests.security.composed import bearer, composed
from web.access_rules import ACCESS
from web.api import OPERATIONS, Out, Routes, reply
from web.app import create_app
from web.keys import provide
from web.people import SIGNIN, SigninServices
from web.routes import ROUTE_MODULES

# Written by hand from the issue: anonymous access only for health, the public pages and
# Open311 reads, the knowledge-base search and sign-in.
PUBLIC_ROUTES = {
    ("GET", "/"), ("GET", "/api/health"), ("GET", "/api/openapi.json"),
    ("POST", "/api/session"), ("GET", "/api/session"), ("GET", "/api/kb/search"),
    ("GET", "/open311/v2/services.json"), ("GET", "/open311/v2/requests.json"),
    ("GET", "/open311/v2/requests/{request_id}.json"),
    ("POST", "/open311/v2/requests.json"),      # GeoReport's api_key form field, see table
    ("GET", "/signin"),                         # the sign-in page (web/pages)
    ("GET", "/static/{name}"), ("GET", "/static/vendor/{name}"),   # scripts, styles
}


def _full_app(*extra: object) -> web.Application:
    svc = SigninServices(SigninTable(), Fernet.generate_key(), False)
    return create_app(sessionmaker(), route_modules=[*ROUTE_MODULES, *extra],  # type: ignore[list-item]
                      services=[provide(SIGNIN, svc)])


def routes_and_rules(app: web.Application) -> tuple[dict[tuple[str, str], bool], list[str]]:
    """Every (method, path) the app serves → public or not; and the routes with no rule."""
    operations = app[OPERATIONS]
    found: dict[tuple[str, str], bool] = {}
    missing: list[str] = []
    for route in app.router.routes():
        if route.method == "HEAD" or route.resource is None:
            continue
        key = (route.method, route.resource.canonical)
        op = operations.get(route)
        rule = op.access if op is not None and op.access is not None else ACCESS.get(key)
        if rule is None:
            missing.append(f"{key[0]} {key[1]}")
        else:
            found[key] = rule.public
    return found, missing


def test_every_route_has_an_access_rule() -> None:
    found, missing = routes_and_rules(_full_app())
    assert missing == []
    assert len(found) > 60                       # the whole API was walked
    public = {k for k, is_public in found.items() if is_public}
    assert public <= PUBLIC_ROUTES                  # nothing else lets anonymous in
    assert public >= {k for k in PUBLIC_ROUTES if k[1].startswith(("/api", "/open311"))}
    # No rule for a route that does not exist (a renamed path would leave it unguarded).
    stale = set(ACCESS) - set(found)
    assert stale == set()


class _Out(Out):
    ok: bool


def _with_new_route(app: web.Application) -> None:
    extra = Routes(tag="test")

    @extra.get("/api/forgotten", response=_Out)
    async def forgotten(_request: web.Request) -> web.Response:
        return reply(_Out(ok=True))

    extra.register(app)


async def test_a_new_route_without_a_rule_fails_and_is_refused() -> None:
    app = _full_app(_with_new_route)
    _, missing = routes_and_rules(app)
    assert missing == ["GET /api/forgotten"]
    client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    try:
        resp = await client.get("/api/forgotten", headers=bearer("supervisor"))
        out = await resp.json()
        assert resp.status == 403 and "no access rule" in out["error"]
    finally:
        await client.close()


def _pages(app: web.Application) -> set[tuple[str, str]]:
    """The routes that answer HTML (their refusals are pages, not JSON)."""
    return {(op.method, op.path) for op in app[OPERATIONS].values()
            if op.media_type.startswith("text/html")}


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", path)


async def test_anonymous_reaches_only_public_routes(tmp_path: Path, redis_url: str) -> None:
    async with composed(tmp_path, redis_url) as app:
        found, _ = routes_and_rules(app.client.app)
        guarded = sorted(k for k, public in found.items() if not public)
        assert len(guarded) > 50
        pages = _pages(app.client.app)
        for method, path in guarded:
            resp = await app.client.request(method, _concrete(path), json={},
                                            allow_redirects=False)
            if (method, path) in pages:             # a page sends people to sign in
                assert resp.status == 302, (path, resp.status)
                assert resp.headers["Location"].startswith("/signin?next="), path
            else:
                assert resp.status == 401, (method, path, resp.status, await resp.text())


async def test_a_signed_in_admin_is_refused_by_every_work_route(tmp_path: Path,
                                                                redis_url: str) -> None:
    """The administrator manages people, not calls or orders: every guarded route except
    its own session's refuses it (403, naming the role) at the gate."""
    async with composed(tmp_path, redis_url) as app:
        add_user(app.maker, "admin1", "admin")
        csrf = await sign_in(app.client, "", "admin1")
        found, _ = routes_and_rules(app.client.app)
        own = {("DELETE", "/api/session"), ("POST", "/api/session/password")}
        refused = sorted(k for k, public in found.items() if not public and k not in own)
        pages = _pages(app.client.app)
        for method, path in refused:
            resp = await app.client.request(method, _concrete(path), json={},
                                            headers={CSRF_HEADER: csrf})
            text = await resp.text()
            assert resp.status == 403, (path, resp.status, text)
            if (method, path) not in pages:
                assert "role admin may not" in (await resp.json())["error"], (path, text)
        resp = await app.client.get("/api/session")
        assert resp.status == 200                 # still signed in: nothing was half-done
