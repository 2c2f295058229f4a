"""The distribution loop when Redis dies (issue 9, item 9): it backs off, logs the outage once,
and serves again when Redis is back.

On the starting main (4b97079) ``run_distribution_loop`` retried at once: after redis-server was
killed the pub/sub wait returned immediately, ``dispatch`` failed again and each failure
logged "dispatch failed; retrying" with a traceback — the core wrote 108 MB of core.log in
about a minute. Here a real redis-server is stopped under the loop; the test counts
tries (subscriptions and dispatches) and log records, not time: after six failed tries exactly
one record says Redis is lost, and once the same server is started again the loop assigns a
call that fell due (an agent's wrap-up ended) when woken.
"""

from __future__ import annotations

import asyncio
import logging

import pytest
import redis.asyncio as aioredis
from redis.asyncio.client import PubSub

from hotline_core.acd import (
    CallMatch,
    DistributionConfig,
    Distributor,
    WaitingCall,
    run_distribution_loop,
)
from testkit.redis_server import free_port, redis_server
from tests.acd.conftest import Clock


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


async def _until(condition: object, what: str, limit: float = 60.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while not condition():  # type: ignore[operator]
        assert loop.time() < deadline, f"never: {what}"
        await asyncio.sleep(0.02)


@pytest.mark.timeout(120)
async def test_redis_killed_under_the_distribution_loop() -> None:
    port = free_port()
    server = redis_server(port)
    url = server.__enter__()
    client = aioredis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
    config = DistributionConfig(wrapup_seconds=10)
    clock = Clock()
    distributor = Distributor(client, config, namespace="loss", clock=clock)
    tries = {"n": 0}
    real_advance, real_pubsub = distributor.advance, client.pubsub

    async def counted() -> list[CallMatch]:
        tries["n"] += 1
        return await real_advance()

    def counted_pubsub(**kwargs: object) -> PubSub:
        tries["n"] += 1
        return real_pubsub(**kwargs)

    distributor.advance = counted  # type: ignore[method-assign]
    client.pubsub = counted_pubsub  # type: ignore[method-assign]
    got: asyncio.Queue[CallMatch] = asyncio.Queue()

    async def deliver(a: CallMatch) -> None:
        got.put_nowait(a)

    distributor.on_assignment = deliver
    records = _Records()
    logging.getLogger().addHandler(records)
    stop, subscribed = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(run_distribution_loop(distributor, client, stop, max_sleep=3600,
                                              subscribed=subscribed, first_retry=0.02,
                                              max_retry=0.2))
    try:
        await asyncio.wait_for(subscribed.wait(), 10)
        before = tries["n"]
        server.__exit__(None, None, None)            # redis-server is gone
        await _until(lambda: tries["n"] >= before + 6, "six dispatch tries without Redis")
        lost = [r for r in records.records if r.levelno >= logging.WARNING]
        assert len(lost) == 1, [r.getMessage() for r in lost]
        assert "dependency lost" in lost[0].getMessage()

        server = redis_server(port)                  # the same server comes back
        server.__enter__()
        await _until(lambda: any("back after" in r.getMessage() for r in records.records),
                     "the loop noticed Redis is back")
        other_client = aioredis.Redis.from_url(url)
        other = Distributor(other_client, config, namespace="loss", clock=clock)
        await other.agent_login("1001", {"general": 1})
        await other.enqueue(WaitingCall("c1", "12345", ("general",), "13800138000"))
        await other.agent_answered("c1", "1001")
        await other.enqueue(WaitingCall("c2", "12345", ("general",), "13900139000"))
        await other.call_ended("c1", "1001")        # 1001 in wrap-up for 10 s
        clock.advance(10)
        assert got.empty()
        await other_client.publish(distributor.events_channel, "{}")   # wakes the loop
        assignment = await asyncio.wait_for(got.get(), 30)
        assert (assignment.call_id, assignment.agent_id) == ("c2", "1001")
        await other_client.aclose()
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
        logging.getLogger().removeHandler(records)
        server.__exit__(None, None, None)
        await client.aclose()
