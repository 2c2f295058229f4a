"""``GET /api/health`` needs no token and then answers only ``{"ok": true|false}`` (200 or
503), enough for a load balancer. With a supervisor's token it also names each component
and its state in words ("reachable", "logged in"); never an address or a URL, which may
carry a password. Any other valid token gets the short answer; an unknown token 401.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from hotline_core.access import Role
from web import keys
from web.api import Routes, reply
from web.errors import json_error
from web.health.schemas import Component, HealthOut, HtmlPage
from web.requests import PERSON, principal

routes = Routes(tag="health")
STATIC = Path(__file__).resolve().parents[1] / "static"


@routes.get("/", response=HtmlPage, media_type="text/html", tag="wallboard")
async def wallboard(_request: web.Request) -> web.FileResponse:
    """The supervisors' wallboard: live figures over the /api/live web socket."""
    return web.FileResponse(STATIC / "wallboard.html")


@routes.get("/api/health", response=HealthOut, status=(200, 503))
async def health(request: web.Request) -> web.Response:
    """Up or not (503 when any component is down); the components for supervisors."""
    detailed = _sees_health_details(request)
    results: dict[str, Component] = {}
    for name, probe in request.app[keys.HEALTH_PROBES].items():
        try:
            ok, detail = await probe()
        except Exception as exc:  # a probe that crashes is a component that is down
            # The exception's text may quote an address or a URL: only its kind is shown.
            ok, detail = False, f"down ({type(exc).__name__})"
        results[name] = Component(ok=ok, detail=detail)
    all_ok = all(r.ok for r in results.values())
    body = HealthOut(ok=all_ok, components=results) if detailed else HealthOut(ok=all_ok)
    return reply(body, status=200 if all_ok else 503)


def _sees_health_details(request: web.Request) -> bool:
    if "Authorization" not in request.headers:      # a signed-in supervisor sees them too
        return PERSON in request and request[PERSON].role is Role.SUPERVISOR
    access = request.app[keys.HEALTH_ACCESS]
    if access is None:
        raise json_error(401, "this server accepts no tokens on /api/health")
    return principal(request, access).role is Role.SUPERVISOR


register = routes.register
