"""The distribution loop does not run the script on every event (issue 14 item 3).

Every operation already applies what fell due before it changes anything, so an event on
the channel only tells the loop that a deadline may have moved: it reads the next deadline
again and runs the script only when one is reached. Before, every event — every step of
every call, on every core — cost one more script run (``advance``): the FastAGI review saw
it as "a Lua dispatch on every pub/sub event". On main 72bc7d0 this test counts 21 runs.
(A deadline reached after an event still runs it: ``test_service.py``.) Events also come
in bursts: the loop gathers them for ``event_batch_seconds`` and reads the deadline once for
the burst (the first test sets it to 0 to count one look per event).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import redis.asyncio as aioredis

from hotline_core.acd import DistributionConfig, WaitingCall, run_distribution_loop
from hotline_core.acd.config import Priorities
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
                                                     subscribed=subscribed,
                                                     event_batch_seconds=0))
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


@pytest.mark.timeout(90)
async def test_a_burst_of_events_costs_one_deadline_read(
        make: MakeDistributor, redis: aioredis.Redis) -> None:
    """21 events already waiting when the loop looks for events: once it has read them all,
    it has read the deadline twice (once per event would be 22 times)."""
    config = DistributionConfig(priorities=Priorities(starvation_seconds=0))  # no deadline
    loop_side, _ = make(config)
    other, _ = make(config)
    looks: list[float | None] = []
    events_read = 0
    burst_sent, all_read, look_after = asyncio.Event(), asyncio.Event(), asyncio.Event()
    next_wakeup, pubsub = loop_side.next_wakeup, redis.pubsub

    async def counted_next_wakeup() -> float | None:
        if not looks:
            await burst_sent.wait()      # the whole burst is published meanwhile
        wake = await next_wakeup()
        looks.append(wake)
        if all_read.is_set():
            look_after.set()
        return wake

    def counting_pubsub(**kwargs: Any) -> Any:     # the loop's subscription, counted
        sub = pubsub(**kwargs)
        get_message = sub.get_message

        async def counted(*a: Any, **k: Any) -> Any:
            nonlocal events_read
            message = await get_message(*a, **k)
            if message is not None and message.get("type") == "message":
                events_read += 1
                if events_read == EVENTS + 1:
                    all_read.set()
            return message

        sub.get_message = counted       # type: ignore[method-assign]
        return sub

    loop_side.next_wakeup = counted_next_wakeup    # type: ignore[method-assign]
    redis.pubsub = counting_pubsub                  # type: ignore[method-assign]
    stop, subscribed = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(run_distribution_loop(loop_side, redis, stop, max_sleep=3600,
                                                     subscribed=subscribed,
                                                     event_batch_seconds=0.05))
    try:
        await asyncio.wait_for(subscribed.wait(), timeout=10)
        for i in range(EVENTS):      # nobody logged in: 20 events, no deadline
            await other.enqueue(WaitingCall(f"c{i}", "12345", ("general",), "1"))
        await other.agent_login("1001", {"general": 1})   # rings c0: a deadline, event 21
        burst_sent.set()
        await asyncio.wait_for(look_after.wait(), timeout=30)
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=10)
        del redis.pubsub
    # the first read already saw the ring's deadline; one more read for all 21 events
    assert len(looks) == 2
    assert looks[0] is not None and looks[0] == looks[1]
