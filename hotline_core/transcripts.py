"""Transcripts of call recordings and voice messages: one row per call leg.

Written by the speech workers (text, word timings and confidences, or the reason it
failed), read through the call API (``GET /api/calls/{id}``, transcript search).
``words`` is a JSON list of ``{"word": text, "start": s, "end": s, "conf": 0..1}`` with
times in seconds from the start of that leg's recording.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Integer, String, Text, UniqueConstraint, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from hotline_core.db import Base

QUEUED, DONE, FAILED = "queued", "done", "failed"


def _now() -> datetime:
    return datetime.now(UTC)


class Transcript(Base):
    __tablename__ = "transcripts"
    __table_args__ = (UniqueConstraint("call_id", "leg"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    call_id: Mapped[str] = mapped_column(String(64), index=True)
    leg: Mapped[str] = mapped_column(String(32))  # "caller", "agent", "mixed", "voicemail"
    audio_path: Mapped[str] = mapped_column(String(512))
    text: Mapped[str] = mapped_column(Text, default="")
    words: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    audio_seconds: Mapped[float] = mapped_column(default=0.0)
    status: Mapped[str] = mapped_column(String(16), default=QUEUED)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)


def save_transcript(
    session: Session,
    *,
    call_id: str,
    leg: str,
    audio_path: str,
    status: str,
    attempts: int,
    text: str = "",
    words: list[dict[str, Any]] | None = None,
    audio_seconds: float = 0.0,
    error: str | None = None,
) -> Transcript:
    """Insert or replace the transcript of (call_id, leg); a job run twice stores once."""
    row = session.scalars(
        select(Transcript).where(Transcript.call_id == call_id, Transcript.leg == leg)
    ).one_or_none()
    if row is None:
        row = Transcript(call_id=call_id, leg=leg)
        session.add(row)
    row.audio_path = audio_path
    row.status = status
    row.attempts = attempts
    row.text = text
    row.words = list(words or [])
    row.audio_seconds = audio_seconds
    row.error = error
    row.updated_at = _now()
    return row


def transcripts_of_call(session: Session, call_id: str) -> list[Transcript]:
    return list(
        session.scalars(
            select(Transcript).where(Transcript.call_id == call_id).order_by(Transcript.leg)
        )
    )


def search_transcripts(session: Session, q: str, limit: int = 50) -> list[Transcript]:
    """Finished transcripts containing ``q``, newest first.

    Spaces are ignored on both sides: Chinese models output words separated by spaces
    (``我 要 投诉``) while people type ``我要投诉``.
    """
    needle = "".join(q.split())
    if not needle:
        return []
    escaped = needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    compact = func.replace(Transcript.text, " ", "")
    return list(
        session.scalars(
            select(Transcript)
            .where(Transcript.status == DONE, compact.like(f"%{escaped}%", escape="\\"))
            .order_by(Transcript.updated_at.desc(), Transcript.id.desc())
            .limit(limit)
        )
    )
