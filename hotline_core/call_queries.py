"""Reads of call records for the API (通话记录查询): a call's transcripts, the calls whose
words contain a text, and a month of call figures day by day."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta, tzinfo
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from hotline_core.call_intervals import Report, Totals, month_bounds, stored_rows, summed
from hotline_core.call_records import CallLog, CallRecord
from hotline_core.transcripts import search_transcripts, transcripts_of_call


@dataclass(frozen=True)
class TranscriptView:
    """One leg's transcript as the API shows it (no audio path)."""

    leg: str
    status: str
    text: str
    words: list[dict[str, Any]]
    audio_seconds: float
    error: str | None


def calls_saying(sessions: sessionmaker[Session], log: CallLog, text: str,
                 limit: int) -> list[CallRecord]:
    """Calls whose transcript contains ``text`` (spaces between words ignored), newest
    transcript first, each call once."""
    with sessions() as s:
        ids = list(dict.fromkeys(t.call_id for t in search_transcripts(s, text, limit)))
    return [r for r in (log.get(i) for i in ids) if r is not None]


def transcripts_for(sessions: sessionmaker[Session], call_id: str) -> list[TranscriptView]:
    with sessions() as s:
        return [TranscriptView(leg=t.leg, status=t.status, text=t.text, words=list(t.words),
                               audio_seconds=t.audio_seconds, error=t.error)
                for t in transcripts_of_call(s, call_id)]


def month_by_day(session: Session, year: int, month: int, zone: tzinfo,
                 line: str | None) -> tuple[Report, list[tuple[date, Totals]]]:
    """A month's stored interval rows summed whole and per calendar day of ``zone`` (every
    day of the month, an empty one as zero); the rows are read once."""
    start, end = month_bounds(year, month, zone)
    rows = stored_rows(session, start, end, line)
    by_day: dict[date, Totals] = {}
    for row in rows:
        by_day.setdefault(row.starts_at.astimezone(zone).date(), Totals()).add(row)
    days: list[tuple[date, Totals]] = []
    day, last = start.date(), end.astimezone(zone).date()
    while day < last:
        days.append((day, by_day.get(day, Totals())))
        day += timedelta(days=1)
    return summed(rows, start, end), days
