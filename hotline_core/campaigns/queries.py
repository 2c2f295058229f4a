"""What supervisors read about campaigns (外呼任务查询): campaigns with their targets counted
by state, a campaign's attempts, the human callback worklist, an order's attempts.

Numbers come back whole; the web layer masks them for roles that may not see them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hotline_core.campaigns.model import Campaign, CampaignAttempt, CampaignTarget

MAX_ROWS = 500


@dataclass(frozen=True)
class CampaignRow:
    id: int
    kind: str
    name: str
    line: str
    state: str
    standing: bool
    max_channels: int | None
    created_at: datetime
    targets: dict[str, int]      # state → count
    attempts: int


@dataclass(frozen=True)
class AttemptRow:
    id: int
    target_id: int
    campaign_id: int
    kind: str
    seq: int
    number: str
    role: str
    state: str
    outcome: str | None
    detail: str
    agent_id: str | None
    order_id: int | None
    call_id: str | None
    recording: str | None
    created_at: datetime
    answered_at: datetime | None
    ended_at: datetime | None


@dataclass(frozen=True)
class TargetRow:
    id: int
    campaign_id: int
    kind: str
    line: str
    state: str
    destinations: list[dict[str, str]]
    order_id: int | None
    call_id: str | None
    attempts: int
    outcome: str
    result: dict[str, Any]
    next_at: datetime | None
    created_at: datetime
    closed_at: datetime | None


def campaigns(session: Session) -> list[CampaignRow]:
    counts: dict[int, dict[str, int]] = {}
    for cid, state, n in session.execute(
            select(CampaignTarget.campaign_id, CampaignTarget.state, func.count())
            .group_by(CampaignTarget.campaign_id, CampaignTarget.state)):
        counts.setdefault(int(cid), {})[str(state)] = int(n)
    dials = {int(cid): int(n) for cid, n in session.execute(
        select(CampaignAttempt.campaign_id, func.count()).group_by(
            CampaignAttempt.campaign_id))}
    return [CampaignRow(c.id, c.kind, c.name, c.line, c.state, c.standing, c.max_channels,
                        c.created_at, counts.get(c.id, {}), dials.get(c.id, 0))
            for c in session.scalars(select(Campaign).order_by(Campaign.id).limit(MAX_ROWS))]


def campaign_exists(session: Session, campaign_id: int) -> bool:
    return session.get(Campaign, campaign_id) is not None


def attempts(session: Session, *, campaign_id: int | None = None,
             order_id: int | None = None, outcome: str | None = None,
             limit: int = 100, before_id: int | None = None) -> list[AttemptRow]:
    """Newest first; ``before_id`` pages on."""
    stmt = (select(CampaignAttempt, CampaignTarget, Campaign)
            .join(CampaignTarget, CampaignTarget.id == CampaignAttempt.target_id)
            .join(Campaign, Campaign.id == CampaignAttempt.campaign_id))
    if campaign_id is not None:
        stmt = stmt.where(CampaignAttempt.campaign_id == campaign_id)
    if order_id is not None:
        stmt = stmt.where(CampaignTarget.order_id == order_id)
    if outcome is not None:
        stmt = stmt.where(CampaignAttempt.outcome == outcome)
    if before_id is not None:
        stmt = stmt.where(CampaignAttempt.id < before_id)
    stmt = stmt.order_by(CampaignAttempt.id.desc()).limit(min(limit, MAX_ROWS))
    return [AttemptRow(a.id, t.id, c.id, c.kind, a.seq, a.number, a.role, a.state, a.outcome,
                       a.detail, a.agent_id, t.order_id, t.call_id, a.recording,
                       a.created_at, a.answered_at, a.ended_at)
            for a, t, c in session.execute(stmt)]


def targets(session: Session, *, state: str | None = None, campaign_id: int | None = None,
            limit: int = 100, before_id: int | None = None) -> list[TargetRow]:
    stmt = (select(CampaignTarget, Campaign)
            .join(Campaign, Campaign.id == CampaignTarget.campaign_id))
    if state is not None:
        stmt = stmt.where(CampaignTarget.state == state)
    if campaign_id is not None:
        stmt = stmt.where(CampaignTarget.campaign_id == campaign_id)
    if before_id is not None:
        stmt = stmt.where(CampaignTarget.id < before_id)
    stmt = stmt.order_by(CampaignTarget.id.desc()).limit(min(limit, MAX_ROWS))
    return [TargetRow(t.id, c.id, c.kind, c.line, t.state, list(t.destinations), t.order_id,
                      t.call_id, t.attempts, t.outcome, dict(t.result or {}), t.next_at,
                      t.created_at, t.closed_at)
            for t, c in session.execute(stmt)]
