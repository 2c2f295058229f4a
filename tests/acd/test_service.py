"""The distribution loop wakes on another instance's change and assigns what fell due."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aioredis

from hotline_core.acd import CallMatch, DistributionConfig, WaitingCall, run_distribution_loop
from tests.acd.conftest import Clock, MakeDistributor


@pytest.mark.timeout(90)
async def test_loop_assigns_after_wrap_up_when_woken(
    make: MakeDistributor, clock: Clock, redis: aioredis.Redis
) -> None:
    config = DistributionConfig(wrapup_seconds=10)
    loop_side, _ = make(config)  # the instance running the loop
    other, _ = make(config)  # another core instance, same Redis and namespace
    got: asyncio.Queue[CallMatch] = asyncio.Queue()

    async def deliver(a: CallMatch) -> None:
        got.put_nowait(a)

    loop_side.on_assignment = deliver
    await other.agent_login("a1", {"general": 1})
    await other.enqueue(WaitingCall("c1", "12345", ("general",), "1"))
    await other.agent_answered("c1", "a1")
    await other.enqueue(WaitingCall("c2", "12345", ("general",), "1"))
    stop, subscribed = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(
        run_distribution_loop(loop_side, redis, stop, max_sleep=3600, subscribed=subscribed))
    await asyncio.wait_for(subscribed.wait(), timeout=10)
    await other.call_ended("c1", "a1")  # a1 in wrap-up until +10 s
    clock.advance(10)  # the wrap-up is over; nobody else touches the distributor
    assert got.empty()
    # any message on the channel (here a dashboard's ping) makes the loop look again
    await redis.publish(loop_side.events_channel, "{}")
    assignment = await asyncio.wait_for(got.get(), timeout=30)
    assert (assignment.call_id, assignment.agent_id) == ("c2", "a1")
    stop.set()
    await asyncio.wait_for(task, timeout=10)
