"""The overdue-order raise (``[priorities] overdue_order``) on a real SQLite work-order store.

On the starting main the core built ``CallerPriority`` without any overdue lookup, so this
raise never applied (tests/e2e/test_distribution_rules.py shows it end to end); there was no
``OverdueOrders`` to import.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from hotline_core.acd import Priorities
from hotline_core.acd.caller_flags import CallerFlags, CallerPriority, OverdueOrders
from hotline_core.db import make_engine, make_sessionmaker
from hotline_core.migrate import upgrade
from hotline_core.workorders.lifecycle import Status
from hotline_core.workorders.model import WorkOrder

NOW = datetime(2026, 11, 30, 4, 0, tzinfo=UTC)
SHIPPED = Priorities()   # normal 0, overdue_order 20 as in config/distribution.toml


def _order(caller: str, status: Status, due_in: timedelta) -> WorkOrder:
    return WorkOrder(received_at=NOW - timedelta(days=10), channel="phone", line="12345",
                     caller_number=caller, category="complaint", description="路灯不亮",
                     status=status.value, due_at=NOW + due_in)


@pytest.fixture
def lookup(tmp_path: Path) -> OverdueOrders:
    url = f"sqlite:///{tmp_path / 'orders.db'}"
    upgrade(url)
    maker = make_sessionmaker(make_engine(url))
    with maker() as session:
        session.add_all([
            _order("13800138001", Status.HANDLING, -timedelta(hours=1)),     # overdue, open
            _order("13800138002", Status.HANDLING, timedelta(hours=1)),      # not yet due
            _order("13800138003", Status.CLOSED, -timedelta(days=2)),        # closed
            _order("+8613800138004", Status.DISPATCHED, -timedelta(days=1)),  # typed +86
        ])
        session.commit()
    return OverdueOrders(maker, lambda: NOW)


async def test_open_overdue_order_of_the_caller(lookup: OverdueOrders) -> None:
    assert await lookup("13800138001") is True
    assert await lookup("+8613800138001") is True      # the carrier's other form
    assert await lookup("13800138002") is False        # its deadline has not passed
    assert await lookup("13800138003") is False        # closed orders do not count
    assert await lookup("13800138004") is True         # the order kept the +86 form
    assert await lookup("anonymous") is False


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
