"""Distribution settings (分配配置): wrap-up, overflow, strategies, priorities, leader seat.

Configuration is data: a TOML file read by :func:`load_distribution_config`, validated at
load time; every error names the setting it is about (``overflow.12351.after_seconds``).
No city-specific number lives in code — the example is ``config/distribution.example.toml``.
"""

from __future__ import annotations

import datetime as dt
import math
import tomllib
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any


class ConfigError(ValueError):
    """A distribution setting is missing or wrong; the message starts with its name."""


class Strategy(StrEnum):
    """How a skill queue chooses among its ready agents (振铃策略)."""

    LONGEST_IDLE = "longest_idle"  # ready agent idle the longest (sub-second)
    FEWEST_CALLS = "fewest_calls"  # fewest calls answered since login, then longest idle
    SKILL_LEVEL = "skill_level"  # best skill level first (1 = best), then longest idle


@dataclass(frozen=True)
class OverflowRule:
    """Overflow (溢出): a call still waiting ``after_seconds`` may also go to ``fallback``."""

    after_seconds: float
    fallback: str


@dataclass(frozen=True)
class Priorities:
    """Caller priorities (优先级); higher goes first, equal priority is first come first served.

    ``starvation_seconds``: a call of lower priority than ``starved_priority`` that has waited
    that long is treated as ``starved_priority`` (0 disables the bound).
    """

    normal: int = 0
    needs_help: int = 10  # elderly / dialect callers (R-ELDERLY)
    overdue_order: int = 20  # caller has an open overdue work order (超期工单)
    emergency_transfer: int = 30  # transferred from 110/119/120/122 (R-EMERG)
    starvation_seconds: float = 120.0
    starved_priority: int = 10

    def for_caller(
        self, *, emergency_transfer: bool = False, overdue_order: bool = False,
        needs_help: bool = False,
    ) -> int:
        """The priority of a call with these flags: the highest that applies."""
        levels = [self.normal]
        if emergency_transfer:
            levels.append(self.emergency_transfer)
        if overdue_order:
            levels.append(self.overdue_order)
        if needs_help:
            levels.append(self.needs_help)
        return max(levels)


@dataclass(frozen=True)
class LeaderSeat:
    """Leader seat (领导接听专席 / 市长热线日, R-LEADER).

    On a scheduled day (ISO weekday 1=Monday..7, or an explicit date), calls on ``line`` need
    ``skill`` (the leader's) instead of their own skills; an overflow rule on ``skill`` sends
    them on to the general pool. On other days the line routes as usual.
    """

    line: str
    skill: str
    weekdays: tuple[int, ...] = ()
    dates: tuple[dt.date, ...] = ()

    def scheduled(self, day: dt.date) -> bool:
        return day in self.dates or day.isoweekday() in self.weekdays


@dataclass(frozen=True)
class DistributionConfig:
    """All settings of the call distributor (ACD)."""

    wrapup_seconds: float = 15.0
    service_level_seconds: float = 15.0
    no_answer_timeout: float = 20.0
    # a phone still RINGING no_answer_timeout + this after the assignment is treated as
    # ring-no-answer by the timer run, advance (the telephony side lost the event); 0 = never
    stuck_ring_grace_seconds: float = 10.0
    default_strategy: Strategy = Strategy.LONGEST_IDLE
    strategy: dict[str, Strategy] = field(default_factory=dict)
    overflow: dict[str, OverflowRule] = field(default_factory=dict)
    priorities: Priorities = field(default_factory=Priorities)
    leader_seats: tuple[LeaderSeat, ...] = ()
    utc_offset_hours: float = 8.0  # the hotline's local time, for leader-seat days
    handle_time_samples: int = 50  # recent calls per skill used for the estimated wait
    default_handle_seconds: float = 240.0  # handle time assumed before any call is measured
    redis_timeout_seconds: float = 2.0

    def strategy_for(self, skill: str) -> Strategy:
        return self.strategy.get(skill, self.default_strategy)

    def local_date(self, timestamp: float) -> dt.date:
        tz = dt.timezone(dt.timedelta(hours=self.utc_offset_hours))
        return dt.datetime.fromtimestamp(timestamp, tz).date()

    def script_settings(self) -> dict[str, Any]:
        """The settings the assignment script needs, as JSON-able data."""
        return {
            "wrap": self.wrapup_seconds,
            "sl": self.service_level_seconds,
            "starve": self.priorities.starvation_seconds,
            "sp": self.priorities.starved_priority,
            "dstrat": str(self.default_strategy),
            "strat": {k: str(v) for k, v in self.strategy.items()},
            "ovf": {k: [r.after_seconds, r.fallback] for k, r in self.overflow.items()},
            "nhts": self.handle_time_samples,
            "rto": (self.no_answer_timeout + self.stuck_ring_grace_seconds
                    if self.stuck_ring_grace_seconds > 0 else 0),
            "rcause": "no answer",
        }


def load_distribution_config(path: str | Path) -> DistributionConfig:
    """Read and validate a distribution TOML file."""
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML: {e}") from e
    return parse_distribution_config(data)


_TOP = {
    "wrapup_seconds", "service_level_seconds", "no_answer_timeout", "default_strategy",
    "stuck_ring_grace_seconds",
    "strategy", "overflow", "priorities", "leader_seat", "utc_offset_hours",
    "handle_time_samples", "default_handle_seconds", "redis_timeout_seconds",
}


def parse_distribution_config(data: dict[str, Any]) -> DistributionConfig:
    """Validate already-parsed TOML data (a dict) into a :class:`DistributionConfig`."""
    unknown = sorted(set(data) - _TOP)
    if unknown:
        raise ConfigError(f"{unknown[0]}: unknown setting")
    d = DistributionConfig()
    strategies = {
        str(k): _strategy(f"strategy.{k}", v) for k, v in _table(data, "strategy").items()
    }
    overflow: dict[str, OverflowRule] = {}
    for skill, rule in _table(data, "overflow").items():
        name = f"overflow.{skill}"
        if not isinstance(rule, dict):
            raise ConfigError(f"{name}: must be a table with after_seconds and fallback")
        extra = sorted(set(rule) - {"after_seconds", "fallback"})
        if extra:
            raise ConfigError(f"{name}.{extra[0]}: unknown setting")
        after = _number(rule, "after_seconds", None, name, minimum=0.0, strict=True)
        fallback = _text(rule, "fallback", name)
        if fallback == skill:
            raise ConfigError(f"{name}.fallback: must differ from the skill itself")
        overflow[str(skill)] = OverflowRule(after, fallback)
    p = _table(data, "priorities")
    known_p = {"normal", "needs_help", "overdue_order", "emergency_transfer",
               "starvation_seconds", "starved_priority"}
    extra = sorted(set(p) - known_p)
    if extra:
        raise ConfigError(f"priorities.{extra[0]}: unknown setting")
    dp = Priorities()
    priorities = Priorities(
        normal=_int(p, "normal", dp.normal, "priorities"),
        needs_help=_int(p, "needs_help", dp.needs_help, "priorities"),
        overdue_order=_int(p, "overdue_order", dp.overdue_order, "priorities"),
        emergency_transfer=_int(p, "emergency_transfer", dp.emergency_transfer, "priorities"),
        starvation_seconds=_number(p, "starvation_seconds", dp.starvation_seconds,
                                   "priorities", minimum=0.0),
        starved_priority=_int(p, "starved_priority", dp.starved_priority, "priorities"),
    )
    leaders = []
    seats = data.get("leader_seat", [])
    if not isinstance(seats, list):
        raise ConfigError("leader_seat: must be an array of tables ([[leader_seat]])")
    for i, seat in enumerate(seats):
        name = f"leader_seat[{i}]"
        if not isinstance(seat, dict):
            raise ConfigError(f"{name}: must be a table")
        extra = sorted(set(seat) - {"line", "skill", "weekdays", "dates"})
        if extra:
            raise ConfigError(f"{name}.{extra[0]}: unknown setting")
        weekdays = seat.get("weekdays", [])
        if not isinstance(weekdays, list) or not all(
            isinstance(w, int) and not isinstance(w, bool) and 1 <= w <= 7 for w in weekdays
        ):
            raise ConfigError(f"{name}.weekdays: must be a list of ISO weekdays 1..7")
        dates = seat.get("dates", [])
        if not isinstance(dates, list) or not all(
            isinstance(x, dt.date) and not isinstance(x, dt.datetime) for x in dates
        ):
            raise ConfigError(f"{name}.dates: must be a list of TOML dates (2026-11-25)")
        if not weekdays and not dates:
            raise ConfigError(f"{name}: needs weekdays or dates (when the leader takes calls)")
        leaders.append(LeaderSeat(_text(seat, "line", name), _text(seat, "skill", name),
                                  tuple(weekdays), tuple(dates)))
    for seat in leaders:
        if seat.skill not in overflow:
            raise ConfigError(
                f"overflow.{seat.skill}: leader seat skill needs an overflow rule so its "
                "calls reach the general pool"
            )
    return DistributionConfig(
        wrapup_seconds=_number(data, "wrapup_seconds", d.wrapup_seconds, "", minimum=0.0),
        service_level_seconds=_number(data, "service_level_seconds", d.service_level_seconds,
                                      "", minimum=0.0, strict=True),
        no_answer_timeout=_number(data, "no_answer_timeout", d.no_answer_timeout, "",
                                  minimum=0.0, strict=True),
        stuck_ring_grace_seconds=_number(data, "stuck_ring_grace_seconds",
                                         d.stuck_ring_grace_seconds, "", minimum=0.0),
        default_strategy=_strategy("default_strategy",
                                   data.get("default_strategy", str(d.default_strategy))),
        strategy=strategies,
        overflow=overflow,
        priorities=priorities,
        leader_seats=tuple(leaders),
        utc_offset_hours=_number(data, "utc_offset_hours", d.utc_offset_hours, "",
                                 minimum=-14.0),
        handle_time_samples=_int(data, "handle_time_samples", d.handle_time_samples, "",
                                 minimum=1),
        default_handle_seconds=_number(data, "default_handle_seconds",
                                       d.default_handle_seconds, "", minimum=0.0, strict=True),
        redis_timeout_seconds=_number(data, "redis_timeout_seconds", d.redis_timeout_seconds,
                                      "", minimum=0.0, strict=True),
    )


def _qual(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


def _table(data: dict[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise ConfigError(f"{key}: must be a table")
    return value


def _strategy(name: str, value: Any) -> Strategy:
    try:
        return Strategy(value)
    except ValueError:
        choices = ", ".join(s.value for s in Strategy)
        raise ConfigError(f"{name}: {value!r} is not one of {choices}") from None


def _number(data: dict[str, Any], key: str, default: float | None, prefix: str, *,
            minimum: float, strict: bool = False) -> float:
    name = _qual(prefix, key)
    if key not in data:
        if default is None:
            raise ConfigError(f"{name}: missing")
        return default
    value = data[key]
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(f"{name}: must be a number, got {value!r}")
    if value < minimum or (strict and value == minimum):
        raise ConfigError(f"{name}: must be {'>' if strict else '>='} {minimum:g}, got {value}")
    return float(value)


def _int(data: dict[str, Any], key: str, default: int, prefix: str, *,
         minimum: int | None = None) -> int:
    name = _qual(prefix, key)
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{name}: must be an integer, got {value!r}")
    if minimum is not None and value < minimum:
        raise ConfigError(f"{name}: must be >= {minimum}, got {value}")
    return value


def _text(data: dict[str, Any], key: str, prefix: str) -> str:
    name = _qual(prefix, key)
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{name}: must be a non-empty string")
    return value
