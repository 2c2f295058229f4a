"""The distribution loop does not run the script on every event (issue 14 item 3).

Every operation already applies what fell due before it changes anything, so an event on
the channel only tells the loop that a deadline may have moved: it reads the next deadline
again and runs the script only when one is reached. Before, every event — every step of
every call, on every core — cost one more script run (``advance``): the FastAGI review saw
it as "a Lua dispatch on every pub/sub event". On main 72bc7d0 this test counts 21 runs.
(A deadline reached after an event still runs it: ``test_service.py``.)
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import redis.asyncio as aioredis

from hotline_core.acd import DistributionConfig, WaitingCall, run_distribution_loop
from tests.acd.conftest import MakeDistributor

EVENTS = 20


@pytest.mark.timeout(90)
async def test_twenty_events_cost_no_script_run(
        make: MakeDistributor, redis: aioredis.Redis) -> None:
    loop_side, _ = make(DistributionConfig())
    other, _ = make(DistributionConfig())     # another core: the events come from it
    runs, looks = 0, 0
    seen_all = asyncio.Event()
    advance, next_wakeup = loop_side.advance, loop_side.next_wakeup

    async def counted_advance() -> Any:
        nonlocal runs
        runs += 1
        return await advance()

    async def counted_next_wakeup() -> float | None:
        nonlocal looks
        looks += 1
        if looks == 1 + EVENTS:
            seen_all.set()
        return await next_wakeup()

    loop_side.advance = counted_advance            # type: ignore[method-assign]
    loop_side.next_wakeup = counted_next_wakeup    # type: ignore[method-assign]
    stop, subscribed = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(run_distribution_loop(loop_side, redis, stop, max_sleep=3600,
                                                     subscribed=subscribed))
    try:
        await asyncio.wait_for(subscribed.wait(), timeout=10)
        # nobody logged in: each enqueue changes the line and publishes one event
        for i in range(EVENTS):
            await other.enqueue(WaitingCall(f"c{i}", "12345", ("general",), "1"))
        await asyncio.wait_for(seen_all.wait(), timeout=30)   # every event was read
        assert (runs, looks) == (1, 1 + EVENTS)   # the first run only; one look per event
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=10)
