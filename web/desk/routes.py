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
  ``GET /api/desk/kb`` (every knowledge-base entry, for staff signed in by cookie too);
- the voice-message inbox (语音留言箱) of the lines the agent serves (a line shares a
  skill with the agent): ``GET /api/desk/voice-messages``, a message's file
  ``GET /api/desk/voice-messages/{call_id}/recording`` and ``POST
  /api/desk/voice-messages/{call_id}/order``, which makes the order in one step from the
  message's call record (line, department, caller, recording linked on the server); the
  message then leaves the inbox, a second conversion is refused (409), and the sockets
  hear of it (``type: voice_message``).
"""

from __future__ import annotations

import asyncio
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
from hotline_core.recording_names import confined
from hotline_core.screen_pop import EarlierOrder, ScreenPop, duplicate_candidates
from hotline_core.voice_messages import (
    WaitingMessage,
    announce,
    converted_order,
    lines_served,
    waiting_message,
    waiting_messages,
)
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
    VoiceMessageList,
    VoiceMessageOut,
    VoiceOrderBody,
    VoiceRecording,
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


# ------------------------------------------------------------------ voice-message inbox
NO_TRANSCRIPT = "语音留言（尚无转写，请听录音）"


def _lines(svc: DeskServices, entry: AgentEntry) -> frozenset[str]:
    return lines_served(svc.line_skills, entry.skills)


def _message_out(m: WaitingMessage, reveal_caller: bool) -> VoiceMessageOut:
    return VoiceMessageOut(
        call_id=m.call_id, line=m.line, department=m.department,
        caller=m.caller if reveal_caller else mask_phone(m.caller),
        left_at=_iso(m.left_at) or "", transcript=m.transcript,
        recording_url=f"/api/desk/voice-messages/{m.call_id}/recording")


@routes.get("/api/desk/voice-messages", response=VoiceMessageList)
async def list_voice_messages(request: web.Request) -> web.Response:
    """The messages waiting on the lines this agent serves, oldest first."""
    svc = need(request, DESK, MISSING)
    who = principal(request, svc.access)
    lines = _lines(svc, _agent(svc, who))
    found = await reading(request, lambda s: waiting_messages(s, lines))
    reveal = svc.access.sees_full_number(who)
    return reply(VoiceMessageList(messages=[_message_out(m, reveal) for m in found]))


@routes.get("/api/desk/voice-messages/{call_id}/recording", response=VoiceRecording,
            media_type="audio/wav")
async def voice_message_recording(request: web.Request) -> web.StreamResponse:
    """The message's file (WAV), for an agent who serves its line."""
    svc = need(request, DESK, MISSING)
    lines = _lines(svc, _agent(svc, principal(request, svc.access)))
    call_id = _call_id(request)
    found = await reading(request, lambda s: waiting_message(s, call_id, lines))
    if found is None or svc.recordings_dir is None:
        raise json_error(404, "no such voice message on your lines")
    try:
        path = confined(svc.recordings_dir, found.message)
    except ValueError:
        raise json_error(404, "voice message file is missing") from None
    if not await asyncio.to_thread(path.is_file):
        raise json_error(404, "voice message file is missing")
    return web.FileResponse(path, headers={"Content-Type": "audio/wav"})


@routes.post("/api/desk/voice-messages/{call_id}/order", body=VoiceOrderBody,
             response=CallOrderOut, status=(201, 200))
async def order_from_voice_message(request: web.Request) -> web.Response:
    """The work order from a voice message, in one step (a repeat of the caller's open
    order on the same matter is linked to it, 200); a converted message answers 409."""
    svc = need(request, DESK, MISSING)
    orders = need(request, WORKORDERS, DESK_MISSING)
    who = principal(request, svc.access)
    lines = _lines(svc, _agent(svc, who))
    call_id = _call_id(request)
    body = await read_body(request, VoiceOrderBody)

    def work(session: Session) -> tuple[int, CallOrderOut]:
        # The record's row is locked first (PostgreSQL; SQLite has one writer), so two
        # cores converting the same message make one order.
        session.execute(select(CallRecord.id).where(CallRecord.id == call_id)
                        .with_for_update())
        message = waiting_message(session, call_id, lines)
        if message is None:
            raise json_error(404, "no such voice message on your lines")
        done = converted_order(session, call_id)
        if done is not None:
            raise json_error(409, f"voice message {call_id} is already work order #{done}")
        result = order_desk.create_order(session, orders.desk, who, Intake(
            channel="phone", category=body.category,
            description=body.description.strip() or message.transcript or NO_TRANSCRIPT,
            matter=body.matter, locality=body.locality, address=body.address,
            confidential=body.confidential, call_record_id=call_id))
        return (201 if result.created else 200), _saved(
            result.order, created=result.created, duplicate_of=result.duplicate_of)

    lock = svc.claims.lock(call_id)
    try:
        async with lock:
            status, out = await in_transaction(request, work)
    finally:
        svc.claims.release(call_id)
    if svc.redis is not None and out.order_id is not None:
        line = out.line or ""
        await announce(svc.redis, svc.distributor.names.voice_messages, call_id, line,
                       out.order_id)
    return reply(out, status=status)


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
