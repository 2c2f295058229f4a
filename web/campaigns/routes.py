"""Campaign routes: supervisors list campaigns, their targets and attempts; supervisors and
callback staff read the worklist of targets the dialer could not reach (人工回访)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

from aiohttp import web
from sqlalchemy.orm import Session

from hotline_core.access import Principal, Role
from hotline_core.campaigns import queries
from hotline_core.campaigns.model import TargetState
from hotline_core.masking import mask_phone
from hotline_core.timeouts import within
from web.api import Routes, read_query, reply
from web.campaigns.schemas import (
    AttemptList,
    AttemptOut,
    AttemptQuery,
    CampaignList,
    CampaignOut,
    DestinationOut,
    PageQuery,
    TargetList,
    TargetOut,
    TargetQuery,
)
from web.campaigns.services import CAMPAIGNS, CampaignServices
from web.errors import json_error
from web.keys import need
from web.requests import principal

routes = Routes(tag="campaigns")
T = TypeVar("T")
WORKLIST_READERS = {Role.SUPERVISOR, Role.CALLBACK}


def _who(request: web.Request, roles: set[Role]) -> tuple[CampaignServices, Principal]:
    svc = need(request, CAMPAIGNS, "campaigns are not configured in this process")
    who = principal(request, svc.access)
    if who.role not in roles:
        raise json_error(403, f"role {who.role.value} may not read campaigns")
    return svc, who


async def _read(svc: CampaignServices, fn: Callable[[Session], T]) -> T:
    def run() -> T:
        with svc.sessions() as s:
            return fn(s)
    return await within(asyncio.to_thread(run), 30)


def _campaign_id(request: web.Request) -> int:
    raw = request.match_info["campaign_id"]
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 12):
        raise json_error(404, "no such campaign")
    return int(raw)


def _number(svc: CampaignServices, who: Principal, number: str) -> str:
    return number if svc.access.sees_full_number(who) else mask_phone(number)


@routes.get("/api/campaigns", response=CampaignList)
async def list_campaigns(request: web.Request) -> web.Response:
    """Every campaign, its targets counted by state and its attempts (supervisors)."""
    svc, _ = _who(request, {Role.SUPERVISOR})
    rows = await _read(svc, queries.campaigns)
    return reply(CampaignList(campaigns=[CampaignOut(
        id=r.id, kind=r.kind, name=r.name, line=r.line, state=r.state, standing=r.standing,
        max_channels=r.max_channels, created_at=r.created_at, targets=r.targets,
        attempts=r.attempts) for r in rows]))


def _attempts(svc: CampaignServices, who: Principal,
              rows: list[queries.AttemptRow]) -> AttemptList:
    return AttemptList(attempts=[AttemptOut(
        id=a.id, target_id=a.target_id, campaign_id=a.campaign_id, kind=a.kind, seq=a.seq,
        number=_number(svc, who, a.number), role=a.role, state=a.state, outcome=a.outcome,
        detail=a.detail, agent_id=a.agent_id, order_id=a.order_id, call_id=a.call_id,
        recording=a.recording, created_at=a.created_at, answered_at=a.answered_at,
        ended_at=a.ended_at) for a in rows])


def _targets(svc: CampaignServices, who: Principal,
             rows: list[queries.TargetRow]) -> TargetList:
    return TargetList(targets=[TargetOut(
        id=t.id, campaign_id=t.campaign_id, kind=t.kind, line=t.line, state=t.state,
        destinations=[DestinationOut(number=_number(svc, who, d.get("number", "")),
                                     role=d.get("role", "")) for d in t.destinations],
        order_id=t.order_id, call_id=t.call_id, attempts=t.attempts, outcome=t.outcome,
        result=t.result, next_at=t.next_at, created_at=t.created_at, closed_at=t.closed_at)
        for t in rows])


@routes.get("/api/campaigns/{campaign_id}/attempts", query=AttemptQuery,
            response=AttemptList)
async def campaign_attempts(request: web.Request) -> web.Response:
    """A campaign's attempts, newest first (``before`` pages on; supervisors)."""
    svc, who = _who(request, {Role.SUPERVISOR})
    campaign_id = _campaign_id(request)
    q = read_query(request, AttemptQuery)

    def read(s: Session) -> list[queries.AttemptRow] | None:
        if not queries.campaign_exists(s, campaign_id):
            return None
        return queries.attempts(s, campaign_id=campaign_id,
                                outcome=q.outcome.value if q.outcome else None,
                                limit=q.limit, before_id=q.before)
    rows = await _read(svc, read)
    if rows is None:
        raise json_error(404, "no such campaign")
    return reply(_attempts(svc, who, rows))


@routes.get("/api/campaigns/{campaign_id}/targets", query=TargetQuery, response=TargetList)
async def campaign_targets(request: web.Request) -> web.Response:
    """A campaign's targets, newest first (supervisors)."""
    svc, who = _who(request, {Role.SUPERVISOR})
    campaign_id = _campaign_id(request)
    q = read_query(request, TargetQuery)

    def read(s: Session) -> list[queries.TargetRow] | None:
        if not queries.campaign_exists(s, campaign_id):
            return None
        return queries.targets(s, state=q.state.value if q.state else None,
                               campaign_id=campaign_id, limit=q.limit,
                               before_id=q.before)
    rows = await _read(svc, read)
    if rows is None:
        raise json_error(404, "no such campaign")
    return reply(_targets(svc, who, rows))


@routes.get("/api/campaigns/worklist", query=PageQuery, response=TargetList)
async def worklist(request: web.Request) -> web.Response:
    """Targets the dialer gave up on after the last attempt: for staff to call by hand
    (人工回访; supervisors and callback staff, who see the numbers whole)."""
    svc, who = _who(request, WORKLIST_READERS)
    q = read_query(request, PageQuery)
    rows = await _read(svc, lambda s: queries.targets(
        s, state=TargetState.WORKLIST.value, limit=q.limit, before_id=q.before))
    return reply(_targets(svc, who, rows))


register = routes.register
