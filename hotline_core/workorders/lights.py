"""Lights (亮灯): the green/yellow/red state of an open work order (工单).

gaotai names the "红黄灯" prompt but gives no threshold; the threshold is preset data
(:class:`~hotline_core.workorders.presets.LightRule`). Time left and the allowance are measured on
the clock, from ``started_at`` (the instant the limit is counted from) to ``due_at``, so
that a light can be computed per order without a calendar lookup.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from hotline_core.workorders.presets import Preset


class Light(StrEnum):
    """Colour of an open order's light."""

    GREEN = "green"  # 绿灯: in time
    YELLOW = "yellow"  # 黄灯: deadline near (预警)
    RED = "red"  # 红灯: overdue (逾期)


def light_for(preset: Preset, now: datetime, started_at: datetime, due_at: datetime) -> Light:
    """Red once past the due instant (the due instant itself is still in time, as in
    "N个工作日内"); yellow when the time left is at most the preset's percentage of the
    whole allowance, or at most its number of hours; else green."""
    if now > due_at:
        return Light.RED
    remaining = due_at - now
    rule = preset.lights
    # Integer arithmetic on microseconds keeps the percentage boundary exact.
    allowance_us = _microseconds(due_at - started_at)
    if _microseconds(remaining) * 100 <= allowance_us * rule.yellow_remaining_percent:
        return Light.YELLOW
    if rule.yellow_remaining_hours and remaining <= timedelta(hours=rule.yellow_remaining_hours):
        return Light.YELLOW
    return Light.GREEN


def _microseconds(delta: timedelta) -> int:
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
