"""Time limits and cancellation that hold on Python 3.11 (限时等待与取消).

``asyncio.wait_for`` on Python 3.11 has a race (CPython gh-86296, fixed in 3.12 by
re-implementing it on ``asyncio.timeout``): when the awaited work finishes in the same loop
iteration in which the waiting task is cancelled, it returns the result and drops the
cancellation — the task runs on. redis-py sends every command under ``wait_for`` when the
client has a socket timeout (``AbstractConnection.send_packed_command``), so any task that
talks to Redis can lose a cancel: a core stopping, or a leader job stopped because the
instance lost the lead, then hangs on ``await task`` or, worse, goes on running. Found as a
leader-lock loop that did not stop (tests/core/test_leader_lock.py failed in CI that way).

* :func:`within` — our own time limits, on ``asyncio.timeout``: a cancellation always reaches
  the waiting task; a timeout raises ``TimeoutError`` and cancels the work as ``wait_for`` did.
* :func:`cancel_and_wait` — the one way to stop tasks: cancel, wait, and cancel again (with
  growing pauses) a task that swallowed the cancel in a library, until it has ended.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Iterable
from typing import Any, TypeVar

T = TypeVar("T")

log = logging.getLogger(__name__)


async def within(awaitable: Awaitable[T], seconds: float | None) -> T:
    """``await awaitable``, raising ``TimeoutError`` after ``seconds`` (None: no limit)."""
    async with asyncio.timeout(seconds):
        return await awaitable


async def cancel_and_wait(tasks: Iterable[asyncio.Future[Any]], *, first: float = 1.0,
                          cap: float = 5.0, give_up: float = 60.0) -> set[asyncio.Future[Any]]:
    """Cancel ``tasks`` and wait until each has ended; returns those that never did.

    A task still running ``first`` seconds after its cancel lost it (see above) or is slow
    in its clean-up: it is cancelled again, then after pauses doubling up to ``cap``, for
    at most ``give_up`` seconds — logged once. Their results and errors are consumed (the
    caller stops them; it does not want what they return).
    """
    tasks = list(tasks)
    pending = {t for t in tasks if not t.done()}
    for task in pending:
        task.cancel()
    pause, waited, repeated = first, 0.0, False
    while pending:
        _, pending = await asyncio.wait(pending, timeout=pause)
        waited += pause
        if not pending:
            break
        if waited >= give_up:
            log.error("%d task(s) did not stop %.0f s after being cancelled: %s",
                      len(pending), waited, _names(pending))
            return pending
        if not repeated:
            log.warning("%d task(s) still running %.1f s after being cancelled (a cancel "
                        "lost in a library): cancelling again: %s", len(pending), waited,
                        _names(pending))
            repeated = True
        for task in pending:
            task.cancel()
        pause = min(cap, pause * 2)
    for task in tasks:
        if task.done() and not task.cancelled():
            task.exception()          # consumed: no "exception was never retrieved"
    return set()


def _names(tasks: Iterable[asyncio.Future[Any]]) -> str:
    return ", ".join(sorted(t.get_name() if isinstance(t, asyncio.Task) else repr(t)
                            for t in tasks))
