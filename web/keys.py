"""Typed keys under which the web application keeps its shared services.

The app-wide ones are here; each resource package declares the key of its own services
next to them (``web/calls/services.py``: ``CALLS``). The process that builds the app hands
them over as ``provide(KEY, value)`` (checked by mypy: the value is the key's type), and a
handler reads its own with :func:`need` (503 when this process does not serve it).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from aiohttp import web
from sqlalchemy.orm import Session, sessionmaker

from hotline_core.access import AccessPolicy
from hotline_core.workorders.desk import DeskSettings
from web.errors import json_error

T = TypeVar("T")

Probe = Callable[[], Awaitable[tuple[bool, str]]]

SESSIONMAKER: web.AppKey[sessionmaker[Session]] = web.AppKey("sessionmaker", sessionmaker)
# Health probes, one per component: name -> async callable returning (ok, detail).
HEALTH_PROBES: web.AppKey[dict[str, Probe]] = web.AppKey("health_probes", dict)
# Who may see the health details (supervisors); None: nobody.
HEALTH_ACCESS: web.AppKey[AccessPolicy | None] = web.AppKey("health_access")


@dataclass(frozen=True)
class WorkOrderServices:
    """The work-order desk (rules, zone, clock) and who may do what: shared by the work
    orders, knowledge base, metrics, call figures and Open311 packages."""

    desk: DeskSettings
    access: AccessPolicy


WORKORDERS: web.AppKey[WorkOrderServices] = web.AppKey("workorders", WorkOrderServices)
DESK_MISSING = "work orders are not configured on this server"


@dataclass(frozen=True)
class Provided(Generic[T]):
    """One service handed to :func:`web.app.create_app`: its key and its value."""

    key: web.AppKey[T]
    value: T

    def install(self, app: web.Application) -> None:
        app[self.key] = self.value


def provide(key: web.AppKey[T], value: T) -> Provided[T]:
    return Provided(key, value)


def need(request: web.Request, key: web.AppKey[T], missing: str) -> T:
    """The service under ``key``; 503 with ``missing`` when this process has none."""
    value: T | None = request.app.get(key)
    if value is None:
        raise json_error(503, missing)
    return value
