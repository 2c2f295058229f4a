"""``GET /work/<list>``: the worklist pages of the platform's groups (R-SEATS). Each page
is rendered on the server with the list's name and the unit directory (for choosing the
unit of a re-dispatch); its rows come from ``/api/worklists/<list>`` and its actions go to
the work-order routes (``/dispatch``, ``/return-review``, ``/quality-check``,
``/evaluation``, ``/review``) with the session's CSRF token. After every action the list
is read again; nothing polls."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from hotline_core.access import Role
from hotline_core.workorders.lifecycle import EVALUATION_LABELS
from hotline_core.workorders.queries import unit_names
from web.access import roles
from web.api import Routes
from web.db import reading
from web.pages.layout import HtmlPage, install_templates, page_refusal, person_for, render_page

routes = Routes(tag="pages")


@dataclass(frozen=True)
class WorkPage:
    """One worklist page: its path, title and who may open it."""

    name: str
    title: str
    roles: frozenset[Role]


DI, SU, QU, CB = Role.DISPATCHER, Role.SUPERVISOR, Role.QUALITY, Role.CALLBACK
PAGES: tuple[WorkPage, ...] = (
    WorkPage("dispatch", "派单工作台", frozenset({DI, SU})),
    WorkPage("quality", "质检工作台", frozenset({QU, SU})),
    WorkPage("callback", "回访工作台", frozenset({CB, SU})),
    WorkPage("monitoring", "工单监测池", frozenset({DI, SU})),
    WorkPage("supervision", "督办工作台", frozenset({SU})),
)
# The five levels as a callback worker picks them (R-CALLBACK), best first.
LEVELS = [(level.value, label) for level, label in EVALUATION_LABELS.items()]


def _page(page: WorkPage) -> None:
    path = f"/work/{page.name}"

    async def handler(request: web.Request) -> web.Response:
        person = person_for(request, page.roles)
        units = await reading(request, unit_names)   # code → name, to show names
        return render_page(request, "work/work.html", person, {
            "title": page.title, "list": page.name, "units": sorted(units.items()),
            "unit_names": units, "levels": LEVELS})

    handler.__doc__ = f"The {page.name} worklist page ({page.title})."
    routes.add("GET", path, handler, response=HtmlPage, media_type="text/html",
               access=roles(*page.roles), error_shape=page_refusal(path),
               summary=f"{page.title} (page)")


for _p in PAGES:
    _page(_p)


def register(app: web.Application) -> None:
    install_templates(app)
    routes.register(app)
