"""The pages' layout and templates (页面布局): aiohttp-jinja2 over ``web/templates`` (the
layout, the refusal page) and ``web/pages`` (each page's own template), and how a page
refuses someone: not signed in → the sign-in page, another role → a 403 page."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp_jinja2
import jinja2
from aiohttp import web
from pydantic import RootModel

from hotline_core.access import Role
from hotline_core.users import SignedIn
from web.people import signed_in_person

WEB = Path(__file__).resolve().parents[1]
LOADER = jinja2.FileSystemLoader([str(WEB / "templates"), str(WEB / "pages")])
# The refusal page is rendered where no request is at hand (the access gate's error shape).
_REFUSAL_ENV = jinja2.Environment(loader=LOADER, autoescape=True)

# Where each role lands after signing in (a role without a page of its own: the wallboard).
HOME: dict[Role, str] = {Role.SUPERVISOR: "/console", Role.OPERATOR: "/desk",
                         Role.UNIT: "/unit", Role.DISPATCHER: "/work/dispatch",
                         Role.QUALITY: "/work/quality", Role.CALLBACK: "/work/callback"}


class HtmlPage(RootModel[str]):
    """An HTML page."""


def install_templates(app: web.Application) -> None:
    """Sets up aiohttp-jinja2 once per app (each page package's ``register`` calls it)."""
    if aiohttp_jinja2.APP_KEY not in app:
        aiohttp_jinja2.setup(app, loader=LOADER, autoescape=True)


def refusal_html(status: int, reason: str) -> str:
    return _REFUSAL_ENV.get_template("refused.html").render(status=status, reason=reason)


def page_refusal(path: str) -> Callable[[int, str, dict[str, Any]], web.HTTPException]:
    """The access gate's answer on a page: 401 → the sign-in page (back here after), 403
    (another role) → an HTML page saying why."""
    def refuse(status: int, reason: str, _extra: dict[str, Any]) -> web.HTTPException:
        if status == 401:
            return web.HTTPFound(f"/signin?next={quote(path)}")
        return web.HTTPForbidden(text=refusal_html(status, reason), content_type="text/html")
    return refuse


def person_for(request: web.Request, allowed: Collection[Role]) -> SignedIn:
    """The signed-in person of one of ``allowed`` (the gate has checked the role; a bearer
    token is for machines, so a page asks it to sign in)."""
    person = signed_in_person(request)
    if person is None:
        raise web.HTTPFound(f"/signin?next={quote(request.rel_url.path)}")
    if person.principal.role not in allowed:
        raise web.HTTPForbidden(text=refusal_html(
            403, f"role {person.principal.role.value} may not open this page"),
            content_type="text/html")
    return person


def render_page(request: web.Request, template: str, person: SignedIn | None,
                context: Mapping[str, Any] | None = None, status: int = 200) -> web.Response:
    """The page ``template`` in the layout, for ``person`` (its CSRF token in the meta tag)."""
    ctx = {"person": person, **(context or {})}
    return aiohttp_jinja2.render_template(template, request, ctx, status=status)
