"""Which stale events the distributor logs as warnings (issue 14 item 3: log noise).

A caller who hangs up during the greeting, before being put in line, is abandoned for a
call the distributor never held: expected once per such caller, so it is logged at DEBUG
(under load it was ~870 warnings per 10 s). Other stale events stay warnings: an answer
for a call nobody rings, the end of a call never held.
"""

from __future__ import annotations

import logging

import pytest

from hotline_core.acd import DistributionConfig
from tests.acd.conftest import MakeDistributor

LOGGER = "hotline_core.acd.distributor"


def _stale(caplog: pytest.LogCaptureFixture) -> list[tuple[int, str]]:
    return [(r.levelno, r.getMessage()) for r in caplog.records
            if r.name == LOGGER and "stale event ignored" in r.getMessage()]


async def test_abandon_of_a_call_never_held_is_not_a_warning(
        make: MakeDistributor, caplog: pytest.LogCaptureFixture) -> None:
    d, _ = make(DistributionConfig())
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    await d.abandon("never-queued")
    stale = _stale(caplog)
    assert [level for level, _ in stale] == [logging.DEBUG]
    assert "unknown call" in stale[0][1]


async def test_other_stale_events_stay_warnings(
        make: MakeDistributor, caplog: pytest.LogCaptureFixture) -> None:
    d, _ = make(DistributionConfig())
    await d.agent_login("1001", {"general": 1})
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    await d.call_ended("never-queued", "1001")          # ended: unknown call
    await d.agent_answered("never-queued", "1001")      # answered: not ringing here
    assert [level for level, _ in _stale(caplog)] == [logging.WARNING, logging.WARNING]
