"""What the agent routes need, under :data:`AGENTS`."""

from __future__ import annotations

import dataclasses

from aiohttp import web

from hotline_core.access import AccessPolicy
from hotline_core.acd import Distributor
from hotline_core.agent_directory import AgentEntry


@dataclasses.dataclass(frozen=True)
class AgentServices:
    distributor: Distributor
    directory: dict[str, AgentEntry]
    access: AccessPolicy


AGENTS = web.AppKey("agents", AgentServices)
