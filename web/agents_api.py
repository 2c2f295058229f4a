"""Agents over HTTP: list states, log in/out, pause with a reason, become ready.

An agent (role operator, token name = agent id) may change only their own state; a
supervisor may change anyone's.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from aiohttp import web

from hotline_core.acd import DistributionError, Distributor
from hotline_core.agent_directory import AgentEntry
from hotline_core.workorders.access import AccessPolicy, Principal, Role
from web import keys
from web.errors import json_error
from web.workorders_requests import json_body, principal


@dataclasses.dataclass(frozen=True)
class AgentServices:
    distributor: Distributor
    directory: dict[str, AgentEntry]
    access: AccessPolicy


def _services(request: web.Request) -> AgentServices:
    svc = request.app[keys.SERVICES].get("agents")
    if not isinstance(svc, AgentServices):
        raise json_error(503, "call distribution is not configured in this process")
    return svc


def _may_act(who: Principal, agent_id: str) -> None:
    if who.role is Role.SUPERVISOR:
        return
    if who.role is Role.OPERATOR and who.name == agent_id:
        return
    raise json_error(403, f"{who.name} may not change the state of agent {agent_id}")


def _agent(svc: AgentServices, request: web.Request) -> AgentEntry:
    agent_id = request.match_info["agent_id"]
    entry = svc.directory.get(agent_id)
    if entry is None:
        raise json_error(404, f"no agent {agent_id} in the agent directory")
    return entry


async def list_agents(request: web.Request) -> web.Response:
    """Agents and their states."""
    svc = _services(request)
    principal(request, svc.access)
    statuses = await svc.distributor.view.agents()
    return web.json_response({"agents": [_status(s) for s in statuses]})


def _status(status: Any) -> dict[str, Any]:
    data = dataclasses.asdict(status)
    # Enum values are shown in lower case, as everywhere in the API.
    return {k: (str(v.value).lower() if hasattr(v, "value") else v) for k, v in data.items()}


async def login(request: web.Request) -> web.Response:
    """Log an agent in to its skills (ready)."""
    svc = _services(request)
    entry = _agent(svc, request)
    _may_act(principal(request, svc.access), entry.id)
    body = await json_body(request)
    skills = body.get("skills", entry.skills)
    if not isinstance(skills, dict) or not all(
            isinstance(k, str) and isinstance(v, int) and k in entry.skills
            for k, v in skills.items()) or not skills:
        raise json_error(422, "skills: must map skills from the agent's directory entry "
                              f"({', '.join(entry.skills)}) to levels")
    await svc.distributor.agent_login(entry.id, skills, group=entry.group)
    return web.json_response({"agent": entry.id, "state": "ready", "skills": skills})


async def logout(request: web.Request) -> web.Response:
    """Log an agent out."""
    return await _simple(request, "logout")


async def ready(request: web.Request) -> web.Response:
    """End a pause: the agent is ready."""
    return await _simple(request, "unpause")


async def pause(request: web.Request) -> web.Response:
    """Pause an agent with a reason code."""
    svc = _services(request)
    entry = _agent(svc, request)
    _may_act(principal(request, svc.access), entry.id)
    body = await json_body(request)
    reason = body.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        raise json_error(422, "reason: a pause needs a reason code")
    try:
        await svc.distributor.agent_pause(entry.id, reason.strip())
    except DistributionError as exc:
        raise json_error(409, str(exc)) from None
    return web.json_response({"agent": entry.id, "state": "paused", "reason": reason})


async def _simple(request: web.Request, op: str) -> web.Response:
    svc = _services(request)
    entry = _agent(svc, request)
    _may_act(principal(request, svc.access), entry.id)
    try:
        if op == "logout":
            await svc.distributor.agent_logout(entry.id)
        else:
            await svc.distributor.agent_unpause(entry.id)
    except DistributionError as exc:
        raise json_error(409, str(exc)) from None
    return web.json_response({"agent": entry.id, "done": op})


def register(app: web.Application) -> None:
    app.router.add_get("/api/agents", list_agents)
    app.router.add_post("/api/agents/{agent_id}/login", login)
    app.router.add_post("/api/agents/{agent_id}/logout", logout)
    app.router.add_post("/api/agents/{agent_id}/pause", pause)
    app.router.add_post("/api/agents/{agent_id}/ready", ready)
