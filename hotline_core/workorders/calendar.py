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

Days are decided in the hotline's zone (:mod:`hotline_core.clock`; the calendar's
``zone``, default Asia/Shanghai), never in the host's. An aware instant is seen in that
zone and the result comes back in the instant's own ``tzinfo`` (UTC in, UTC out); a naive
datetime is taken as wall-clock time in that zone (the pure rules and their tests).

The package only knows the years whose notice has been published. Outside them the
calendar raises :class:`CalendarGapError`: it never guesses that a weekday is a
working day, because a wrong guess silently moves every deadline.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, tzinfo
from pathlib import Path
from typing import Annotated, Protocol

import chinese_calendar
from pydantic import BeforeValidator, Field, StringConstraints

from hotline_core.clock import DEFAULT_ZONE
from hotline_core.config_errors import ConfigError
from hotline_core.config_schema import ConfigModel, parse_toml, setting_error, validate_data

log = logging.getLogger(__name__)

ONE_DAY = timedelta(days=1)
WORKING_DAY = timedelta(hours=24)


class CalendarGapError(ValueError):
    """The calendar has no data for this date (year not yet published, or too old)."""


class WorkingCalendar(Protocol):
    """Anything that can say whether a date is a working day."""

    def is_working_day(self, d: date) -> bool: ...


@dataclass(frozen=True)
class YearArrangement:
    """One year's publication (the State Council's 节假日安排 notice): its holidays and
    make-up working days (调休上班); every other day of the year goes by its weekday."""

    year: int
    source: str  # the notice's number, e.g. 国办发明电〔2025〕7号
    holidays: Mapping[date, str] = field(default_factory=dict)
    working_days: Mapping[date, str] = field(default_factory=dict)

    def is_working_day(self, d: date) -> bool:
        if d in self.holidays:
            return False
        if d in self.working_days:
            return True
        return d.weekday() < 5


@dataclass(frozen=True)
class CalendarOverrides:
    """Local days that differ from the national calendar, each with its reason, and whole
    years' publications the ``chinesecalendar`` package may not carry yet."""

    non_working: Mapping[date, str] = field(default_factory=dict)
    working: Mapping[date, str] = field(default_factory=dict)
    years: Mapping[int, YearArrangement] = field(default_factory=dict)


class ChineseWorkingCalendar:
    """Mainland-China working days (法定节假日 + 调休) plus local overrides.

    With ``overrides_file`` the file is read again whenever its modification time or size
    changes (checked at each look-up), so a year's publication added in December counts
    without a restart. A file that no longer parses keeps the last good data and is
    logged once.
    """

    def __init__(self, overrides: CalendarOverrides | None = None,
                 zone: tzinfo = DEFAULT_ZONE, overrides_file: Path | None = None) -> None:
        self._overrides = overrides or CalendarOverrides()
        self.zone = zone
        self._file = overrides_file
        self._signature: tuple[int, int] | None = None
        self._lock = threading.Lock()
        # Deadlines walk the same few weeks for every order: memoise per date.
        self._cache: dict[date, bool] = {}
        if overrides_file is not None:
            self._overrides = load_overrides(overrides_file)
            self._signature = _signature(overrides_file)

    def _refresh(self) -> None:
        assert self._file is not None
        try:
            signature = _signature(self._file)
        except OSError as exc:
            signature = (-1, -1)
            problem: str | None = f"cannot read {self._file}: {exc.strerror}"
        else:
            problem = None
        if signature == self._signature:
            return
        with self._lock:
            if signature == self._signature:
                return
            self._signature = signature
            if problem is None:
                try:
                    overrides = load_overrides(self._file)
                except (ConfigError, OSError) as exc:
                    problem = str(exc)
                else:
                    self._overrides, self._cache = overrides, {}
                    log.info("calendar overrides reloaded from %s (years: %s)", self._file,
                             sorted(overrides.years) or "none")
                    return
            log.error("calendar overrides not reloaded, keeping the last good data: %s",
                      problem)

    @property
    def overrides(self) -> CalendarOverrides:
        return self._overrides

    def is_working_day(self, d: date) -> bool:
        if self._file is not None:
            self._refresh()
        cache = self._cache
        cached = cache.get(d)
        if cached is not None:
            return cached
        result = self._lookup(d)
        cache[d] = result
        return result

    def _lookup(self, d: date) -> bool:
        # Explicit local data wins, even in a year the package does not cover yet.
        overrides = self._overrides
        if d in overrides.non_working:
            return False
        if d in overrides.working:
            return True
        # A year's publication in the file is the notice itself: it wins over the package.
        arrangement = overrides.years.get(d.year)
        if arrangement is not None:
            return arrangement.is_working_day(d)
        try:
            return bool(chinese_calendar.is_workday(d))
        except NotImplementedError as exc:
            raise CalendarGapError(
                f"no working-day data for {d.isoformat()}: the State Council's holiday "
                f"arrangement for {d.year} is not in chinesecalendar "
                f"{_package_version()} nor in the calendar overrides file "
                f"([years.{d.year}]) ({exc})") from exc

    def add_working_days(self, start: datetime, days: int) -> datetime:
        return add_working_days(self, start, days)

    def add_working_hours(self, start: datetime, hours: int) -> datetime:
        return add_working_time(self, start, timedelta(hours=hours))

    def working_time_between(self, start: datetime, end: datetime) -> timedelta:
        return working_time_between(self, start, end)


def _midnight(d: date, like: datetime) -> datetime:
    return datetime.combine(d, time(0), tzinfo=like.tzinfo)


def zone_of(calendar: WorkingCalendar) -> tzinfo:
    """The zone in which ``calendar`` decides days (the hotline's; default Asia/Shanghai)."""
    zone = getattr(calendar, "zone", None)
    return zone if isinstance(zone, tzinfo) else DEFAULT_ZONE


def to_calendar_time(calendar: WorkingCalendar, instant: datetime) -> datetime:
    """``instant`` seen in the calendar's zone (a naive value is already wall time there)."""
    return instant if instant.tzinfo is None else instant.astimezone(zone_of(calendar))


def from_calendar_time(result: datetime, like: datetime) -> datetime:
    """A result computed in the calendar's zone, given back in ``like``'s form."""
    return result if like.tzinfo is None else result.astimezone(like.tzinfo)


def add_working_time(calendar: WorkingCalendar, start: datetime, amount: timedelta) -> datetime:
    """Earliest instant at which ``amount`` of working time has passed since ``start``."""
    if amount < timedelta(0):
        raise ValueError(f"working time to add must not be negative, got {amount}")
    if amount == timedelta(0):
        return start
    current, remaining = to_calendar_time(calendar, start), amount
    while True:
        next_midnight = _midnight(current.date() + ONE_DAY, current)
        if calendar.is_working_day(current.date()):
            available = next_midnight - current
            if remaining <= available:
                return from_calendar_time(current + remaining, start)
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
    total = timedelta(0)
    current, end = to_calendar_time(calendar, start), to_calendar_time(calendar, end)
    while current < end:
        next_midnight = _midnight(current.date() + ONE_DAY, current)
        segment_end = min(next_midnight, end)
        if calendar.is_working_day(current.date()):
            total += segment_end - current
        current = segment_end
    return total


def _signature(path: Path) -> tuple[int, int]:
    st = os.stat(path)
    return st.st_mtime_ns, st.st_size


def _package_version() -> str:
    return str(getattr(chinese_calendar, "__version__", "(unknown version)"))


def _iso_day(value: object) -> object:
    """A TOML key ``YYYY-MM-DD`` as a date; anything else is refused naming the form."""
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise ValueError("not a date, write YYYY-MM-DD") from None
    return value


def _reason_text(value: object) -> object:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("the reason must be a non-empty string")
    return value


Day = Annotated[date, BeforeValidator(_iso_day)]
Reason = Annotated[str, BeforeValidator(_reason_text)]
DayOrRange = Annotated[str, StringConstraints(
    pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}(\.\.[0-9]{4}-[0-9]{2}-[0-9]{2})?$")]


class YearTable(ConfigModel):
    """``[years.YYYY]``: one year's State Council arrangement (节假日安排)."""

    source: Annotated[str, StringConstraints(pattern=r"\S")] = Field(
        description="the notice's number, e.g. 国办发明电〔2025〕7号")
    holidays: dict[DayOrRange, Reason] = Field(
        default={}, description='"YYYY-MM-DD" or "YYYY-MM-DD..YYYY-MM-DD" = name')
    working_days: dict[DayOrRange, Reason] = Field(
        default={}, description="make-up working days (调休上班)")


class OverridesFile(ConfigModel):
    """``calendar_overrides.toml``: local working-day overrides (工作日调整)."""

    non_working_days: dict[Day, Reason] = Field(
        default={}, description="YYYY-MM-DD = reason: local holidays, typhoon days")
    working_days: dict[Day, Reason] = Field(
        default={}, description="YYYY-MM-DD = reason: extra working days")
    years: dict[Annotated[str, StringConstraints(pattern=r"^[0-9]{4}$")], YearTable] = {}


def load_overrides(path: Path) -> CalendarOverrides:
    """Read a TOML overrides file (see ``config/calendar_overrides.example.toml``).

    ``[non_working_days]`` and ``[working_days]``: local days, ``YYYY-MM-DD = "reason"``.
    ``[years.YYYY]``: one year's publication — ``source`` (the notice's number),
    ``[years.YYYY.holidays]`` and ``[years.YYYY.working_days]`` (make-up days), each
    ``"YYYY-MM-DD" = "name"`` or a range ``"YYYY-MM-DD..YYYY-MM-DD" = "name"``.
    Every error is the one :class:`ConfigError` naming the file, the line and the setting.
    """
    text, data = parse_toml(path, "workorders.calendar_overrides")
    f = validate_data(path, text, data, OverridesFile)
    both = sorted(set(f.non_working_days) & set(f.working_days))
    if both:
        raise setting_error(path, text, ["working_days", both[0].isoformat()],
                            "listed as both a working and a non-working day")
    years = {int(key): _year(path, text, key, table) for key, table in f.years.items()}
    return CalendarOverrides(non_working=dict(f.non_working_days),
                             working=dict(f.working_days), years=years)


def _year(path: Path, text: str, key: str, table: YearTable) -> YearArrangement:
    year = int(key)
    days = {part: _year_days(path, text, ["years", key, part], year, getattr(table, part))
            for part in ("holidays", "working_days")}
    both = sorted(set(days["holidays"]) & set(days["working_days"]))
    if both:
        raise setting_error(path, text, ["years", key, "working_days"],
                            f"{both[0].isoformat()} is both a holiday and a working day "
                            f"of {year}")
    return YearArrangement(year, table.source.strip(), days["holidays"],
                           days["working_days"])


def _year_days(path: Path, text: str, where: list[str], year: int,
               table: Mapping[str, str]) -> dict[date, str]:
    days: dict[date, str] = {}
    for key, name in table.items():
        first_raw, _, last_raw = key.partition("..")
        try:
            first = date.fromisoformat(first_raw)
            last = date.fromisoformat(last_raw) if last_raw else first
        except ValueError:
            raise setting_error(path, text, [*where, key],
                                "not a date, write YYYY-MM-DD") from None
        if last < first or first.year != year or last.year != year:
            raise setting_error(path, text, [*where, key],
                                f"must be a day or a range of days within {year}")
        day = first
        while day <= last:
            days[day] = name
            day += ONE_DAY
    return days
