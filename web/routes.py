"""Every route module of the HTTP API, in one list: the core and the tests that compose the
app register the same routes, so a new module cannot be served without being tested."""

from __future__ import annotations

from web import (
    agents_api,
    call_figures_api,
    callers_api,
    calls_api,
    live_api,
    open311,
    openapi,
    restrictions_api,
    workorders_api,
)
from web.app import RouteModule
from web.transfers import routes as transfers_routes

ROUTE_MODULES: tuple[RouteModule, ...] = (
    calls_api.register, agents_api.register, live_api.register, restrictions_api.register,
    callers_api.register, workorders_api.register, open311.register, openapi.register,
    call_figures_api.register, transfers_routes.register,
)
