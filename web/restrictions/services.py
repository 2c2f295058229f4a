"""What the restriction routes need, under :data:`RESTRICTIONS`."""

from __future__ import annotations

import dataclasses

from aiohttp import web

from hotline_core.access import AccessPolicy
from hotline_core.acd.restriction import RestrictionList


@dataclasses.dataclass(frozen=True)
class RestrictionServices:
    restrictions: RestrictionList
    access: AccessPolicy
    days: int   # the active preset's [restriction] days (Preset.restriction_days)


RESTRICTIONS = web.AppKey("restrictions", RestrictionServices)
