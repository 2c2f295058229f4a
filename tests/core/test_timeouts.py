"""hotline_core/timeouts.py: a time-limited await that never drops a cancellation, and
stopping tasks that did drop one.

The race it exists for (CPython gh-86296, Python 3.11's ``asyncio.wait_for``): the awaited
work finishes and the waiting task is cancelled in the same loop iteration. ``wait_for``
then returns the result and the cancellation is lost — the task runs on. The scenario below
builds that iteration by hand: the future gets its result and the task its cancel() before
the loop runs again.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from hotline_core.timeouts import cancel_and_wait, within

Waiter = Callable[[Awaitable[Any], float], Awaitable[Any]]


async def _cancel_as_the_work_finishes(wait: Waiter) -> tuple[bool, list[str]]:
    """Returns whether the task ended cancelled, and what it did after its wait."""
    work: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    after: list[str] = []

    async def service() -> None:
        await wait(work, 5)
        after.append("went on after the cancel")
        await asyncio.sleep(0.2)             # a loop's pause: ends normally if not cancelled

    task = asyncio.create_task(service())
    await asyncio.sleep(0)                   # the service is now waiting for the work
    work.set_result(1)                       # same iteration: the work finishes ...
    task.cancel()                            # ... and the service is told to stop
    done, _ = await asyncio.wait({task}, timeout=2)
    assert done, "the service neither stopped nor finished"
    return task.cancelled(), after


async def test_within_lets_the_cancellation_through() -> None:
    cancelled, after = await _cancel_as_the_work_finishes(within)
    assert cancelled is True
    assert after == []


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="wait_for was fixed in 3.12")
async def test_wait_for_on_311_drops_it_which_is_why_within_exists() -> None:
    # The control: the same scenario with asyncio.wait_for loses the cancel, so the test
    # above would fail if within() were wait_for.
    cancelled, after = await _cancel_as_the_work_finishes(asyncio.wait_for)
    assert cancelled is False
    assert after == ["went on after the cancel"]


async def test_within_times_out_and_cancels_the_work() -> None:
    started = asyncio.Event()
    cancelled = asyncio.Event()

    async def slow() -> None:
        started.set()
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    with pytest.raises(TimeoutError):
        await within(slow(), 0.05)
    assert started.is_set() and cancelled.is_set()


async def test_within_returns_the_result_and_none_means_no_limit() -> None:
    async def value() -> str:
        await asyncio.sleep(0.01)
        return "signed"

    assert await within(value(), 1) == "signed"
    assert await within(value(), None) == "signed"


async def _service_waiting_in_wait_for(
        rounds: list[int]) -> tuple[asyncio.Task[None], asyncio.Future[int]]:
    """A loop whose wait is ``asyncio.wait_for`` (as redis-py's send). A cancel made in the
    iteration in which ``work`` gets its result is lost: the loop runs on."""
    work: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    async def service() -> None:
        await asyncio.wait_for(work, 5)
        while True:                          # the service loop's rounds after the lost cancel
            rounds.append(len(rounds))
            await asyncio.sleep(0.01)

    task = asyncio.create_task(service(), name="leader-lock")
    await asyncio.sleep(0)
    return task, work


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="wait_for was fixed in 3.12")
async def test_one_cancel_is_lost_there_which_is_why_cancel_and_wait_exists() -> None:
    rounds: list[int] = []
    task, work = await _service_waiting_in_wait_for(rounds)
    work.set_result(1)
    task.cancel()                            # as Core.stop did before: cancel once, await
    done, _ = await asyncio.wait({task}, timeout=0.2)
    assert not done and len(rounds) > 3     # still going round
    task.cancel()
    await asyncio.wait({task}, timeout=1)


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="wait_for was fixed in 3.12")
async def test_cancel_and_wait_stops_a_task_that_lost_its_cancel(
        caplog: pytest.LogCaptureFixture) -> None:
    rounds: list[int] = []
    task, work = await _service_waiting_in_wait_for(rounds)
    work.set_result(1)
    with caplog.at_level("WARNING", logger="hotline_core.timeouts"):
        # Its first cancel comes in the same iteration as the result: lost, then repeated.
        assert await cancel_and_wait([task], first=0.05) == set()
    assert task.cancelled() and rounds != []
    warned = [r.getMessage() for r in caplog.records if r.name == "hotline_core.timeouts"]
    assert len(warned) == 1 and "cancelling again: leader-lock" in warned[0]


async def test_cancel_and_wait_ends_plain_tasks_at_once_and_consumes_their_errors(
        caplog: pytest.LogCaptureFixture) -> None:
    async def sleeper() -> None:
        await asyncio.sleep(10)

    async def failed() -> None:
        raise RuntimeError("work order store away")

    broken = asyncio.create_task(failed())
    await asyncio.sleep(0)
    sleeping = asyncio.create_task(sleeper())
    with caplog.at_level("WARNING", logger="hotline_core.timeouts"):
        assert await cancel_and_wait([sleeping, broken]) == set()
    assert sleeping.cancelled() and isinstance(broken.exception(), RuntimeError)
    assert [r for r in caplog.records if r.name == "hotline_core.timeouts"] == []


async def test_cancel_and_wait_gives_up_on_a_task_that_refuses_and_says_so(
        caplog: pytest.LogCaptureFixture) -> None:
    stop = asyncio.Event()

    async def stubborn() -> None:
        while not stop.is_set():
            try:
                await asyncio.sleep(1)
            except asyncio.CancelledError:
                continue                     # refuses every cancel

    task = asyncio.create_task(stubborn(), name="stubborn")
    await asyncio.sleep(0)
    with caplog.at_level("WARNING", logger="hotline_core.timeouts"):
        left = await cancel_and_wait([task], first=0.02, cap=0.04, give_up=0.2)
    assert left == {task} and not task.done()
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1 and "did not stop" in errors[0] and "stubborn" in errors[0]
    stop.set()
    await asyncio.wait_for(task, 2)
