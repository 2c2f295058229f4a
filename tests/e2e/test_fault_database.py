"""The database (PostgreSQL) unavailable for 10 s under a modest load (issue 14, item 4).

Three agents talk, one caller waits; PostgreSQL is stopped (``pg_ctl stop -m fast``) for
at least 10 s, while the talking calls end, the waiting caller is connected and two more
callers ring in and are answered; then it is started again. Expected, from what the test
placed: health shows the database down while it is down and up afterwards; every call is
answered meanwhile (calls do not need the database to flow); six calls placed → six
records, each answered by one of the agents and ended, written once the database is back
(the core's call-log writer keeps them and retries with backoff); no agent took a call
while on another.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest

from testkit.faults import (
    answered,
    assert_one_call_per_phone_at_a_time,
    ended,
    place,
    trace_phones,
    wait_agent_legs,
    wait_agents,
    wait_component,
    wait_in_line,
    wait_records,
)
from testkit.postgres import RestartablePostgres, fresh_database, restartable_postgres
from testkit.stack import Agent, HotlineStack

pytestmark = pytest.mark.e2e

AGENTS = ("1001", "1002", "1003")
OUTAGE_SECONDS = 10.0


@pytest.fixture(scope="module")
def postgres() -> Iterator[RestartablePostgres]:
    with restartable_postgres() as server:
        yield server


@pytest.fixture(scope="module")
def hotline(postgres: RestartablePostgres) -> Iterator[HotlineStack]:
    stack = HotlineStack(agents=[Agent(a, {"general": 1}) for a in AGENTS],
                         database_url=fresh_database(postgres.url)).start()
    trace_phones(stack, AGENTS)
    try:
        yield stack
    finally:
        stack.stop()


async def test_database_away_for_ten_seconds(hotline: HotlineStack,
                                             postgres: RestartablePostgres) -> None:
    assert hotline.settings.database_url.startswith("postgresql")
    for a in AGENTS:
        hotline.login(a)
    # SIPp's talk time starts at the dialplan's Answer: a waiting caller's time covers its
    # wait and then its conversation.
    talking = place(hotline, [f"1395000100{i}" for i in range(3)], talk_ms=12000)
    await wait_records(hotline, talking, "answered", answered)
    waiting = place(hotline, ["13950002000"], talk_ms=40000)
    await wait_in_line(hotline, "12345", 1)

    await asyncio.to_thread(postgres.stop, "fast")
    stopped = time.monotonic()
    try:
        await wait_component(hotline, "database", ok=False)
        newcomers = place(hotline, ["13950003000", "13950003001"], talk_ms=30000)
        for c in talking:
            result = await c.result()
            assert result.ok, result.output[-1500:]
        # The waiting caller and both newcomers are connected while the database is away.
        await wait_agent_legs(hotline, 3)
        # An outage of at least OUTAGE_SECONDS (a pause, not an assertion on time).
        await asyncio.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - stopped)))
    finally:
        await asyncio.to_thread(postgres.start)
    await wait_component(hotline, "database", ok=True)

    for c in waiting + newcomers:
        result = await c.result()
        assert result.ok, result.output[-1500:]
    everyone = talking + waiting + newcomers
    records = await wait_records(hotline, everyone, "answered and ended",
                                 lambda r: answered(r) and ended(r), timeout=60)
    assert len(records) == 6
    for number, r in records.items():
        assert (r["disposition"], r["line"]) == ("answered", "12345"), (number, r)
        assert r["agent_id"] in AGENTS, (number, r)
    assert_one_call_per_phone_at_a_time(hotline, AGENTS, least=6)
    await wait_agents(hotline, AGENTS, "ready")
