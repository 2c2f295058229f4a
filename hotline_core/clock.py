"""The hotline's time convention: aware instants, UTC in storage, the hotline's zone for
calendar decisions.

* Every instant the core handles is a timezone-aware :class:`datetime`. The clock is
  :func:`utc_now`; the host's own time zone (``TZ``, ``/etc/localtime``) is never read.
* The database keeps UTC (:class:`UtcDateTime`): a naive value is refused on the way in,
  values come back aware in UTC. Rows written before this convention hold naive UTC too
  (they were written on UTC hosts; see ``docs/architecture.md``).
* Wherever a working day or a calendar date is decided (deadlines, lights, reports, the
  start of a day of call figures, Open311 dates) the instant is first seen in the
  hotline's zone (``[workorders] time_zone``, default :data:`DEFAULT_ZONE`). The call
  distributor's leader-seat days still use their own ``utc_offset_hours`` in
  ``config/distribution.toml`` (same default, +8).
* A naive date-time typed by a person (an API field, a test's clock reading) is the
  hotline's wall-clock time: :func:`in_zone` attaches the zone.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import DateTime
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

DEFAULT_ZONE_NAME = "Asia/Shanghai"
DEFAULT_ZONE: tzinfo = ZoneInfo(DEFAULT_ZONE_NAME)


class NaiveInstantError(ValueError):
    """A naive datetime reached a place that needs an instant."""


def utc_now() -> datetime:
    """The current instant, aware, in UTC."""
    return datetime.now(UTC)


def zone_named(name: str) -> tzinfo:
    """The IANA zone ``name``; ValueError naming it when the system has no such zone."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"{name!r} is not a known IANA time zone (e.g. Asia/Shanghai)") from exc


def in_zone(value: datetime, zone: tzinfo) -> datetime:
    """``value`` as an aware instant: a naive value is wall-clock time in ``zone``."""
    return value.replace(tzinfo=zone) if value.tzinfo is None else value




def start_of_day(day: date, zone: tzinfo) -> datetime:
    """00:00 of ``day`` in ``zone``, as an aware instant."""
    return datetime.combine(day, time(0), tzinfo=zone)


def to_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise NaiveInstantError(f"naive datetime {value.isoformat()} has no time zone")
    return value.astimezone(UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """A column of instants: stored as UTC (no zone in the column), read back aware UTC."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime, got {type(value).__name__}")
        return to_utc(value).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if isinstance(value, datetime):
            return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return value
