"""The overdue-order raise (``[priorities] overdue_order``) on a real SQLite work-order store.

On the starting main the core built ``CallerPriority`` without any overdue lookup, so this
raise never applied (tests/e2e/test_distribution_rules.py shows it end to end); there was no
``OverdueOrders`` to import.

Issue 14 item 3: the lookup runs for every inbound call, so it now runs one fixed statement
on a Core connection and coalesces concurrent callers into one query. The statements the
store receives are counted with SQLAlchemy's ``before_cursor_execute`` event, which runs in
the thread that sends them; a test can hold a query there (to let callers queue behind it)
or make one fail.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from sqlalchemy import Engine, event
from sqlalchemy.engine.interfaces import CacheStats

from hotline_core.acd import Priorities
from hotline_core.acd.caller_flags import CallerFlags, CallerPriority, OverdueOrders
from hotline_core.db import make_engine, make_sessionmaker
from hotline_core.migrate import upgrade
from hotline_core.workorders.lifecycle import Status
from hotline_core.workorders.model import WorkOrder

NOW = datetime(2026, 11, 30, 4, 0, tzinfo=UTC)
SHIPPED = Priorities()   # normal 0, overdue_order 20 as in config/distribution.toml
HOLD_SECONDS = 10.0      # safety bound on a held query; the tests release it long before

# The rule (R-PRIORITY-SUPERVISION as the desk lights apply it): an order counts when a unit
# is working on it (dispatched, handling, redo) and its deadline is at or before now.
# caller as the carrier sends it -> (number the order kept, status, deadline - now, counts)
ORDERS: dict[str, tuple[str, Status, timedelta | None, bool]] = {
    "13800138001": ("13800138001", Status.HANDLING, -timedelta(hours=1), True),
    "13800138002": ("13800138002", Status.HANDLING, timedelta(hours=1), False),   # not due
    "13800138003": ("13800138003", Status.CLOSED, -timedelta(days=2), False),     # closed
    "13800138004": ("+8613800138004", Status.DISPATCHED, -timedelta(days=1), True),
    "13800138005": ("13800138005", Status.REDO, timedelta(0), True),     # due this instant
    "13800138006": ("13800138006", Status.REPLIED, -timedelta(days=3), False),  # unit done
    "13800138007": ("13800138007", Status.HANDLING, None, False),        # no deadline
    # kept as the carrier sent it (international prefix): found through the as-sent form
    "008613800138008": ("008613800138008", Status.HANDLING, -timedelta(days=1), True),
    # a Beijing fixed line kept as +86 without the trunk 0
    "01012345678": ("+861012345678", Status.DISPATCHED, -timedelta(hours=2), True),
    "13800138010": ("13900139010", Status.HANDLING, -timedelta(days=1), False),  # other number
}


def _order(number: str, status: Status, due_in: timedelta | None) -> WorkOrder:
    return WorkOrder(received_at=NOW - timedelta(days=10), channel="phone", line="12345",
                     caller_number=number, category="complaint", description="路灯不亮",
                     status=status.value, due_at=None if due_in is None else NOW + due_in)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Engine]:
    url = f"sqlite:///{tmp_path / 'orders.db'}"
    upgrade(url)
    engine = make_engine(url)
    with make_sessionmaker(engine)() as session:
        session.add_all([_order(number, status, due_in)
                         for number, status, due_in, _ in ORDERS.values()])
        session.commit()
    yield engine
    engine.dispose()


@pytest.fixture
def lookup(store: Engine) -> OverdueOrders:
    return OverdueOrders(store, lambda: NOW)


@dataclass
class Sent:
    """The statements the store received (from the listener, in the sending thread)."""

    engine: Engine
    hold: int = 0                       # hold the n-th statement until released
    fail: set[int] = field(default_factory=set)   # make these statements fail
    statements: list[str] = field(default_factory=list)
    threads: list[tuple[int, str]] = field(default_factory=list)
    cache: list[CacheStats] = field(default_factory=list)
    held_until_released: list[bool] = field(default_factory=list)
    entered: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        event.listen(self.engine, "before_cursor_execute", self._sent)

    def _sent(self, _conn: Any, _cursor: Any, statement: str, _params: Any, context: Any,
              _many: bool) -> None:
        self.statements.append(statement)
        self.threads.append((threading.get_ident(), threading.current_thread().name))
        self.cache.append(context.cache_hit)
        number = len(self.statements)
        if number == self.hold:
            self.entered.set()
            self.held_until_released.append(self.release.wait(HOLD_SECONDS))
        if number in self.fail:
            raise RuntimeError("database is locked")

    async def held(self) -> None:
        """Until the held statement is in its thread."""
        assert await asyncio.to_thread(self.entered.wait, HOLD_SECONDS)


async def _queued(lookup: OverdueOrders, count: int) -> None:
    """Until ``count`` callers are queued (each task queues at its first step: a few loop
    turns; the lookup has no event to wait on, it is polled)."""
    async with asyncio.timeout(HOLD_SECONDS):
        while lookup.callers_waiting < count:  # noqa: ASYNC110
            await asyncio.sleep(0)


async def test_open_overdue_order_of_the_caller(lookup: OverdueOrders) -> None:
    assert await lookup("13800138001") is True
    assert await lookup("+8613800138001") is True      # the carrier's other form
    assert await lookup("13800138002") is False        # its deadline has not passed
    assert await lookup("13800138003") is False        # closed orders do not count
    assert await lookup("13800138004") is True         # the order kept the +86 form
    assert await lookup("anonymous") is False


async def test_every_number_form_and_status_one_caller_at_a_time(lookup: OverdueOrders) -> None:
    for caller, (_kept, _status, _due_in, counts) in ORDERS.items():
        assert await lookup(caller) is counts, caller
    assert await lookup("+861012345678") is True        # the fixed line sent as +86
    assert await lookup("") is False                    # no number at all


async def test_one_statement_with_fixed_binds_from_the_compiled_cache(
        store: Engine, lookup: OverdueOrders) -> None:
    sent = Sent(store)
    # one form ("anonymous"), two (a mobile as canonical and +86), three (sent with the
    # international prefix): a lone caller's statement is padded to the same four binds
    callers = ("anonymous", "13800138001", "008613800138008", "anonymous", "+8613800138004")
    assert [await lookup(c) for c in callers] == [False, True, True, False, True]
    assert len(sent.statements) == 5
    assert len(set(sent.statements)) == 1, sent.statements
    only = sent.statements[0]
    assert only.count("?") == 4 + 1                     # four number forms and now
    assert "POSTCOMPILE" not in only and "'handling'" in only
    # The engine is fresh (the fixture's seeding sent other statements): the first run
    # compiles, every later one is a compiled-cache hit.
    assert sent.cache == [CacheStats.CACHE_MISS] + [CacheStats.CACHE_HIT] * 4


async def test_concurrent_callers_share_a_query_and_each_gets_its_own_answer(
        store: Engine, lookup: OverdueOrders) -> None:
    sent = Sent(store, hold=1)
    first = asyncio.create_task(lookup("13800138001"))
    await sent.held()
    # While the first caller's query is in its thread, the others arrive: with and without
    # an overdue order, in every form, one caller twice.
    also = {"+8613800138001": True, "+861012345678": True, "anonymous": False}
    others = [*ORDERS, *also, "13800138004"]
    tasks = [asyncio.create_task(lookup(c)) for c in others]
    await _queued(lookup, len(others))
    sent.release.set()
    answers = await asyncio.gather(first, *tasks)

    expected = [True] + [ORDERS[c][3] if c in ORDERS else also[c] for c in others]
    assert answers == expected
    # Expected queries: the first caller's own (it started alone, nothing waited), then ONE
    # for all 14 who queued behind it: 14 callers bring at most 3 forms each, 42 <= 128,
    # the largest query. 2 statements for 15 callers.
    assert len(sent.statements) == 2 < 1 + len(others)
    assert sent.held_until_released == [True]


async def test_callers_arriving_together_need_fewer_queries_than_callers(
        store: Engine, lookup: OverdueOrders) -> None:
    sent = Sent(store)
    callers = [f"1390013{i:04d}" for i in range(60)] + list(ORDERS)
    answers = await asyncio.gather(*(lookup(c) for c in callers))
    assert answers == [False] * 60 + [counts for *_, counts in ORDERS.values()]
    # The first caller's query starts as it arrives, alone (2 forms). The other 69 queue
    # behind it. Forms: a mobile sent canonical has two (as sent = canonical, +86): 59 x 2
    # = 118; the ORDERS callers 9 x 2 + 3 (the one sent with 0086) = 21; 139 forms > 128,
    # the largest query: the second query takes the next 64 callers (128 forms), the third
    # the last 5 (11 forms). 3 queries for 70 callers.
    assert len(sent.statements) == 3


async def test_a_lone_caller_is_not_held_for_others(store: Engine) -> None:
    # gather is an hour: had the first caller's query waited for it, the lookup would end
    # in its own TimeoutError (HOLD_SECONDS) instead of an answer.
    lookup = OverdueOrders(store, lambda: NOW, timeout=HOLD_SECONDS, gather=3600)
    sent = Sent(store)
    assert await lookup("13800138001") is True
    assert len(sent.statements) == 1


async def test_when_busy_the_query_waits_for_the_callers_about_to_come(store: Engine) -> None:
    lookup = OverdueOrders(store, lambda: NOW, timeout=HOLD_SECONDS, gather=1.0)
    sent = Sent(store)
    assert await lookup("13800138001") is True          # idle: its own query at once
    # The next caller comes less than gather (1 s) after the first (the first's query on a
    # local SQLite file takes milliseconds): busy, so its query waits 1 s and the caller
    # who comes right after rides along. Expected: 2 queries for the 3 callers.
    answers = await asyncio.gather(lookup("13800138004"), lookup("13800138002"))
    assert list(answers) == [True, False]
    assert len(sent.statements) == 2


async def test_a_failing_query_fails_only_the_callers_it_carried(
        store: Engine, lookup: OverdueOrders) -> None:
    sent = Sent(store, hold=1, fail={2})
    first = asyncio.create_task(lookup("13800138001"))
    await sent.held()
    carried = [asyncio.create_task(lookup(c)) for c in ("13800138004", "13800138002")]
    await _queued(lookup, 2)
    sent.release.set()
    assert await first is True
    outcomes = await asyncio.gather(*carried, return_exceptions=True)
    assert [type(o) for o in outcomes] == [RuntimeError, RuntimeError]
    # the next caller's query works again
    assert await lookup("13800138004") is True
    assert len(sent.statements) == 3


async def test_a_failed_query_queues_its_callers_without_the_raise(
        store: Engine, lookup: OverdueOrders, redis_url: str,
        caplog: pytest.LogCaptureFixture) -> None:
    sent = Sent(store, hold=1, fail={2})
    client = aioredis.from_url(redis_url, socket_timeout=5)
    try:
        priority = CallerPriority(SHIPPED, CallerFlags(client, f"ovd-fail-{id(lookup)}"),
                                  overdue_lookup=lookup)
        with caplog.at_level(logging.WARNING, logger="hotline_core.acd.caller_flags"):
            first = asyncio.create_task(priority.of("13800138001"))
            await sent.held()
            carried = [asyncio.create_task(priority.of(c))
                       for c in ("13800138004", "008613800138008")]
            await _queued(lookup, 2)
            sent.release.set()
            assert await first == SHIPPED.overdue_order
            # both have an overdue order, but their query failed: queued as normal callers
            assert await asyncio.gather(*carried) == [SHIPPED.normal, SHIPPED.normal]
        failures = [r for r in caplog.records if "lookup failing" in r.getMessage()]
        assert len(failures) == 1
    finally:
        await client.aclose()


async def test_the_query_runs_in_a_worker_thread_and_the_loop_runs_on(
        store: Engine, lookup: OverdueOrders) -> None:
    sent = Sent(store, hold=1)
    loop_thread = threading.get_ident()
    held = asyncio.create_task(lookup("13800138001"))
    await sent.held()
    # The query is held in its thread: the event loop still serves others (a caller with no
    # number, a timer, another task). Had the query run on the loop, nothing here would run
    # until the hold's safety bound expired, and held_until_released would say False.
    assert await lookup("") is False
    await asyncio.sleep(0.01)
    other = asyncio.Event()
    asyncio.get_running_loop().call_soon(other.set)
    await other.wait()
    sent.release.set()
    assert await held is True
    assert sent.held_until_released == [True]
    ident, name = sent.threads[0]
    assert ident != loop_thread and name.startswith("overdue-orders")


async def test_a_caller_who_times_out_leaves_the_others_alone(store: Engine) -> None:
    lookup = OverdueOrders(store, lambda: NOW, timeout=0.2)
    sent = Sent(store, hold=1)
    held = asyncio.create_task(lookup("13800138001"))
    await sent.held()
    queued = asyncio.create_task(lookup("13800138004"))
    await _queued(lookup, 1)
    # Both wait past their timeout (the query is held): each gets its own TimeoutError.
    outcomes = await asyncio.gather(held, queued, return_exceptions=True)
    assert [type(o) for o in outcomes] == [TimeoutError, TimeoutError]
    sent.release.set()
    # The timed-out queued caller is dropped, not queried for; the next caller is answered.
    assert await lookup("13800138005") is True
    assert len(sent.statements) == 2


async def test_a_hanging_store_does_not_grow_the_queue_without_bound(store: Engine) -> None:
    lookup = OverdueOrders(store, lambda: NOW, timeout=0.05)
    sent = Sent(store, hold=1)
    held = asyncio.create_task(lookup("13800138001"))
    await sent.held()
    # 4 096 callers (the trim mark in caller_flags.py) queue behind the held query and
    # time out there; the next caller's arrival drops the answered ones.
    stuck = await asyncio.gather(*(lookup(f"1390013{i:04d}") for i in range(4096)),
                                 return_exceptions=True)
    assert {type(o) for o in stuck} == {TimeoutError}
    assert lookup.callers_waiting == 4096
    late = asyncio.create_task(lookup("13800138004"))
    await asyncio.sleep(0)              # the late caller's task takes its first step
    assert lookup.callers_waiting == 1
    sent.release.set()
    assert isinstance((await asyncio.gather(held, return_exceptions=True))[0], TimeoutError)
    # its query starts once the held one returns: answered, or timed out on a slow machine
    late_outcome = (await asyncio.gather(late, return_exceptions=True))[0]
    assert late_outcome is True or isinstance(late_outcome, TimeoutError)


async def test_priority_gets_the_overdue_raise(lookup: OverdueOrders, redis_url: str) -> None:
    client = aioredis.from_url(redis_url, socket_timeout=5)
    try:
        priority = CallerPriority(SHIPPED, CallerFlags(client, f"ovd-{id(lookup)}"),
                                  overdue_lookup=lookup)
        assert await priority.of("13800138001") == SHIPPED.overdue_order == 20
        assert await priority.of("13800138002") == SHIPPED.normal == 0
    finally:
        await client.aclose()


async def test_a_failing_lookup_is_logged_once_and_never_holds_the_caller(
        redis_url: str, caplog: pytest.LogCaptureFixture) -> None:
    async def broken(_: str) -> bool:
        raise TimeoutError("work-order store did not answer")

    client = aioredis.from_url(redis_url, socket_timeout=5)
    try:
        priority = CallerPriority(SHIPPED, CallerFlags(client, "ovd-broken"),
                                  overdue_lookup=broken)
        with caplog.at_level(logging.WARNING, logger="hotline_core.acd.caller_flags"):
            for _ in range(3):
                assert await priority.of("13800138001") == 0
        failures = [r for r in caplog.records if "lookup failing" in r.getMessage()]
        assert len(failures) == 1
    finally:
        await client.aclose()
