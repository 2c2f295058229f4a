"""Working-day calendar (工作日历): which days count for work-order deadlines.

Official holidays and make-up working days (调休) come from the maintained
``chinesecalendar`` package, which encodes the State Council's yearly notice.
A deployment adds its own days (local holidays, typhoon or snow days: non-working;
extra working days) in a TOML overrides file.

Time convention (used by every deadline in ``hotline_core``)
------------------------------------------------------------
*Working time* is the part of the timeline that falls on working days; a working day
contributes all of its 24 hours, a non-working day contributes nothing. Adding an
amount of working time to an instant gives the **earliest instant at which that much
working time has passed**. Consequences, which the tests pin down:

* received on a working day at 10:00, + N working days → 10:00 on the Nth following
  working day (the same clock time);
* received on a non-working day, the clock starts at 00:00 of the next working day, so
  + N working days → 24:00 of the Nth working day counted from that day (that instant is
  written as 00:00 of the following calendar day, whatever kind of day that is);
* received at exactly 00:00 of a working day, that whole day is the first working day:
  + 1 working day → 24:00 of that day (00:00 of the next calendar day);
* the due instant itself is still in time ("N个工作日内"); overdue is strictly after it;
* + N working hours never advances the clock while it stands on a non-working day.

Datetimes are hotline-local wall-clock time (China Standard Time, no DST). Naive or
aware datetimes are both accepted; an aware one keeps its ``tzinfo`` and its own
calendar date is the one looked up.

The package only knows the years whose notice has been published. Outside them the
calendar raises :class:`CalendarGapError`: it never guesses that a weekday is a
working day, because a wrong guess silently moves every deadline.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Protocol

import chinese_calendar

ONE_DAY = timedelta(days=1)
WORKING_DAY = timedelta(hours=24)


class CalendarGapError(ValueError):
    """The calendar has no data for this date (year not yet published, or too old)."""


class OverridesError(ValueError):
    """A calendar overrides file is malformed; the message names file, line and setting."""


class WorkingCalendar(Protocol):
    """Anything that can say whether a date is a working day."""

    def is_working_day(self, d: date) -> bool: ...


@dataclass(frozen=True)
class CalendarOverrides:
    """Local days that differ from the national calendar, each with its reason."""

    non_working: Mapping[date, str] = field(default_factory=dict)
    working: Mapping[date, str] = field(default_factory=dict)


class ChineseWorkingCalendar:
    """Mainland-China working days (法定节假日 + 调休) plus local overrides."""

    def __init__(self, overrides: CalendarOverrides | None = None) -> None:
        self._overrides = overrides or CalendarOverrides()
        # Deadlines walk the same few weeks for every order: memoise per date.
        self._cache: dict[date, bool] = {}

    def is_working_day(self, d: date) -> bool:
        cached = self._cache.get(d)
        if cached is not None:
            return cached
        result = self._lookup(d)
        self._cache[d] = result
        return result

    def _lookup(self, d: date) -> bool:
        # Explicit local data wins, even in a year the package does not cover yet.
        if d in self._overrides.non_working:
            return False
        if d in self._overrides.working:
            return True
        try:
            return bool(chinese_calendar.is_workday(d))
        except NotImplementedError as exc:
            raise CalendarGapError(f"no working-day data for {d.isoformat()}: {exc}") from exc

    def add_working_days(self, start: datetime, days: int) -> datetime:
        return add_working_days(self, start, days)

    def add_working_hours(self, start: datetime, hours: int) -> datetime:
        return add_working_time(self, start, timedelta(hours=hours))

    def working_time_between(self, start: datetime, end: datetime) -> timedelta:
        return working_time_between(self, start, end)


def _midnight(d: date, like: datetime) -> datetime:
    return datetime.combine(d, time(0), tzinfo=like.tzinfo)


def add_working_time(calendar: WorkingCalendar, start: datetime, amount: timedelta) -> datetime:
    """Earliest instant at which ``amount`` of working time has passed since ``start``."""
    if amount < timedelta(0):
        raise ValueError(f"working time to add must not be negative, got {amount}")
    if amount == timedelta(0):
        return start
    current, remaining = start, amount
    while True:
        next_midnight = _midnight(current.date() + ONE_DAY, current)
        if calendar.is_working_day(current.date()):
            available = next_midnight - current
            if remaining <= available:
                return current + remaining
            remaining -= available
        current = next_midnight


def add_working_days(calendar: WorkingCalendar, start: datetime, days: int) -> datetime:
    """``days`` working days after ``start`` (see the module's time convention)."""
    if days < 0:
        raise ValueError(f"working days to add must not be negative, got {days}")
    return add_working_time(calendar, start, WORKING_DAY * days)


def working_time_between(calendar: WorkingCalendar, start: datetime, end: datetime) -> timedelta:
    """Working time in ``[start, end)``; negative when ``end`` is before ``start``."""
    if end < start:
        return -working_time_between(calendar, end, start)
    total, current = timedelta(0), start
    while current < end:
        next_midnight = _midnight(current.date() + ONE_DAY, current)
        segment_end = min(next_midnight, end)
        if calendar.is_working_day(current.date()):
            total += segment_end - current
        current = segment_end
    return total


_SECTIONS = {"non_working_days": "non_working", "working_days": "working"}


def load_overrides(path: Path) -> CalendarOverrides:
    """Read a TOML overrides file (see ``config/calendar_overrides.example.toml``).

    Every error names the file, the line and the setting that is wrong.
    """
    text = path.read_text(encoding="utf-8")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise OverridesError(f"{path}: {exc}") from exc
    lines = text.splitlines()
    parsed: dict[str, dict[date, str]] = {"non_working": {}, "working": {}}
    for section, value in data.items():
        if section not in _SECTIONS:
            line = _line_of(lines, section, None)
            raise OverridesError(
                f"{path}:{line}: unknown section [{section}]; expected one of "
                f"{sorted(_SECTIONS)}"
            )
        if not isinstance(value, dict):
            line = _line_of(lines, section, None)
            raise OverridesError(f"{path}:{line}: [{section}] must be a table of date = reason")
        for key, reason in value.items():
            line = _line_of(lines, key, section)
            parsed[_SECTIONS[section]][_parse_day(path, line, section, key)] = _reason(
                path, line, section, key, reason
            )
    both = sorted(set(parsed["non_working"]) & set(parsed["working"]))
    if both:
        line = _line_of(lines, both[0].isoformat(), "working_days")
        raise OverridesError(
            f"{path}:{line}: {both[0].isoformat()} is listed as both a working and a "
            "non-working day"
        )
    return CalendarOverrides(non_working=parsed["non_working"], working=parsed["working"])


def _parse_day(path: Path, line: int, section: str, key: str) -> date:
    try:
        return date.fromisoformat(key)
    except ValueError:
        raise OverridesError(
            f"{path}:{line}: {section}.{key}: not a date, write YYYY-MM-DD"
        ) from None


def _reason(path: Path, line: int, section: str, key: str, reason: object) -> str:
    if not isinstance(reason, str) or not reason.strip():
        raise OverridesError(
            f"{path}:{line}: {section}.{key}: the reason must be a non-empty string"
        )
    return reason


def _line_of(lines: list[str], key: str, section: str | None) -> int:
    """1-based line where ``key`` is set (inside ``[section]`` when given); 0 if not found."""
    current: str | None = None
    for number, raw in enumerate(lines, start=1):
        stripped = raw.strip()
        if stripped.startswith("["):
            current = stripped.strip("[]").strip()
            if section is None and current == key:
                return number
            continue
        name = stripped.split("=", 1)[0].strip().strip('"')
        if "=" in stripped and name == key and (section is None or current == section):
            return number
    return 0
