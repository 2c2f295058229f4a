"""Distribution settings (分配配置): wrap-up, overflow, strategies, priorities, leader seat.

Configuration is data: a TOML file read by :func:`load_distribution_config`, validated at
load time; every error is the one :class:`ConfigError` naming the file, the setting
(``overflow.12351.after_seconds``) and its line.
No city-specific number lives in code — the example is ``config/distribution.example.toml``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, model_validator

from hotline_core.config_schema import ConfigModel, parse_toml, setting_error, validate_data

__all__ = ["DistributionConfig", "DistributionFile", "LeaderSeat",
           "OverflowRule", "Priorities", "Strategy", "load_distribution_config",
           "parse_distribution_config"]


# The pause reasons offered when the file names none.
PAUSE_REASONS = {"meal": "用餐", "rest": "休息", "training": "培训", "meeting": "会议",
                 "toilet": "洗手间"}


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
    # Pause reasons an agent picks from (示忙原因): code → label shown on the desktop.
    pause_reasons: dict[str, str] = field(default_factory=lambda: dict(PAUSE_REASONS))

    def strategy_for(self, skill: str) -> Strategy:
        return self.strategy.get(skill, self.default_strategy)

    def local_date(self, timestamp: float) -> dt.date:
        tz = dt.timezone(dt.timedelta(hours=self.utc_offset_hours))
        return dt.datetime.fromtimestamp(timestamp, tz).date()


StrategyName = Literal["longest_idle", "fewest_calls", "skill_level"]
NonEmpty = Annotated[str, StringConstraints(min_length=1)]
PauseCode = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]{0,31}$")]


class OverflowEntry(ConfigModel):
    """``[overflow."<skill>"]``: after this wait the call may also go to ``fallback``."""

    after_seconds: float = Field(gt=0)
    fallback: NonEmpty


class PrioritiesTable(ConfigModel):
    """``[priorities]``: higher goes first; equal: first come first served."""

    normal: int = 0
    needs_help: int = 10
    overdue_order: int = 20
    emergency_transfer: int = 30
    starvation_seconds: float = Field(default=120.0, ge=0)
    starved_priority: int = 10


class LeaderSeatEntry(ConfigModel):
    """``[[leader_seat]]``: on these days calls on ``line`` need ``skill`` (the leader's)."""

    line: NonEmpty
    skill: NonEmpty
    weekdays: list[Annotated[int, Field(ge=1, le=7)]] = Field(default=[],
        description="ISO weekdays 1 = Monday .. 7 = Sunday")
    dates: list[dt.date] = Field(default=[], description="TOML dates (2026-12-02)")

    @model_validator(mode="after")
    def _has_days(self) -> LeaderSeatEntry:
        if not self.weekdays and not self.dates:
            raise ValueError("needs weekdays or dates (when the leader takes calls)")
        return self


class DistributionFile(ConfigModel):
    """``distribution.toml``: call distribution (ACD) settings."""

    wrapup_seconds: float = Field(default=15.0, ge=0, description="话后处理 after each call")
    service_level_seconds: float = Field(default=15.0, gt=0)
    no_answer_timeout: float = Field(default=20.0, gt=0)
    stuck_ring_grace_seconds: float = Field(default=10.0, ge=0)
    default_strategy: StrategyName = "longest_idle"
    strategy: dict[str, StrategyName] = Field(default={}, description="skill = strategy")
    overflow: dict[str, OverflowEntry] = {}
    priorities: PrioritiesTable = PrioritiesTable()
    leader_seat: list[LeaderSeatEntry] = []
    utc_offset_hours: float = Field(default=8.0, ge=-14, le=14)
    handle_time_samples: int = Field(default=50, ge=1)
    default_handle_seconds: float = Field(default=240.0, gt=0)
    redis_timeout_seconds: float = Field(default=2.0, gt=0)
    pause_reasons: dict[PauseCode, NonEmpty] = Field(
        default=PAUSE_REASONS, min_length=1,
        description="示忙原因 the agent desktop offers: code = label")


def load_distribution_config(path: str | Path) -> DistributionConfig:
    """Read and validate a distribution TOML file."""
    text, data = parse_toml(Path(path), "paths.distribution_file")
    return parse_distribution_config(data, path, text)


def parse_distribution_config(data: dict[str, Any], source: str | Path = "(distribution)",
                              text: str = "") -> DistributionConfig:
    """Validate already-parsed TOML data (from ``text`` of ``source``)."""
    f = validate_data(source, text, data, DistributionFile)
    for skill, rule in f.overflow.items():
        if rule.fallback == skill:
            raise setting_error(source, text, ["overflow", skill, "fallback"],
                                "must differ from the skill itself")
    for index, seat in enumerate(f.leader_seat):
        if seat.skill not in f.overflow:
            raise setting_error(source, text, ["leader_seat", index, "skill"],
                                f"leader seat skill needs an [overflow.{seat.skill}] rule so "
                                "its calls reach the general pool")
    p = f.priorities
    return DistributionConfig(
        wrapup_seconds=f.wrapup_seconds,
        service_level_seconds=f.service_level_seconds,
        no_answer_timeout=f.no_answer_timeout,
        stuck_ring_grace_seconds=f.stuck_ring_grace_seconds,
        default_strategy=Strategy(f.default_strategy),
        strategy={skill: Strategy(name) for skill, name in f.strategy.items()},
        overflow={skill: OverflowRule(r.after_seconds, r.fallback)
                  for skill, r in f.overflow.items()},
        priorities=Priorities(p.normal, p.needs_help, p.overdue_order, p.emergency_transfer,
                              p.starvation_seconds, p.starved_priority),
        leader_seats=tuple(LeaderSeat(s.line, s.skill, tuple(s.weekdays), tuple(s.dates))
                           for s in f.leader_seat),
        utc_offset_hours=f.utc_offset_hours,
        handle_time_samples=f.handle_time_samples,
        default_handle_seconds=f.default_handle_seconds,
        redis_timeout_seconds=f.redis_timeout_seconds,
        pause_reasons=dict(f.pause_reasons),
    )
