"""Answers of the health route and the wallboard page."""

from __future__ import annotations

from pydantic import RootModel

from web.api import Out


class Component(Out):
    ok: bool
    detail: str   # the state in words ("reachable", "logged in"), never an address


class HealthOut(Out):
    """``{"ok": …}`` for everyone; ``components`` only for a supervisor's token."""

    ok: bool
    components: dict[str, Component] | None = None


class HtmlPage(RootModel[str]):
    """An HTML page."""
