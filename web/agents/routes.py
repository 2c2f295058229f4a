"""Agents over HTTP: list states, log in/out, pause with a reason, become ready.

An agent (role operator, token name = agent id) may change only their own state; a
supervisor may change anyone's. A change the distributor refuses is a 409 (web.errors).
"""

from __future__ import annotations

import dataclasses

from aiohttp import web

from hotline_core.access import Principal, Role
from hotline_core.agent_directory import AgentEntry
from web.agents.schemas import (
    AgentList,
    AgentStatusOut,
    DoneOut,
    LoginBody,
    LoginOut,
    PauseBody,
    PausedOut,
)
from web.agents.services import AGENTS, AgentServices
from web.api import NO_BODY, Routes, enum_value, read_body, reply
from web.errors import json_error
from web.keys import need
from web.requests import principal

routes = Routes(tag="agents")
MISSING = "call distribution is not configured in this process"


def _may_act(who: Principal, agent_id: str) -> None:
    if who.role is Role.SUPERVISOR:
        return
    if who.role is Role.OPERATOR and who.name == agent_id:
        return
    raise json_error(403, f"{who.name} may not change the state of agent {agent_id}")


def _acting_on(request: web.Request) -> tuple[AgentServices, AgentEntry]:
    """The agent named in the path, once the token may change its state."""
    svc = need(request, AGENTS, MISSING)
    agent_id = request.match_info["agent_id"]
    entry = svc.directory.get(agent_id)
    if entry is None:
        raise json_error(404, f"no agent {agent_id} in the agent directory")
    _may_act(principal(request, svc.access), entry.id)
    return svc, entry


@routes.get("/api/agents", response=AgentList)
async def list_agents(request: web.Request) -> web.Response:
    """Agents and their states."""
    svc = need(request, AGENTS, MISSING)
    principal(request, svc.access)
    statuses = await svc.distributor.view.agents()
    return reply(AgentList(agents=[AgentStatusOut.model_validate(
        {k: enum_value(v) for k, v in dataclasses.asdict(s).items()}) for s in statuses]))


@routes.post("/api/agents/{agent_id}/login", body=LoginBody, response=LoginOut)
async def login(request: web.Request) -> web.Response:
    """Log an agent in to its skills (ready)."""
    svc, entry = _acting_on(request)
    body = await read_body(request, LoginBody)
    skills = body.skills if body.skills is not None else entry.skills
    if not skills or not all(k in entry.skills for k in skills):
        raise json_error(422, "skills: must map skills from the agent's directory entry "
                              f"({', '.join(entry.skills)}) to levels", field="skills")
    await svc.distributor.agent_login(entry.id, dict(skills), group=entry.group)
    return reply(LoginOut(agent=entry.id, state="ready", skills=dict(skills)))


@routes.post("/api/agents/{agent_id}/logout", body=NO_BODY, response=DoneOut)
async def logout(request: web.Request) -> web.Response:
    """Log an agent out."""
    svc, entry = _acting_on(request)
    await svc.distributor.agent_logout(entry.id)
    return reply(DoneOut(agent=entry.id, done="logout"))


@routes.post("/api/agents/{agent_id}/ready", body=NO_BODY, response=DoneOut)
async def ready(request: web.Request) -> web.Response:
    """End a pause: the agent is ready."""
    svc, entry = _acting_on(request)
    await svc.distributor.agent_unpause(entry.id)
    return reply(DoneOut(agent=entry.id, done="unpause"))


@routes.post("/api/agents/{agent_id}/pause", body=PauseBody, response=PausedOut)
async def pause(request: web.Request) -> web.Response:
    """Pause an agent with a reason code."""
    svc, entry = _acting_on(request)
    body = await read_body(request, PauseBody)
    await svc.distributor.agent_pause(entry.id, body.reason.strip())
    return reply(PausedOut(agent=entry.id, state="paused", reason=body.reason))


register = routes.register
