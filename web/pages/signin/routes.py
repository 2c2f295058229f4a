"""``GET /signin``: the form that signs a person in through ``POST /api/session`` (the
session cookie is set by that answer), then goes to ``next`` or the role's home page."""

from __future__ import annotations

import re

from aiohttp import web

from web.access import PUBLIC
from web.api import Routes
from web.pages.layout import HOME, HtmlPage, install_templates, render_page
from web.people import signed_in_person

# Only a path of this site (no scheme, no //host): an open redirect would help phishing.
_LOCAL_PATH = re.compile(r"^/[A-Za-z0-9_-][A-Za-z0-9/_-]{0,200}$|^/$")
routes = Routes(tag="pages")


def safe_next(raw: str | None) -> str:
    """``next`` when it is a path of this site, else empty (the role's home is used)."""
    return raw if raw and _LOCAL_PATH.match(raw) else ""


@routes.get("/signin", response=HtmlPage, media_type="text/html", access=PUBLIC)
async def signin_page(request: web.Request) -> web.Response:
    """The sign-in page (登录)."""
    homes = {role.value: path for role, path in HOME.items()}
    return render_page(request, "signin/signin.html", signed_in_person(request), {
        "next_path": safe_next(request.query.get("next")), "homes": homes,
        "title": "登录"})


def register(app: web.Application) -> None:
    install_templates(app)
    routes.register(app)
