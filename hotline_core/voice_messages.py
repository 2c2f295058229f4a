"""The voice-message inbox (语音留言箱): messages callers left when nobody could answer
their line (``Disposition.VOICE_MESSAGE``, the file in ``CallRecord.message``), waiting
until an agent turns one into a work order.

A message leaves the inbox when a work order names its call record (``call_record_id``)
or an order event links the call to an open order it repeats (``duplicate_linked``):
no table of its own, so the inbox cannot disagree with the orders. Which lines an agent
serves follows its skills: a line is the agent's when they share a skill.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import redis.asyncio as aioredis
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from hotline_core.call_records import CallRecord, Disposition
from hotline_core.transcripts import DONE, Transcript
from hotline_core.workorders.lifecycle import EventKind
from hotline_core.workorders.model import WorkOrder, WorkOrderEvent

log = logging.getLogger(__name__)
TRANSCRIPT_LEG = "voicemail"      # ivr/transcription.py: the message's own transcript
INBOX_LIMIT = 200                 # messages listed at once, oldest first
ANNOUNCE_SECONDS = 2.0            # bound on the publish of a message's arrival


@dataclass(frozen=True)
class WaitingMessage:
    """One message in the inbox (the caller's number unmasked: the route masks it)."""

    call_id: str
    line: str
    department: str
    caller: str
    left_at: datetime
    message: str                  # the file's name under the recordings directory
    transcript: str | None        # the message's words, once transcribed


def lines_served(line_skills: Mapping[str, Collection[str]],
                 agent_skills: Collection[str]) -> frozenset[str]:
    """The lines whose messages an agent with ``agent_skills`` sees."""
    mine = set(agent_skills)
    return frozenset(line for line, skills in line_skills.items() if mine & set(skills))


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def converted_order(session: Session, call_id: str) -> int | None:
    """The order a message became (made from its call, or the open order it was linked to
    as a repeat), or None while it waits."""
    made = session.scalars(select(WorkOrder.id).where(WorkOrder.call_record_id == call_id)
                           .order_by(WorkOrder.id).limit(1)).first()
    if made is not None:
        return made
    linked: int | None = session.scalars(
        select(WorkOrderEvent.order_id)
        .where(WorkOrderEvent.kind == EventKind.DUPLICATE_LINKED.value,
               WorkOrderEvent.data["call_record_id"].as_string() == call_id)
        .limit(1)).first()
    return linked


def _transcripts(session: Session, call_ids: list[str]) -> dict[str, str]:
    if not call_ids:
        return {}
    rows = session.scalars(select(Transcript).where(
        Transcript.call_id.in_(call_ids), Transcript.leg == TRANSCRIPT_LEG,
        Transcript.status == DONE))
    return {t.call_id: t.text for t in rows}


def _waiting(records: list[CallRecord], session: Session) -> list[WaitingMessage]:
    words = _transcripts(session, [r.id for r in records])
    return [WaitingMessage(call_id=r.id, line=r.line, department=r.department,
                           caller=r.caller, left_at=_utc(r.offered_at),
                           message=r.message or "", transcript=words.get(r.id))
            for r in records if converted_order(session, r.id) is None]


def _messages(lines: Collection[str]) -> Select[Any]:
    return select(CallRecord).where(
        CallRecord.disposition == Disposition.VOICE_MESSAGE.value,
        CallRecord.message.is_not(None), CallRecord.line.in_(sorted(lines)))


def waiting_messages(session: Session, lines: Collection[str],
                     limit: int = INBOX_LIMIT) -> list[WaitingMessage]:
    """The messages of ``lines`` not yet turned into an order, oldest first."""
    if not lines:
        return []
    # Converted ones are skipped after reading: read a margin beyond the limit.
    query = _messages(lines).order_by(CallRecord.offered_at, CallRecord.id).limit(limit * 4)
    records: list[CallRecord] = list(session.scalars(query))
    return _waiting(records, session)[:limit]


def waiting_message(session: Session, call_id: str,
                    lines: Collection[str]) -> WaitingMessage | None:
    """One message of ``lines`` (converted or not: the caller checks), or None when the
    call is no message of those lines."""
    if not lines:
        return None
    record: CallRecord | None = session.scalars(
        _messages(lines).where(CallRecord.id == call_id)).first()
    if record is None:
        return None
    words = _transcripts(session, [record.id])
    return WaitingMessage(call_id=record.id, line=record.line, department=record.department,
                          caller=record.caller, left_at=_utc(record.offered_at),
                          message=record.message or "", transcript=words.get(record.id))


async def announce(redis: aioredis.Redis, channel: str, call_id: str, line: str,
                   order_id: int | None = None) -> None:
    """Tell the live sockets a message arrived (or, with ``order_id``, left the inbox).
    No caller number in it: the page reads the inbox over HTTP, with its access checks.
    A lost Redis only costs the live update (the inbox is read from the database)."""
    payload = {"call_id": call_id, "line": line, "order_id": order_id}
    try:
        async with asyncio.timeout(ANNOUNCE_SECONDS):
            await redis.publish(channel, json.dumps(payload))
    except Exception:
        log.warning("voice message %s: could not announce it on %s", call_id, channel)
