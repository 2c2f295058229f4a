"""The one outbound number policy, by purpose, with a real Redis and the real database
directory (migrated SQLite): emergency numbers exactly and never capped; callbacks only to
numbers that called in; reminders only to the unit directory's phones; configured
destinations only; a directory that cannot be read refuses. Every refusal is logged with
the number masked."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from sqlalchemy.orm import Session, sessionmaker

from hotline_core.call_records import CallRecord
from hotline_core.db import make_engine, make_sessionmaker
from hotline_core.dial_policy import (
    DatabaseDirectory,
    DialPolicy,
    DialPolicySettings,
    DialPurpose,
    DialRefused,
)
from hotline_core.migrate import upgrade
from hotline_core.workorders.model import Unit, UnitContact, WorkOrder

NOW = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_url)
    await client.flushdb()
    yield client
    await client.aclose()


@pytest.fixture
def db(tmp_path: Path) -> sessionmaker[Session]:
    url = f"sqlite:///{tmp_path / 'hotline.db'}"
    upgrade(url)
    maker = make_sessionmaker(make_engine(url))
    with maker() as s, s.begin():
        s.add(CallRecord(id="c1", linkedid="c1", line="12345", caller="13800138000",
                         offered_at=NOW - timedelta(days=2), disposition="answered",
                         route="core"))
        s.add(CallRecord(id="c2", linkedid="c2", line="12345", caller="13900139000",
                         offered_at=NOW - timedelta(days=45), disposition="answered",
                         route="core"))
        s.add(Unit(code="town-a", name="A镇", kind="town", contacts=[
            UnitContact(role="A", name="李联络", phone="+86 138 0000 0101"),
            UnitContact(role="lead", name="王镇长", phone="09366600001")]))
    return maker


def _policy(redis: aioredis.Redis, db: sessionmaker[Session], **table: object) -> DialPolicy:
    return DialPolicy(DialPolicySettings.from_table(table, "test.toml"), redis, namespace="p",
                      clock=lambda: NOW.timestamp(), directory=DatabaseDirectory(db))


async def test_emergency_numbers_exactly_and_never_capped(
        redis: aioredis.Redis, db: sessionmaker[Session]) -> None:
    policy = _policy(redis, db, overall_per_minute=1)
    for _ in range(5):     # five transfers to 119 in one minute: a cap of 1 does not apply
        assert await policy.authorize("119", "transfer of c1", DialPurpose.EMERGENCY) == "119"
    for raw in ("13800138000", "1190", "0119", "119&PJSIP/1001", "12345", ""):
        with pytest.raises(DialRefused, match="not an emergency centre's number"):
            await policy.authorize(raw, "transfer of c1", DialPurpose.EMERGENCY)
    # An emergency number is not a callback destination either.
    with pytest.raises(DialRefused):
        await policy.authorize("119", "callback of c1", DialPurpose.CALLED_IN)


async def test_callbacks_only_to_numbers_that_called_in(
        redis: aioredis.Redis, db: sessionmaker[Session],
        caplog: pytest.LogCaptureFixture) -> None:
    policy = _policy(redis, db)
    assert await policy.authorize("+8613800138000", "callback of c1") == "13800138000"
    with pytest.raises(DialRefused, match="has not called the hotline in the last 30 days"):
        await policy.authorize("13700137000", "callback of x")        # never called
    with pytest.raises(DialRefused, match="last 30 days"):
        await policy.authorize("13900139000", "callback of c2")       # 45 days ago
    assert await _policy(redis, db, called_in_days=60).authorize(
        "13900139000", "callback of c2") == "13900139000"
    # A citizen whose order was made on the web never called: the order's number counts.
    with pytest.raises(DialRefused, match="last 30 days"):
        await policy.authorize("13600136000", "satisfaction callback of order 1")
    with db() as s, s.begin():
        s.add(WorkOrder(received_at=NOW, channel="web", category="help", description="x",
                        status="received", caller_number="+86 136-0013-6000"))
    assert await policy.authorize("13600136000", "satisfaction callback of order 1") \
        == "13600136000"
    logged = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("callback of x" in m and "called_in" in m for m in logged), logged
    assert not any("13700137000" in m for m in logged)


async def test_reminders_only_to_the_unit_directory(
        redis: aioredis.Redis, db: sessionmaker[Session]) -> None:
    policy = _policy(redis, db)
    assert await policy.authorize("13800000101", "reminder 1",
                                  DialPurpose.LIAISON) == "13800000101"
    assert await policy.authorize("0936-6600001", "reminder 1",
                                  DialPurpose.LIAISON) == "09366600001"
    # A citizen who called in is not a liaison.
    with pytest.raises(DialRefused, match="not a liaison phone"):
        await policy.authorize("13800138000", "reminder 1", DialPurpose.LIAISON)


async def test_configured_destinations_only(redis: aioredis.Redis,
                                            db: sessionmaker[Session]) -> None:
    policy = _policy(redis, db, destinations=["4008123123"])
    assert await policy.authorize("400-812-3123", "test call",
                                  DialPurpose.CONFIGURED) == "4008123123"
    for raw in ("4008123124", "13800138000", "4008123123,1001"):
        with pytest.raises(DialRefused, match="not a configured destination"):
            await policy.authorize(raw, "test call", DialPurpose.CONFIGURED)


async def test_the_number_rules_still_apply_to_members(
        redis: aioredis.Redis, db: sessionmaker[Session]) -> None:
    """A premium number in the unit directory is still refused by its type, and the rate
    caps still count."""
    with db() as s, s.begin():
        s.add(UnitContact(unit_code="town-a", role="B", name="x", phone="4008123123"))
    policy = _policy(redis, db, per_number_per_hour=1)
    with pytest.raises(DialRefused, match="shared_cost is not allowed"):
        await policy.authorize("4008123123", "reminder 2", DialPurpose.LIAISON)
    await policy.authorize("13800138000", "callback of c1")
    with pytest.raises(DialRefused, match="rate cap"):
        await policy.authorize("13800138000", "callback of c1")


async def test_a_directory_that_cannot_be_read_refuses(redis: aioredis.Redis,
                                                       tmp_path: Path) -> None:
    """No tables (the database is not migrated): nobody is dialled, nothing raised but
    DialRefused."""
    broken = make_sessionmaker(make_engine(f"sqlite:///{tmp_path / 'empty.db'}"))
    policy = DialPolicy(DialPolicySettings(), redis, namespace="p",
                        directory=DatabaseDirectory(broken))
    with pytest.raises(DialRefused, match="directory could not be read"):
        await policy.authorize("13800138000", "callback of c1")
    with pytest.raises(DialRefused, match="directory could not be read"):
        await policy.authorize("13800000101", "reminder 1", DialPurpose.LIAISON)
