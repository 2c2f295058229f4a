"""Issue 9 item 4 (reset): the live figures start again at ``[calls] figures_reset_at``.

On the starting main (4b97079) nothing called ``Distributor.reset_figures``: the answered
and abandoned counters on the wallboard grew from the core's start for ever (a core that
ran a week showed the week). Here a real redis-server and a real distributor; the reset is
driven by ``reset_if_due``, the function the core's ``run_call_figures`` loop calls every
minute, at instants set by the test (China time, reset at 08:00).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from datetime import UTC, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import redis.asyncio as aioredis
from sqlalchemy import select

from hotline_core.acd import DistributionConfig, Distributor, WaitingCall
from hotline_core.call_figures_day import parse_reset_at, reset_if_due, run_call_figures
from hotline_core.call_intervals import CallInterval
from hotline_core.call_records import CallRecord
from hotline_core.config_errors import ConfigError
from hotline_core.db import make_engine, make_sessionmaker
from hotline_core.migrate import upgrade
from hotline_core.timeouts import cancel_and_wait
from tests.workorders.composed_desk import settings_of, write_settings

CST = ZoneInfo("Asia/Shanghai")
_names = itertools.count()


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.from_url(redis_url, socket_timeout=5)
    yield client
    await client.aclose()


async def _answer_one(d: Distributor, n: int) -> None:
    await d.enqueue(WaitingCall(call_id=f"c{n}", line="12345", skills=("general",),
                                caller="13700000000"))
    await d.agent_answered(f"c{n}", "a1")
    await d.call_ended(f"c{n}", "a1")


async def _answered(d: Distributor) -> int:
    line = (await d.view.figures()).lines.get("12345")
    return line.answered if line else 0


async def test_figures_reset_once_at_the_configured_start_of_the_day(
    redis: aioredis.Redis, tmp_path: Path,
) -> None:
    settings = settings_of(write_settings(tmp_path, extra='[calls]\nfigures_reset_at = "08:00"'))
    reset_at = parse_reset_at(settings.figures_reset_at)
    ns = f"figday{next(_names)}"
    d = Distributor(redis, DistributionConfig(wrapup_seconds=0), namespace=ns)
    marker = f"{ns}:acd:figures-day"
    await d.agent_login("a1", {"general": 1})

    async def due(at: datetime) -> bool:
        return await reset_if_due(d, redis, marker, at, CST, reset_at)

    assert await due(datetime(2026, 6, 8, 7, 59, tzinfo=CST))  # no day recorded yet
    await _answer_one(d, 1)
    assert await _answered(d) == 1
    assert not await due(datetime(2026, 6, 8, 7, 59, 30, tzinfo=CST))
    assert await _answered(d) == 1  # still the day that began 06-07 08:00
    assert await due(datetime(2026, 6, 8, 8, 0, tzinfo=CST))  # 08:00: a new day
    assert await _answered(d) == 0
    await _answer_one(d, 2)
    await _answer_one(d, 3)
    # Later the same day, and a restarted core's first pass: no second reset.
    assert not await due(datetime(2026, 6, 8, 12, 0, tzinfo=CST))
    assert not await due(datetime(2026, 6, 9, 7, 59, 59, tzinfo=CST))
    assert await _answered(d) == 2
    # A core that was down at 08:00 the next day resets on its first pass after it.
    assert await due(datetime(2026, 6, 9, 9, 30, tzinfo=CST))
    assert await _answered(d) == 0


@pytest.mark.parametrize("bad", ["8:00", "24:00", "noon", "08:60"])
def test_a_bad_reset_time_stops_start_up_naming_the_setting(tmp_path: Path, bad: str) -> None:
    config = write_settings(tmp_path, extra=f'[calls]\nfigures_reset_at = "{bad}"')
    with pytest.raises(ConfigError) as err:
        settings_of(config)
    assert "calls.figures_reset_at" in str(err.value) and bad in str(err.value)


async def test_the_cores_loop_resets_and_stores(
    redis: aioredis.Redis, tmp_path: Path,
) -> None:
    """``run_call_figures`` as the core starts it (real Redis, migrated SQLite): its first
    pass resets the live figures and stores the interval row of a call already recorded.
    On the starting main the core started no such loop."""
    url = f"sqlite:///{tmp_path / 'hotline.db'}"
    upgrade(url)
    engine = make_engine(url)
    maker = make_sessionmaker(engine)
    with maker.begin() as s:  # one call answered at 09:00:05 CST, 2 s after it was offered
        s.add(CallRecord(id="x1", linkedid="x1", line="12345", caller="13700000000",
                         offered_at=datetime(2026, 6, 8, 1, 0, 3, tzinfo=UTC),
                         answered_at=datetime(2026, 6, 8, 1, 0, 5, tzinfo=UTC),
                         ended_at=datetime(2026, 6, 8, 1, 1, 5, tzinfo=UTC),
                         disposition="answered", agent_id="1001"))
    ns = f"figday{next(_names)}"
    d = Distributor(redis, DistributionConfig(wrapup_seconds=0), namespace=ns)
    await d.agent_login("a1", {"general": 1})
    await _answer_one(d, 1)
    task = asyncio.create_task(run_call_figures(
        d, redis, f"{ns}:acd:figures-day", maker, CST, time(0, 0), every=0.05,
        clock=lambda: datetime(2026, 6, 8, 12, 0, tzinfo=CST)))
    try:
        for _ in range(200):  # until the first pass is through (bounded, not timed)
            with maker() as s:
                rows = list(s.scalars(select(CallInterval)))
            if rows:
                break
            await asyncio.sleep(0.05)
    finally:
        await cancel_and_wait([task])
        engine.dispose()
    assert [(r.line, r.starts_at, r.offered, r.answered, r.answered_within_15s,
             r.talk_seconds, r.wait_seconds) for r in rows] == [
        ("12345", datetime(2026, 6, 8, 9, 0, tzinfo=CST), 1, 1, 1, 60.0, 2.0)]
    assert await _answered(d) == 0
