"""The aiohttp application: the middlewares, the services, and the routes of each resource
package (``web/routes.py`` lists them); health and the wallboard are always served, sign-in
(web/session) where its services are provided."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from aiohttp import web
from sqlalchemy.orm import Session, sessionmaker

from hotline_core.access import AccessPolicy
from web import keys, people
from web.access_rules import gate
from web.api import domain_errors
from web.errors import refuse_unusable_urls
from web.health import routes as health_routes
from web.session import routes as session_routes

RouteModule = Callable[[web.Application], None]


def create_app(
    session_factory: sessionmaker[Session],
    route_modules: Iterable[RouteModule] = (),
    health_probes: Mapping[str, keys.Probe] | None = None,
    services: Iterable[keys.Provided[Any]] = (),
    access: AccessPolicy | None = None,
) -> web.Application:
    """``services``: each package's services as ``provide(KEY, value)``; ``access`` decides
    who sees the health details (supervisors); without it nobody."""
    app = web.Application(client_max_size=2 * 1024 * 1024,
                          # The gate before the URL check: a stranger learns nothing
                          # about a guarded route, not even that its query is malformed.
                          middlewares=[domain_errors, people.people, gate,
                                       refuse_unusable_urls])
    app[keys.SESSIONMAKER] = session_factory
    app[keys.HEALTH_PROBES] = dict(health_probes or {})
    app[keys.HEALTH_ACCESS] = access
    for provided in services:
        provided.install(app)
    # People sign in where SIGNIN is provided (else bearer tokens only); every route
    # passes the access-rule gate (web/access_rules.py).
    health_routes.register(app)
    if people.install(app):
        session_routes.register(app)
    for register in route_modules:
        register(app)
    return app
