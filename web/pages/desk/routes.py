"""``GET /desk``: the agent desktop page, for a signed-in operator (its name is its agent
id). The page's data and actions go to the desk's API (``/api/desk``,
``/api/calls/{id}/pop``, ``/api/desk/calls/{id}/order``, ``/api/desk/kb``,
``/api/desk/matters``, ``/api/dispatch/route``, ``/api/calls/{id}/transfer``) with the
session's CSRF token, and the pop arrives on the ``/api/live`` web socket; this route
renders only the page."""

from __future__ import annotations

import json

from aiohttp import web

from hotline_core.access import Role
from web.access import roles
from web.api import Routes
from web.pages.console.routes import PAUSE_REASONS as CONSOLE_PAUSE_REASONS
from web.pages.layout import HtmlPage, install_templates, page_refusal, person_for, render_page

DESK_ROLES = frozenset({Role.OPERATOR})
# Demand categories (诉求类别) as the work-order API names them.
CATEGORIES: tuple[tuple[str, str], ...] = (
    ("consult", "咨询"), ("help", "求助"), ("complaint", "投诉"), ("report", "举报"),
    ("suggestion", "建议"), ("other", "其他"))
# Emergency centres a call may be passed to (110 police, 119 fire, 120 ambulance, 122 traffic).
CENTRES: tuple[tuple[str, str], ...] = (
    ("110", "110 报警"), ("119", "119 火警"), ("120", "120 急救"), ("122", "122 交通"))
MODES: tuple[tuple[str, str], ...] = (
    ("blind", "直接转接"), ("attended", "咨询转接"), ("three-way", "三方通话"))
routes = Routes(tag="pages")


@routes.get("/desk", response=HtmlPage, media_type="text/html",
            access=roles(*DESK_ROLES), error_shape=page_refusal("/desk"))
async def desk_page(request: web.Request) -> web.Response:
    """The agent desktop (坐席工作台)."""
    person = person_for(request, DESK_ROLES)
    return render_page(request, "desk/desk.html", person, {
        "title": "坐席工作台", "agent": person.principal.name, "categories": CATEGORIES,
        "centres": CENTRES, "modes": MODES,
        # a pause a supervisor made from the console shows with the console's label
        "pause_labels": json.dumps(dict(CONSOLE_PAUSE_REASONS), ensure_ascii=False)})


def register(app: web.Application) -> None:
    install_templates(app)
    routes.register(app)
