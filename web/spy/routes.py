"""Listen, whisper and barge over HTTP (监听/密语/强插); supervisors only.

Who and what is checked before Asterisk is asked:

- the request is a signed-in supervisor's (the access rule; 401/403 otherwise);
- the call id is an Asterisk unique id (``1764523456.42``), else 404;
- the supervisor has a phone of the agent directory tied to them (409 otherwise: a bearer
  token has none);
- an agent is talking on the call now (the distributor's state ``on_call`` with this call),
  else 404 (no agent has it) or 409 (it still rings);
then :class:`web.spy.services.CallSpy` finds the agent's leg (409 when it is not up) and
rings the phone.
"""

from __future__ import annotations

import re

from aiohttp import web

from hotline_core.access import Role
from hotline_core.acd.agents import AgentState
from hotline_core.spy import SpyMode
from web.access import roles
from web.api import Routes, read_body, reply
from web.errors import json_error
from web.keys import need
from web.people import signed_in_person
from web.requests import principal
from web.spy.schemas import SpyBody, SpyOut, SpyStoppedOut
from web.spy.services import SPY, SpyServices

routes = Routes(tag="spy")
MISSING = "listening in on calls is not configured in this process"
PATH = "/api/calls/{call_id}/spy"
_CALL_ID = re.compile(r"^[0-9]{1,20}\.[0-9]{1,10}$")   # ASCII digits only


def _phone(request: web.Request, svc: SpyServices) -> str:
    """The phone tied to the signed-in supervisor (never one named in the request)."""
    principal(request, svc.access)
    person = signed_in_person(request)
    phone = person.agent_id if person is not None else None
    if not phone:
        raise json_error(409, "no phone is tied to you: an administrator ties one with "
                         "`hotline user add NAME --role supervisor --agent <id>`")
    if phone not in svc.directory:
        raise json_error(409, f"your phone {phone} is not in the agent directory")
    return phone


def _call_id(request: web.Request) -> str:
    call_id = request.match_info["call_id"]
    if not _CALL_ID.fullmatch(call_id):
        raise json_error(404, "no such call")
    return call_id


@routes.post(PATH, body=SpyBody, response=SpyOut, status=201, access=roles(Role.SUPERVISOR))
async def start_spy(request: web.Request) -> web.Response:
    """Ring the supervisor's phone into a live call (listen, whisper or barge)."""
    svc = need(request, SPY, MISSING)
    phone = _phone(request, svc)
    call_id = _call_id(request)
    body = await read_body(request, SpyBody)
    agent = next((a for a in await svc.distributor.view.agents()
                  if a.current_call == call_id), None)
    if agent is None:
        raise json_error(404, f"call {call_id} is not live on any agent")
    if agent.state is not AgentState.ON_CALL:
        raise json_error(409, f"call {call_id} is not answered yet "
                         f"(agent {agent.agent_id} is {agent.state.value.lower()})")
    mode = SpyMode(body.mode)
    leg = await svc.spy.start(call_id, agent.agent_id, phone, mode)
    return reply(SpyOut(call_id=call_id, agent_id=agent.agent_id, phone=phone,
                        mode=mode.value, leg=leg), status=201)


@routes.delete(PATH, response=SpyStoppedOut, access=roles(Role.SUPERVISOR))
async def stop_spy(request: web.Request) -> web.Response:
    """Hang up the supervisor's phone's spy leg."""
    svc = need(request, SPY, MISSING)
    phone = _phone(request, svc)
    _call_id(request)
    return reply(SpyStoppedOut(stopped=await svc.spy.stop(phone)))


register = routes.register
