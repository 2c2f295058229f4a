"""Agents (话务员) and their states; groups (班组) they work in (R-SEATS)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class AgentState(StrEnum):
    """Where an agent is in the call cycle.

    LOGGED_OUT 未签入, READY 空闲, RINGING 振铃, ON_CALL 通话, WRAP_UP 话后处理,
    PAUSED 示忙 (with a pause reason).
    """

    LOGGED_OUT = "LOGGED_OUT"
    READY = "READY"
    RINGING = "RINGING"
    ON_CALL = "ON_CALL"
    WRAP_UP = "WRAP_UP"
    PAUSED = "PAUSED"


class AgentGroup(StrEnum):
    """The groups of R-SEATS; an agent belongs to one (other names are allowed too)."""

    CALL_TAKING = "call-taking"  # 话务
    QUALITY_CHECK = "quality-check"  # 质检
    CALLBACK = "callback"  # 回访
    SUPERVISION = "supervision"  # 督办


@dataclass(frozen=True)
class AgentStatus:
    """A snapshot of one agent as the distributor sees it.

    ``since`` is when the current state began; ``idle_since`` is the moment the agent last
    became free (what longest-idle compares); ``pending_pause`` is a pause asked for during a
    call, taking effect when wrap-up ends.
    """

    agent_id: str
    state: AgentState
    skills: dict[str, int]
    group: str
    pause_reason: str
    since: float
    calls_taken: int
    current_call: str | None
    idle_since: float = 0.0
    pending_pause: str = ""
