"""``GET /console``: the supervisor console page. Its data come from the routes that exist
(``/api/live`` web socket, ``/api/agents``, ``/api/call-figures/intervals``) and its actions
go to them (``/api/agents/{id}/pause|ready|logout``, ``/api/restrictions``) with the
session's CSRF token; this route renders only the page."""

from __future__ import annotations

from aiohttp import web

from hotline_core.access import Role
from web.access import roles
from web.api import Routes
from web.pages.layout import HtmlPage, install_templates, page_refusal, person_for, render_page

CONSOLE_ROLES = frozenset({Role.SUPERVISOR})
# The reasons a supervisor may pause an agent with (codes as the agents API stores them).
PAUSE_REASONS: tuple[tuple[str, str], ...] = (
    ("supervisor", "主管置忙"), ("meeting", "开会"), ("training", "培训"))
routes = Routes(tag="pages")


@routes.get("/console", response=HtmlPage, media_type="text/html",
            access=roles(*CONSOLE_ROLES), error_shape=page_refusal("/console"))
async def console_page(request: web.Request) -> web.Response:
    """The supervisor console (班长监控台)."""
    person = person_for(request, CONSOLE_ROLES)
    return render_page(request, "console/console.html", person, {
        "title": "班长监控台", "pause_reasons": PAUSE_REASONS})


def register(app: web.Application) -> None:
    install_templates(app)
    routes.register(app)
