"""What the desktop routes need, under :data:`DESK`."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import redis.asyncio as aioredis
from aiohttp import web

from hotline_core.access import AccessPolicy
from hotline_core.acd import Distributor
from hotline_core.agent_directory import AgentEntry
from hotline_core.screen_pop import ScreenPops

DUPLICATE_DAYS = 30     # an open order of the same caller and matter this recent is asked about


class MessageClaims:
    """One conversion of a message at a time in this process: the second agent waits, then
    finds the order the first made (409). Only the event loop touches it."""

    def __init__(self) -> None:
        self._locks: dict[str, asyncio.Lock] = {}

    def lock(self, call_id: str) -> asyncio.Lock:
        return self._locks.setdefault(call_id, asyncio.Lock())

    def release(self, call_id: str) -> None:
        held = self._locks.get(call_id)
        if held is not None and not held.locked():
            del self._locks[call_id]


@dataclasses.dataclass(frozen=True)
class DeskServices:
    distributor: Distributor
    pops: ScreenPops
    access: AccessPolicy
    directory: dict[str, AgentEntry]       # agent id → entry (skills for "ready")
    pause_reasons: dict[str, str]          # code → label (distribution config)
    wrapup_seconds: float
    duplicate_days: int = DUPLICATE_DAYS
    # The voice-message inbox (语音留言箱): line number → its skills (an agent sees the
    # lines it shares a skill with), where the message files are, and the Redis client
    # that announces a message turned into an order (None: no live update).
    line_skills: dict[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)
    recordings_dir: Path | None = None
    redis: aioredis.Redis | None = None
    claims: MessageClaims = dataclasses.field(default_factory=MessageClaims)


DESK = web.AppKey("desk", DeskServices)
MISSING = "the agent desktop is not configured in this process"
