"""Lights (亮灯) at hand-computed instants, gaotai preset.

gaotai's preset: yellow when the time left is at most 25 % of the allowance (project
choice; the seed names "红黄灯" without a threshold), hours test off; red once past due.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

import pytest

from hotline_core.workorders.lights import Light, light_for
from hotline_core.workorders.presets import load_preset

GAOTAI = load_preset("gaotai")

# Complaint received Tue 2025-09-30 10:00, due 7 wd later = Thu 2025-10-16 10:00 (Oct 1–8
# holiday; Oct 9, 10, 11 (make-up Sat), 13, 14, 15, 16). The light measures clock time:
# allowance = 16 days = 384 h; 25 % = 96 h → yellow from Oct 16 10:00 − 96 h = Oct 12 10:00.
START = datetime(2025, 9, 30, 10, 0)
DUE = datetime(2025, 10, 16, 10, 0)


@pytest.mark.parametrize(
    ("now", "light"),
    [
        (datetime(2025, 9, 30, 10, 0), Light.GREEN),  # just received
        (datetime(2025, 10, 12, 9, 59), Light.GREEN),  # 96 h 1 min left > 96 h
        (datetime(2025, 10, 12, 10, 0), Light.YELLOW),  # exactly 96 h left = 25 %
        (datetime(2025, 10, 16, 10, 0), Light.YELLOW),  # the due instant is still in time
        (datetime(2025, 10, 16, 10, 0, 1), Light.RED),  # one second overdue
    ],
)
def test_complaint_lights(now: datetime, light: Light) -> None:
    assert light_for(GAOTAI, now, START, DUE) is light


@pytest.mark.parametrize(
    ("now", "light"),
    [
        # Emergency help 3 h: 10:00 → 13:00; 25 % of 180 min = 45 min → yellow from 12:15.
        (datetime(2025, 9, 30, 12, 14), Light.GREEN),
        (datetime(2025, 9, 30, 12, 15), Light.YELLOW),
        (datetime(2025, 9, 30, 13, 1), Light.RED),
    ],
)
def test_emergency_lights(now: datetime, light: Light) -> None:
    assert light_for(GAOTAI, now, START, datetime(2025, 9, 30, 13, 0)) is light


def test_hours_threshold() -> None:
    # A deployment that wants yellow only in the last 24 h (percent test off):
    # Oct 15 09:59 → 24 h 1 min left → green; Oct 15 10:00 → 24 h left → yellow.
    rule = replace(GAOTAI.lights, yellow_remaining_percent=0, yellow_remaining_hours=24)
    preset = replace(GAOTAI, lights=rule)
    assert light_for(preset, datetime(2025, 10, 15, 9, 59), START, DUE) is Light.GREEN
    assert light_for(preset, datetime(2025, 10, 15, 10, 0), START, DUE) is Light.YELLOW
