"""Queries and answers of the call-figure routes."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from pydantic import AfterValidator

from web.api import Model, Out

MAX_LINE = 20  # the call_intervals.line column


def _line(raw: str) -> str:
    if not raw or len(raw) > MAX_LINE or not raw.isascii() or not raw.isdigit():
        raise ValueError(f"{raw[:40]!r} is not a line number (digits, at most {MAX_LINE})")
    return raw


def _day(raw: str) -> str:
    try:
        if len(raw) != 10:
            raise ValueError
        day = date.fromisoformat(raw)
    except ValueError:
        raise ValueError(f"{raw[:40]!r} is not a date YYYY-MM-DD") from None
    if day.year >= 9999 or day.year <= 1:   # the day before and after must exist too
        raise ValueError(f"{day.isoformat()} is out of range")
    return raw


def _month(raw: str) -> str:
    try:
        if len(raw) != 7 or raw[4] != "-" or not (raw[:4] + raw[5:]).isdigit():
            raise ValueError
        year, month = int(raw[:4]), int(raw[5:])
        date(year, month, 1)
        if year >= 9999:
            raise ValueError
    except ValueError:
        raise ValueError(f"{raw[:40]!r} is not a month YYYY-MM") from None
    return raw


Line = Annotated[str, AfterValidator(_line)]
Day = Annotated[str, AfterValidator(_day)]
Month = Annotated[str, AfterValidator(_month)]


class DayQuery(Model):
    """``date=YYYY-MM-DD`` (default today, in the hotline's zone), ``line``."""

    date: Day | None = None
    line: Line | None = None


class MonthQuery(Model):
    """``month=YYYY-MM`` (default this month), ``line``."""

    month: Month | None = None
    line: Line | None = None


class TotalsOut(Out):
    offered: int
    answered: int
    abandoned: int
    answered_within_15s: int
    talk_seconds: float
    wait_seconds: float
    connection_rate: float | None
    service_level: float | None
    average_talk_seconds: float | None
    meets_connection_target: bool | None
    average_speed_of_answer: float | None   # answered calls' wait / answered (ASA)
    abandon_rate: float | None              # abandoned / offered (放弃率)


class ReportOut(Out):
    start: str
    end: str
    lines: dict[str, TotalsOut]
    total: TotalsOut


class DayOut(Out):
    date: str
    day: ReportOut
    previous_day: ReportOut


class DayTotalsOut(TotalsOut):
    date: str


class MonthOut(Out):
    month: str
    connection_target: float
    start: str
    end: str
    lines: dict[str, TotalsOut]
    total: TotalsOut
    days: list[DayTotalsOut]


class IntervalRowOut(Out):
    line: str
    starts_at: str
    offered: int
    answered: int
    abandoned: int
    answered_within_15s: int
    talk_seconds: float
    wait_seconds: float


class IntervalsOut(Out):
    date: str
    minutes: int
    rows: list[IntervalRowOut]
