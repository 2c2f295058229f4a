"""The dispatch loop (分配服务循环) a core process runs beside its Distributor.

Every state change already assigns what it can; what remains is time: wrap-ups ending,
overflows falling due, stuck rings. The loop sleeps exactly until :meth:`next_wakeup` and
wakes early on any message on ``<namespace>:events`` — another core instance may have set
an earlier deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import redis.asyncio as aioredis

from hotline_core.acd.distributor import Distributor

log = logging.getLogger(__name__)


async def serve_dispatch(distributor: Distributor, redis: aioredis.Redis,
                         stop: asyncio.Event, max_sleep: float = 30.0,
                         subscribed: asyncio.Event | None = None) -> None:
    """Run until ``stop`` is set. ``redis`` is used for the pub/sub subscription only;
    ``subscribed`` is set once the loop listens on the events channel."""
    pubsub = redis.pubsub()
    timeout = distributor.config.redis_timeout_seconds
    async with asyncio.timeout(timeout):
        await pubsub.subscribe(distributor.events_channel)
        await pubsub.get_message(timeout=timeout)  # the subscription confirmation
    if subscribed is not None:
        subscribed.set()
    try:
        while not stop.is_set():
            try:
                await distributor.dispatch()
                wake = await distributor.next_wakeup()
            except (TimeoutError, aioredis.RedisError):
                log.exception("dispatch failed; retrying")
                wake = None
            now = distributor.clock()
            delay = max_sleep if wake is None else min(max_sleep, max(0.0, wake - now))
            if delay == 0.0:
                continue
            message = asyncio.ensure_future(
                pubsub.get_message(ignore_subscribe_messages=True, timeout=delay))
            stopped = asyncio.ensure_future(stop.wait())
            _, pending = await asyncio.wait({message, stopped},
                                            return_when=asyncio.FIRST_COMPLETED)
            for task in pending:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
    finally:
        with contextlib.suppress(Exception):
            async with asyncio.timeout(timeout):
                await pubsub.unsubscribe()
                await pubsub.aclose()  # type: ignore[no-untyped-call]
