"""The agent desktop's routes (坐席工作台).

- ``GET /api/calls/{call_id}/pop``: the screen pop of a call — only for the agent the call
  rings on or talks to now, or whom its record names, and for supervisors;
- ``GET /api/desk``, ``POST /api/desk/ready|pause|logout``: the signed-in agent's own
  state (an operator's name is its agent id, so no agent id is ever sent: nobody can act
  for another agent here); a pause takes a reason from the configured list;
- ``POST /api/desk/calls/{call_id}/order``: the work order from the agent's call. Line,
  department, caller and recording come from the call record on the server; the caller's
  open orders about the same matter are shown first (``saved: false``) unless confirmed;
  with ``kb_entry_id`` a consult is answered on the spot and closed;
- ``GET /api/desk/matters`` (the responsibility list for the matter picker) and
  ``GET /api/desk/kb`` (every knowledge-base entry, for staff signed in by cookie too).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.orm import Session

from hotline_core.access import Principal, Role
from hotline_core.agent_directory import AgentEntry
from hotline_core.call_records import CallRecord
from hotline_core.masking import mask_phone
from hotline_core.screen_pop import EarlierOrder, ScreenPop, duplicate_candidates
from hotline_core.workorders import desk as order_desk
from hotline_core.workorders import knowledge
from hotline_core.workorders.desk import Intake
from hotline_core.workorders.model import Matter, WorkOrder
from web.api import NO_BODY, Routes, read_body, read_query, reply
from web.db import in_transaction, reading
from web.desk.schemas import (
    CallOrderBody,
    CallOrderOut,
    CandidateOut,
    DeskOut,
    EarlierCallOut,
    EarlierOrderOut,
    KbHitOut,
    KbHits,
    KbQuery,
    MatterList,
    MatterOut,
    PauseBody,
    PauseReasonOut,
    PopOut,
    RestrictionOut,
    StateOut,
)
from web.desk.services import DESK, MISSING, DeskServices
from web.errors import json_error
from web.keys import DESK_MISSING, WORKORDERS, need
from web.requests import principal

routes = Routes(tag="agent desktop")
CALL_ID = re.compile(r"^[0-9A-Za-z._-]{1,64}$")    # an Asterisk Uniqueid and the like


def _iso(value: datetime | None) -> str | None:
    """ISO 8601 with its offset: call records are UTC, but SQLite hands them back without
    their zone (a browser would read a bare time as its own local time)."""
    if value is None:
        return None
    return (value if value.tzinfo is not None else value.replace(tzinfo=UTC)).isoformat()


def _call_id(request: web.Request) -> str:
    raw = request.match_info["call_id"]
    if not CALL_ID.match(raw):
        raise json_error(404, "no such call")
    return raw


def _agent(svc: DeskServices, who: Principal) -> AgentEntry:
    """The agent the signed-in operator is (its name is the agent id)."""
    if who.role is not Role.OPERATOR:
        raise json_error(403, f"the desktop is for agents (operator role), not "
                              f"{who.role.value}")
    entry = svc.directory.get(who.name)
    if entry is None:
        raise json_error(403, f"{who.name} is not an agent of the agent directory")
    return entry


async def _owns_call(svc: DeskServices, who: Principal, call_id: str) -> bool:
    """Is the call ringing on / talking to this agent now, or was it this agent's?"""
    if await svc.pops.current_call(who.name) == call_id:
        return True
    return await svc.pops.owner(call_id) == who.name


def _order_out(o: EarlierOrder) -> EarlierOrderOut:
    return EarlierOrderOut(id=o.id, received_at=_iso(o.received_at) or "",
                           category=o.category, matter=o.matter, status=o.status,
                           due_at=_iso(o.due_at), overdue=o.overdue)


def pop_out(pop: ScreenPop, reveal_caller: bool) -> PopOut:
    """The pop as sent, by the route and by the live socket."""
    h, r = pop.history, pop.restriction
    return PopOut(
        call_id=pop.call.call_id, line=pop.call.line, department=pop.call.department,
        caller=pop.call.caller if reveal_caller else mask_phone(pop.call.caller),
        agent_id=pop.agent_id, needs_help=pop.needs_help,
        restricted=None if r is None else RestrictionOut(
            reason=r.reason, until=datetime.fromtimestamp(r.until, UTC).isoformat()),
        calls=[EarlierCallOut(id=c.id, line=c.line, offered_at=_iso(c.offered_at) or "",
                              disposition=c.disposition, agent_id=c.agent_id)
               for c in h.calls],
        orders=[_order_out(o) for o in h.orders],
        overdue_orders=[_order_out(o) for o in h.overdue_orders])


@routes.get("/api/calls/{call_id}/pop", response=PopOut)
async def get_pop(request: web.Request) -> web.Response:
    """The screen pop of a call: line, masked caller, history, overdue orders, flags."""
    svc = need(request, DESK, MISSING)
    who = principal(request, svc.access)
    call_id = _call_id(request)
    if who.role is Role.OPERATOR:
        if not await _owns_call(svc, who, call_id):
            raise json_error(403, f"call {call_id} is not agent {who.name}'s call")
    elif who.role is not Role.SUPERVISOR:
        raise json_error(403, f"role {who.role.value} does not receive screen pops")
    pop = await svc.pops.pop(call_id)
    if pop is None:
        raise json_error(404, "no such call")
    return reply(pop_out(pop, svc.access.sees_full_number(who)))


# ------------------------------------------------------------------ the agent's own state


@routes.get("/api/desk", response=DeskOut)
async def get_desk(request: web.Request) -> web.Response:
    """The signed-in agent's state and the pause reasons offered."""
    svc = need(request, DESK, MISSING)
    entry = _agent(svc, principal(request, svc.access))
    status = await svc.distributor.view.agent(entry.id)
    return reply(DeskOut(
        agent=entry.id, name=entry.name,
        state=status.state.value if status else "LOGGED_OUT",
        pause_reason=status.pause_reason if status else "",
        pending_pause=status.pending_pause if status else "",
        since=status.since if status else 0.0,
        current_call=status.current_call if status else None,
        wrapup_seconds=svc.wrapup_seconds,
        pause_reasons=[PauseReasonOut(code=c, label=label)
                       for c, label in svc.pause_reasons.items()]))


@routes.post("/api/desk/ready", body=NO_BODY, response=StateOut)
async def desk_ready(request: web.Request) -> web.Response:
    """Ready (示闲): logs in to the directory's skills when logged out, else ends a pause."""
    svc = need(request, DESK, MISSING)
    entry = _agent(svc, principal(request, svc.access))
    status = await svc.distributor.view.agent(entry.id)
    if status is None or status.state.value == "LOGGED_OUT":
        await svc.distributor.agent_login(entry.id, dict(entry.skills), group=entry.group)
        return reply(StateOut(agent=entry.id, done="login"))
    await svc.distributor.agent_unpause(entry.id)
    return reply(StateOut(agent=entry.id, done="unpause"))


@routes.post("/api/desk/pause", body=PauseBody, response=StateOut)
async def desk_pause(request: web.Request) -> web.Response:
    """Pause (示忙) with a reason from the configured list."""
    svc = need(request, DESK, MISSING)
    entry = _agent(svc, principal(request, svc.access))
    body = await read_body(request, PauseBody)
    if body.reason not in svc.pause_reasons:
        raise json_error(422, f"reason: {body.reason!r} is not a configured pause reason "
                              f"({', '.join(svc.pause_reasons)})", field="reason")
    await svc.distributor.agent_pause(entry.id, body.reason)
    return reply(StateOut(agent=entry.id, done="pause"))


@routes.post("/api/desk/logout", body=NO_BODY, response=StateOut)
async def desk_logout(request: web.Request) -> web.Response:
    """Log out (签出) of call distribution."""
    svc = need(request, DESK, MISSING)
    entry = _agent(svc, principal(request, svc.access))
    await svc.distributor.agent_logout(entry.id)
    return reply(StateOut(agent=entry.id, done="logout"))


# ------------------------------------------------------------------ the order from the call


def _candidate(o: WorkOrder) -> CandidateOut:
    return CandidateOut(id=o.id, received_at=_iso(o.received_at) or "", category=o.category,
                        matter=o.matter, status=o.status)


def _intake(call_id: str, b: CallOrderBody) -> Intake:
    # Line, department, caller and recording are left out: the desk takes them from the
    # call record (desk._from_call), so nothing the browser sends can change them.
    return Intake(channel="phone", category=b.category, description=b.description,
                  caller_name=b.caller_name, address=b.address, locality=b.locality,
                  matter=b.matter, confidential=b.confidential,
                  publish_consent=b.publish_consent, call_record_id=call_id,
                  new_information=b.confirm == "new")


@routes.post("/api/desk/calls/{call_id}/order", body=CallOrderBody, response=CallOrderOut,
             status=(201, 200))
async def order_from_call(request: web.Request) -> web.Response:
    """The work order from the agent's call (duplicate warning first; KB answer closes)."""
    svc = need(request, DESK, MISSING)
    orders = need(request, WORKORDERS, DESK_MISSING)
    who = principal(request, svc.access)
    _agent(svc, who)
    call_id = _call_id(request)
    body = await read_body(request, CallOrderBody)
    if not await _owns_call(svc, who, call_id):
        raise json_error(403, f"call {call_id} is not agent {who.name}'s call")
    intake = _intake(call_id, body)

    def work(session: Session) -> tuple[int, CallOrderOut]:
        if body.kb_entry_id is not None:
            order = order_desk.answer_from_knowledge_base(session, orders.desk, who, intake,
                                                          body.kb_entry_id)
            return 201, _saved(order, created=True)
        if body.confirm is None:
            record = session.get(CallRecord, call_id)   # none: create_order names it (422)
            found = [] if record is None else duplicate_candidates(
                session, record.caller, body.matter, now=orders.desk.now(),
                days=svc.duplicate_days)
            if found:
                return 200, CallOrderOut(saved=False,
                                         candidates=[_candidate(o) for o in found])
        result = order_desk.create_order(session, orders.desk, who, intake)
        return (201 if result.created else 200), _saved(
            result.order, created=result.created, duplicate_of=result.duplicate_of)

    status, out = await in_transaction(request, work)
    return reply(out, status=status)


def _saved(order: WorkOrder, *, created: bool, duplicate_of: int | None = None
           ) -> CallOrderOut:
    return CallOrderOut(saved=True, order_id=order.id, created=created,
                        duplicate_of=duplicate_of, status=order.status, line=order.line,
                        department=order.department, recording=order.recording)


# ------------------------------------------------------------------ pickers


@routes.get("/api/desk/matters", response=MatterList)
async def list_matters(request: web.Request) -> web.Response:
    """The responsibility list's matters (职责清单), for the matter picker."""
    svc = need(request, DESK, MISSING)
    _agent(svc, principal(request, svc.access))

    def work(session: Session) -> MatterList:
        rows = session.scalars(select(Matter).order_by(Matter.name)).all()
        return MatterList(matters=[MatterOut(name=m.name, department=m.department,
                                             section=m.section) for m in rows])

    return reply(await reading(request, work))


@routes.get("/api/desk/kb", query=KbQuery, response=KbHits)
async def search_kb(request: web.Request) -> web.Response:
    """Knowledge-base search for the agent (every entry, private ones too)."""
    svc = need(request, DESK, MISSING)
    _agent(svc, principal(request, svc.access))
    q = read_query(request, KbQuery)

    def work(session: Session) -> KbHits:
        hits = knowledge.search(session, q.q.strip(), limit=q.limit)
        return KbHits(query=q.q.strip(), results=[
            KbHitOut(id=h.entry.id, question=h.entry.question, answer=h.entry.answer,
                     unit=h.entry.unit_code) for h in hits])

    return reply(await in_transaction(request, work))


register = routes.register



class LivePops:
    """The screen pops the live socket sends (``web.live.services.PopFeed``, handed over
    by the composition)."""

    def __init__(self, svc: DeskServices) -> None:
        self._svc = svc

    async def current_call(self, agent_id: str) -> str | None:
        return await self._svc.pops.current_call(agent_id)

    async def pop(self, call_id: str, agent_id: str, reveal_caller: bool
                  ) -> dict[str, Any] | None:
        found = await self._svc.pops.pop(call_id, agent_id)
        return None if found is None else pop_out(found, reveal_caller).model_dump(mode="json")
