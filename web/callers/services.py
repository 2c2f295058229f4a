"""What the caller-flag routes need, under :data:`CALLERS`."""

from __future__ import annotations

import dataclasses

from aiohttp import web

from hotline_core.access import AccessPolicy
from hotline_core.acd.caller_flags import CallerFlags


@dataclasses.dataclass(frozen=True)
class CallerServices:
    flags: CallerFlags
    access: AccessPolicy


CALLERS = web.AppKey("callers", CallerServices)
