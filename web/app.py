"""The aiohttp application: REST API, health, and the route modules of each domain.

``GET /api/health`` needs no token and then answers only ``{"ok": true|false}`` (200 or
503), enough for a load balancer. With a supervisor's token it also names each component
and its state in words ("reachable", "logged in"); never an address or a URL, which may
carry a password. Any other valid token gets the short answer; an unknown token 401.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any

from aiohttp import web
from sqlalchemy.orm import sessionmaker

from hotline_core.access import AccessPolicy, Role
from web import keys
from web.errors import json_error, refuse_unusable_urls
from web.workorders_requests import principal

RouteModule = Callable[[web.Application], None]


def create_app(
    session_factory: sessionmaker[Any],
    route_modules: Iterable[RouteModule] = (),
    health_probes: dict[str, Callable[[], Awaitable[tuple[bool, str]]]] | None = None,
    services: dict[str, Any] | None = None,
    access: AccessPolicy | None = None,
) -> web.Application:
    """``access`` decides who sees the health details (supervisors); without it nobody."""
    app = web.Application(client_max_size=2 * 1024 * 1024,
                          middlewares=[refuse_unusable_urls])
    app[keys.SESSIONMAKER] = session_factory
    app[keys.HEALTH_PROBES] = dict(health_probes or {})
    app[keys.HEALTH_ACCESS] = access
    app[keys.SERVICES] = dict(services or {})
    app.router.add_get("/api/health", health)
    app.router.add_get("/", wallboard)
    for register in route_modules:
        register(app)
    return app


STATIC = Path(__file__).resolve().parent / "static"


async def wallboard(_request: web.Request) -> web.FileResponse:
    """The supervisors' wallboard: live figures over the /api/live web socket."""
    return web.FileResponse(STATIC / "wallboard.html")


async def health(request: web.Request) -> web.Response:
    """Up or not (503 when any component is down); the components for supervisors."""
    detailed = _sees_health_details(request)
    results: dict[str, dict[str, object]] = {}
    for name, probe in request.app[keys.HEALTH_PROBES].items():
        try:
            ok, detail = await probe()
        except Exception as exc:  # a probe that crashes is a component that is down
            # The exception's text may quote an address or a URL: only its kind is shown.
            ok, detail = False, f"down ({type(exc).__name__})"
        results[name] = {"ok": ok, "detail": detail}
    all_ok = all(r["ok"] for r in results.values())
    body: dict[str, object] = {"ok": all_ok}
    if detailed:
        body["components"] = results
    return web.json_response(body, status=200 if all_ok else 503)


def _sees_health_details(request: web.Request) -> bool:
    if "Authorization" not in request.headers:
        return False
    access = request.app[keys.HEALTH_ACCESS]
    if access is None:
        raise json_error(401, "this server accepts no tokens on /api/health")
    return principal(request, access).role is Role.SUPERVISOR
