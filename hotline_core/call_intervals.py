"""Call-centre interval figures (话务统计): 30-minute rows per line, stored in the database,
and the day and month reports computed from them.

Rows are computed from the call records (:mod:`hotline_core.call_records`), not from the
live figures in Redis: the records are already in the database, survive a restart of the
core or of Redis, and include the calls Asterisk's fallback queue delivered (reconciled
from the CDR). Recomputing a period replaces its rows, so a call that ends after its
interval was first stored is counted right the next time (the core recomputes today and
yesterday every few minutes).

Definitions (a call belongs to the interval, in the hotline's zone, in which it was
offered; calls refused by the restriction list are left out — they were never offered to
an agent):

- offered: calls offered to the line.
- answered: calls an agent answered (``answered_at`` set).
- abandoned (呼损): the caller hung up before an agent answered.
- answered within 15 s: answered with ``answered_at − offered_at ≤ 15 s`` (greeting
  included: the caller's whole wait).
- talk seconds: Σ (``ended_at − answered_at``) of answered calls that ended.
- wait seconds: Σ (``answered_at`` or ``ended_at``) − ``offered_at`` of calls that were
  answered or ended.

Reports: connection rate (接通率) = answered / offered; the 24-hour connection rate of a day
or month is that ratio over all its intervals; GB/T 33358 (as the issue cites it) asks for
at least 95 %. Service level = answered within 15 s / offered. ``None`` when nothing was
offered.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo

from sqlalchemy import Float, Integer, String, delete, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from hotline_core.call_records import CallRecord, Disposition
from hotline_core.clock import UtcDateTime, start_of_day
from hotline_core.db import Base

INTERVAL = timedelta(minutes=30)
ANSWER_TARGET = timedelta(seconds=15)
CONNECTION_TARGET = 0.95  # 24-hour connection rate asked for (GB/T 33358, per the issue)


class CallInterval(Base):
    """One line's figures for one 30-minute interval."""

    __tablename__ = "call_intervals"

    line: Mapped[str] = mapped_column(String(20), primary_key=True)
    starts_at: Mapped[datetime] = mapped_column(UtcDateTime, primary_key=True)
    offered: Mapped[int] = mapped_column(Integer, default=0)
    answered: Mapped[int] = mapped_column(Integer, default=0)
    abandoned: Mapped[int] = mapped_column(Integer, default=0)
    answered_within_15s: Mapped[int] = mapped_column(Integer, default=0)
    talk_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    wait_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    # The answered calls' share of wait_seconds, for the average speed of answer (平均应答
    #速度); wait_seconds also holds the waits of calls abandoned (migration 0009).
    answered_wait_seconds: Mapped[float] = mapped_column(Float, default=0.0)


@dataclass
class Totals:
    """Summed interval rows."""

    offered: int = 0
    answered: int = 0
    abandoned: int = 0
    answered_within_15s: int = 0
    talk_seconds: float = 0.0
    wait_seconds: float = 0.0
    answered_wait_seconds: float = 0.0

    def add(self, row: CallInterval | Totals) -> None:
        self.offered += row.offered
        self.answered += row.answered
        self.abandoned += row.abandoned
        self.answered_within_15s += row.answered_within_15s
        self.talk_seconds += row.talk_seconds
        self.wait_seconds += row.wait_seconds
        self.answered_wait_seconds += row.answered_wait_seconds

    @property
    def connection_rate(self) -> float | None:
        return self.answered / self.offered if self.offered else None

    @property
    def service_level(self) -> float | None:
        return self.answered_within_15s / self.offered if self.offered else None

    def as_dict(self) -> dict[str, object]:
        rate = self.connection_rate
        return {
            "offered": self.offered, "answered": self.answered, "abandoned": self.abandoned,
            "answered_within_15s": self.answered_within_15s,
            "talk_seconds": round(self.talk_seconds, 3),
            "wait_seconds": round(self.wait_seconds, 3),
            "connection_rate": rate, "service_level": self.service_level,
            "average_talk_seconds": (round(self.talk_seconds / self.answered, 3)
                                     if self.answered else None),
            "meets_connection_target": None if rate is None else rate >= CONNECTION_TARGET,
            "average_speed_of_answer": (round(self.answered_wait_seconds / self.answered, 3)
                                        if self.answered else None),
            "abandon_rate": self.abandoned / self.offered if self.offered else None,
        }


@dataclass
class Report:
    """Figures of a period: per line and for all lines."""

    start: datetime
    end: datetime
    lines: dict[str, Totals] = field(default_factory=dict)
    total: Totals = field(default_factory=Totals)


def interval_start(instant: datetime, zone: tzinfo) -> datetime:
    """Start of the 30-minute interval (aligned in the hotline's zone) holding ``instant``."""
    local = instant.astimezone(zone)
    return local.replace(minute=local.minute - local.minute % 30, second=0, microsecond=0)


def _aware(value: datetime | None) -> datetime | None:
    # SQLite gives naive (UTC) values back for the call records' aware columns.
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def compute(records: Iterable[CallRecord], zone: tzinfo) -> dict[tuple[str, datetime], Totals]:
    """Interval rows, keyed by (line, interval start), from call records."""
    rows: dict[tuple[str, datetime], Totals] = {}
    for r in records:
        if r.disposition == Disposition.RESTRICTED.value:
            continue
        offered = _aware(r.offered_at)
        assert offered is not None
        answered, ended = _aware(r.answered_at), _aware(r.ended_at)
        t = rows.setdefault((r.line, interval_start(offered, zone)), Totals())
        t.offered += 1
        if answered is not None:
            t.answered += 1
            t.answered_within_15s += answered - offered <= ANSWER_TARGET
            t.answered_wait_seconds += (answered - offered).total_seconds()
            if ended is not None:
                t.talk_seconds += (ended - answered).total_seconds()
        elif r.disposition == Disposition.ABANDONED.value:
            t.abandoned += 1
        waited_until = answered or ended
        if waited_until is not None:
            t.wait_seconds += (waited_until - offered).total_seconds()
    return rows


def store(session: Session, start: datetime, end: datetime, zone: tzinfo) -> int:
    """Recompute and store the interval rows of [start, end) (interval-aligned); returns
    how many rows were written. The period's old rows are replaced."""
    start, end = interval_start(start, zone), interval_start(end, zone)
    if end <= start:
        return 0
    # The call records' column keeps UTC (SQLite drops the offset): compare in UTC.
    records = session.scalars(select(CallRecord).where(
        CallRecord.offered_at >= start.astimezone(UTC),
        CallRecord.offered_at < end.astimezone(UTC)))
    rows = compute(records, zone)
    session.execute(delete(CallInterval).where(CallInterval.starts_at >= start,
                                               CallInterval.starts_at < end))
    session.add_all(CallInterval(line=line, starts_at=at, offered=t.offered,
                                 answered=t.answered, abandoned=t.abandoned,
                                 answered_within_15s=t.answered_within_15s,
                                 talk_seconds=t.talk_seconds, wait_seconds=t.wait_seconds,
                                 answered_wait_seconds=t.answered_wait_seconds)
                    for (line, at), t in rows.items())
    return len(rows)


def store_recent(session: Session, now: datetime, zone: tzinfo) -> int:
    """What the core runs every few minutes: yesterday and today up to and including the
    current interval (stored as it stands and recomputed on every pass until it is over, so
    "today" is never older than one pass), and every day since the newest stored row when
    the core was down longer."""
    today = start_of_day(now.astimezone(zone).date(), zone)
    start = today - timedelta(days=1)
    newest = session.scalar(select(CallInterval.starts_at).order_by(
        CallInterval.starts_at.desc()).limit(1))
    if newest is not None and newest < start:
        start = start_of_day(newest.astimezone(zone).date(), zone)
    elif newest is None:
        first = session.scalar(select(CallRecord.offered_at).order_by(
            CallRecord.offered_at).limit(1))
        if first is not None:
            first_aware = _aware(first)
            assert first_aware is not None
            start = min(start, start_of_day(first_aware.astimezone(zone).date(), zone))
    return store(session, start, now + INTERVAL, zone)


def stored_rows(session: Session, start: datetime, end: datetime,
                line: str | None = None) -> list[CallInterval]:
    """The stored rows of [start, end) (of one line if given), oldest first."""
    stmt = select(CallInterval).where(CallInterval.starts_at >= start,
                                      CallInterval.starts_at < end)
    if line is not None:
        stmt = stmt.where(CallInterval.line == line)
    return list(session.scalars(stmt.order_by(CallInterval.starts_at, CallInterval.line)))


def summed(rows: Iterable[CallInterval], start: datetime, end: datetime) -> Report:
    """``rows`` summed per line and in all."""
    out = Report(start, end)
    for row in rows:
        out.lines.setdefault(row.line, Totals()).add(row)
        out.total.add(row)
    return out


def report(session: Session, start: datetime, end: datetime, line: str | None = None) -> Report:
    """Sum the stored rows of [start, end), per line and in all."""
    return summed(stored_rows(session, start, end, line), start, end)


def day_bounds(day: date, zone: tzinfo) -> tuple[datetime, datetime]:
    return start_of_day(day, zone), start_of_day(day + timedelta(days=1), zone)


def month_bounds(year: int, month: int, zone: tzinfo) -> tuple[datetime, datetime]:
    first = date(year, month, 1)
    following = date(year + month // 12, month % 12 + 1, 1)
    return start_of_day(first, zone), start_of_day(following, zone)
