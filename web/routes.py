"""Every resource package of the HTTP API, in one list: the core and the tests that compose
the app register the same routes, so a new package cannot be served without being tested
(``tests/web/test_openapi_complete.py`` checks each route's declared schemas).

Health and the wallboard page are registered by :func:`web.app.create_app` itself."""

from __future__ import annotations

from web.agents import routes as agents
from web.app import RouteModule
from web.call_figures import routes as call_figures
from web.callers import routes as callers
from web.calls import routes as calls
from web.campaigns import routes as campaigns
from web.desk import routes as desk
from web.kb import routes as kb
from web.live import routes as live
from web.metrics import routes as metrics
from web.open311 import routes as open311
from web.openapi import routes as openapi
from web.pages.assets import routes as page_assets
from web.pages.console import routes as console_page
from web.pages.desk import routes as desk_page
from web.pages.reports import routes as reports_page
from web.pages.signin import routes as signin_page
from web.pages.unit import routes as unit_page
from web.pages.work import routes as work_pages
from web.restrictions import routes as restrictions
from web.spy import routes as spy
from web.transfers import routes as transfers_routes
from web.units import routes as units
from web.worklists import routes as worklists
from web.workorders import routes as workorders

ROUTE_MODULES: tuple[RouteModule, ...] = (
    calls.register, agents.register, live.register, restrictions.register,
    callers.register, workorders.register, kb.register, metrics.register, open311.register,
    openapi.register, call_figures.register, transfers_routes.register, campaigns.register,
    page_assets.register, signin_page.register, console_page.register, desk.register,
    desk_page.register, spy.register, units.register, unit_page.register,
    worklists.register, work_pages.register, reports_page.register,
)
