"""The distribution loop (分配服务循环) a core process runs beside its Distributor.

Every state change already assigns what it can; what remains is time: wrap-ups ending,
overflows falling due, stuck rings. The loop sleeps exactly until :meth:`next_wakeup` and
wakes early on any message on ``<namespace>:events`` — another core instance may have set
an earlier deadline — and then only reads the deadline again: the script runs when a
deadline is reached, not once per event. Events come in bursts (every step of every call
publishes one): after the first, the loop waits ``event_batch_seconds`` (never past the
deadline it knows), takes every event that arrived meanwhile, and reads the deadline once
for all of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import redis.asyncio as aioredis
from redis.asyncio.client import PubSub

from hotline_core.acd.distributor import Distributor
from hotline_core.backoff import Backoff
from hotline_core.timeouts import cancel_and_wait, within

log = logging.getLogger(__name__)


async def run_distribution_loop(distributor: Distributor, redis: aioredis.Redis,
                         stop: asyncio.Event, max_sleep: float = 30.0,
                         subscribed: asyncio.Event | None = None,
                         first_retry: float = 0.5, max_retry: float = 30.0,
                         event_batch_seconds: float = 0.05) -> None:
    """Run until ``stop`` is set. ``redis`` is used for the pub/sub subscription only;
    ``subscribed`` is set once the loop listens on the events channel.

    ``event_batch_seconds``: how long, after an event woke it, the loop gathers further
    events before it reads the deadline again (0: one read per event). A deadline another
    instance moved earlier is thus seen at most that much later; deadlines are wrap-ups,
    overflows and stuck rings, counted in seconds (issue 14 item 3: at 100 calls/s the
    per-event read was two of the ~11 Redis round trips of each call).

    When Redis goes away (killed, restarting) the loop does not spin: a dead pub/sub
    connection answers at once, so every failure — of the subscription, of an advance, of
    the wait for a message — closes the subscription and waits with a growing pause
    (``first_retry`` doubling up to ``max_retry``) before subscribing again. The outage is
    logged once when it starts and once when Redis is back (:class:`Backoff`).
    """
    backoff = Backoff(log, "distribution loop (Redis)", first=first_retry, cap=max_retry)
    timeout = distributor.config.redis_timeout_seconds
    pubsub: PubSub | None = None
    # A message means another run already advanced (every operation applies what fell due
    # first) and may have set an earlier deadline: only the deadline is read again. The
    # script runs when a deadline is reached (issue 14: one script run per core per event,
    # every call's every step, halved the FastAGI call rate).
    due = True
    try:
        while not stop.is_set():
            try:
                if pubsub is None:
                    pubsub = await _subscribe(redis, distributor.events_channel, timeout)
                    if subscribed is not None:
                        subscribed.set()
                    due = True
                if due:
                    await distributor.advance()
                wake = await distributor.next_wakeup()
            except (TimeoutError, OSError, aioredis.RedisError) as exc:
                await _close(pubsub, timeout)
                pubsub = None
                await _pause(stop, backoff.failed(exc))
                continue
            backoff.succeeded()
            now = distributor.clock()
            delay = max_sleep if wake is None else min(max_sleep, max(0.0, wake - now))
            due = True   # unless an event wakes the loop before the deadline
            if delay == 0.0:
                continue
            message = asyncio.ensure_future(
                pubsub.get_message(ignore_subscribe_messages=True, timeout=delay))
            stopped = asyncio.ensure_future(stop.wait())
            done, pending = await asyncio.wait({message, stopped},
                                               return_when=asyncio.FIRST_COMPLETED)
            await cancel_and_wait(pending)
            lost = message.exception() if message in done else None
            if message in done and lost is None and message.result() is not None:
                due = False   # woken by an event before the deadline
                if event_batch_seconds > 0:
                    gather = min(event_batch_seconds, max(0.0, delay - (
                        distributor.clock() - now)))
                    await _pause(stop, gather)
                    try:
                        await _drain(pubsub, timeout)
                    except (TimeoutError, OSError, aioredis.RedisError) as exc:
                        lost = exc
            if lost is not None:
                # The subscription's connection died: it answers at once from now on.
                await _close(pubsub, timeout)
                pubsub = None
                await _pause(stop, backoff.failed(lost))
    finally:
        await _close(pubsub, timeout)


async def _drain(pubsub: PubSub, timeout: float, most: int = 10_000) -> None:
    """Take the events already received (one deadline read covers them all); at most
    ``most``, so a flood cannot keep the loop here."""
    async with asyncio.timeout(timeout):
        for _ in range(most):
            if await pubsub.get_message(ignore_subscribe_messages=True, timeout=0) is None:
                return


async def _subscribe(redis: aioredis.Redis, channel: str, timeout: float) -> PubSub:
    pubsub = redis.pubsub()
    try:
        async with asyncio.timeout(timeout):
            await pubsub.subscribe(channel)
            await pubsub.get_message(timeout=timeout)  # the subscription confirmation
    except BaseException:
        await _close(pubsub, timeout)
        raise
    return pubsub


async def _close(pubsub: PubSub | None, timeout: float) -> None:
    if pubsub is None:
        return
    with contextlib.suppress(Exception):
        async with asyncio.timeout(timeout):
            await pubsub.aclose()  # type: ignore[no-untyped-call]


async def _pause(stop: asyncio.Event, seconds: float) -> None:
    """Sleep ``seconds``, or less if ``stop`` is set meanwhile."""
    with contextlib.suppress(TimeoutError):
        await within(stop.wait(), seconds)
