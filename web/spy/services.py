"""What the spy routes need, under :data:`SPY`."""

from __future__ import annotations

import dataclasses
from typing import Protocol

from aiohttp import web

from hotline_core.access import AccessPolicy
from hotline_core.acd import Distributor
from hotline_core.agent_directory import AgentEntry
from hotline_core.spy import SpyMode


class CallSpy(Protocol):
    """The telephony side (ivr/spy.py); raises :class:`hotline_core.spy.SpyRefused` or
    :class:`hotline_core.spy.SpyUnavailable`."""

    async def start(self, call_id: str, agent_id: str, phone: str, mode: SpyMode) -> str: ...

    async def stop(self, phone: str) -> int: ...


@dataclasses.dataclass(frozen=True)
class SpyServices:
    spy: CallSpy
    distributor: Distributor
    directory: dict[str, AgentEntry]
    access: AccessPolicy


SPY = web.AppKey("spy", SpyServices)
