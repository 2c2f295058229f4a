"""What the desktop routes need, under :data:`DESK`."""

from __future__ import annotations

import dataclasses

from aiohttp import web

from hotline_core.access import AccessPolicy
from hotline_core.acd import Distributor
from hotline_core.agent_directory import AgentEntry
from hotline_core.screen_pop import ScreenPops

DUPLICATE_DAYS = 30     # an open order of the same caller and matter this recent is asked about


@dataclasses.dataclass(frozen=True)
class DeskServices:
    distributor: Distributor
    pops: ScreenPops
    access: AccessPolicy
    directory: dict[str, AgentEntry]       # agent id → entry (skills for "ready")
    pause_reasons: dict[str, str]          # code → label (distribution config)
    wrapup_seconds: float
    duplicate_days: int = DUPLICATE_DAYS


DESK = web.AppKey("desk", DeskServices)
MISSING = "the agent desktop is not configured in this process"
