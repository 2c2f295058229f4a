"""Missed calls to call back (未接来电回拨, 国办函〔2025〕66号).

A caller who hung up after waiting at least ``min_wait_seconds`` (a call record abandoned
in the core's line) and has not called again since is called back once: a target of the
``missed_call`` kind keyed by the caller's number and the day, so three abandoned calls in a
row give one callback. Read from the call records, so calls reconciled from the CDR file
after a core restart count too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from hotline_core.call_records import CallRecord, Disposition, Route
from hotline_core.campaigns.config import MissedCallSettings
from hotline_core.campaigns.model import Campaign, CampaignKind, CampaignTarget


@dataclass(frozen=True)
class MissedCall:
    call_id: str
    line: str
    caller: str
    offered_at: datetime


def _utc(value: datetime) -> datetime:
    # SQLite hands call-record instants back naive; everything stored is UTC.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def missed_key(caller: str) -> str:
    """One missed-call callback per number while one is open or was made recently."""
    return f"missed:{caller}"


def missed_calls(session: Session, settings: MissedCallSettings, now: datetime,
                 ended_after: datetime | None = None) -> list[MissedCall]:
    """Abandoned calls of the last ``lookback_hours`` that waited long enough, whose caller
    has not called again and has no missed-call target made since that call.
    ``ended_after``: only calls that ended since (the previous pass looked at the rest)."""
    since = now - timedelta(hours=settings.lookback_hours)
    stmt = select(CallRecord).where(
        CallRecord.disposition == Disposition.ABANDONED.value,
        CallRecord.route == Route.CORE.value,
        CallRecord.offered_at >= since)
    if ended_after is not None:
        stmt = stmt.where(CallRecord.ended_at >= ended_after)
    rows = session.scalars(stmt).all()
    latest: dict[str, MissedCall] = {}
    for r in rows:
        if r.ended_at is None:
            continue
        waited = (_utc(r.ended_at) - _utc(r.offered_at)).total_seconds()
        if waited < settings.min_wait_seconds:
            continue
        seen = latest.get(r.caller)
        if seen is None or _utc(r.offered_at) > seen.offered_at:
            latest[r.caller] = MissedCall(r.id, r.line, r.caller, _utc(r.offered_at))
    return [m for m in latest.values()
            if not called_again(session, m.caller, m.offered_at)
            and not _already_targeted(session, m.caller, m.offered_at)]


def called_again(session: Session, caller: str, after: datetime) -> bool:
    """A later call from the same number reached the platform."""
    return session.scalars(select(CallRecord.id).where(
        CallRecord.caller == caller, CallRecord.offered_at > after,
        CallRecord.route != Route.CALLBACK.value).limit(1)).first() is not None


def _already_targeted(session: Session, caller: str, since: datetime) -> bool:
    return session.scalars(
        select(CampaignTarget.id)
        .join(Campaign, Campaign.id == CampaignTarget.campaign_id)
        .where(Campaign.kind == CampaignKind.MISSED_CALL.value,
               CampaignTarget.key.like(f"{missed_key(caller)}:%"),
               CampaignTarget.created_at >= since).limit(1)).first() is not None
