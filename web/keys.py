"""Typed keys under which the web application keeps its shared services.

Route modules read what they need from ``request.app[KEY]``; :func:`web.app.create_app`
fills them. Keeping the keys in one module lets each route module stay independent.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlalchemy.orm import sessionmaker

from hotline_core.access import AccessPolicy

SESSIONMAKER: web.AppKey[sessionmaker[Any]] = web.AppKey("sessionmaker", sessionmaker)
# Health probes, one per component: name -> async callable returning (ok, detail).
HEALTH_PROBES: web.AppKey[dict[str, Any]] = web.AppKey("health_probes", dict)
# Who may see the health details (supervisors); None: nobody.
HEALTH_ACCESS: web.AppKey[AccessPolicy | None] = web.AppKey("health_access")
# Free-form services registered by the process that builds the app (ivr, speech, ...).
SERVICES: web.AppKey[dict[str, Any]] = web.AppKey("services", dict)
