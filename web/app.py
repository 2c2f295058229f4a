"""The aiohttp application: REST API, health, and the route modules of each domain."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any

from aiohttp import web
from sqlalchemy.orm import sessionmaker

from web import keys

RouteModule = Callable[[web.Application], None]


def create_app(
    session_factory: sessionmaker[Any],
    route_modules: Iterable[RouteModule] = (),
    health_probes: dict[str, Callable[[], Awaitable[tuple[bool, str]]]] | None = None,
    services: dict[str, Any] | None = None,
) -> web.Application:
    app = web.Application(client_max_size=2 * 1024 * 1024)
    app[keys.SESSIONMAKER] = session_factory
    app[keys.HEALTH_PROBES] = dict(health_probes or {})
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
    """Report each component; 503 when any is down so a load balancer can act on it."""
    results: dict[str, dict[str, object]] = {}
    for name, probe in request.app[keys.HEALTH_PROBES].items():
        try:
            ok, detail = await probe()
        except Exception as exc:  # a probe that crashes is a component that is down
            ok, detail = False, f"{type(exc).__name__}: {exc}"
        results[name] = {"ok": ok, "detail": detail}
    all_ok = all(r["ok"] for r in results.values())
    return web.json_response(
        {"ok": all_ok, "components": results}, status=200 if all_ok else 503
    )
