"""Requests and answers of the agent routes."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from web.api import Int32, Model, NonBlank, Out


class LoginBody(Model):
    """The skills to log in to (default: all of the directory entry's), with levels."""

    skills: Annotated[dict[Annotated[str, Field(max_length=64)], Int32],
                      Field(min_length=1)] | None = None


class PauseBody(Model):
    reason: Annotated[NonBlank, Field(max_length=64)]   # the pause reason code


class AgentStatusOut(Out):
    agent_id: str
    state: str          # lower case: ready, busy, paused, wrapup, ringing, ...
    skills: dict[str, int]
    group: str
    pause_reason: str
    since: float
    calls_taken: int
    current_call: str | None
    idle_since: float
    pending_pause: str


class AgentList(Out):
    agents: list[AgentStatusOut]


class LoginOut(Out):
    agent: str
    state: str
    skills: dict[str, int]


class PausedOut(Out):
    agent: str
    state: str
    reason: str


class DoneOut(Out):
    agent: str
    done: str           # logout or unpause
