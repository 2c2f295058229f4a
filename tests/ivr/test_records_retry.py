"""Call-record writes survive a busy or restarting database (issue 9, item 7).

On the starting main (4b97079) ``AsyncCallLog`` applied each batch once: a SQLite file
locked by another process for longer than the busy timeout, or a PostgreSQL server
restarting, made ``run_batch`` fail, the writer logged "call log write failed" and dropped
the writes — ``get`` then returned None for those calls, and ``close`` at shutdown dropped
whatever was still queued. Here the real database is made unavailable (an exclusive SQLite
lock held by a second connection; ``pg_ctl stop`` on a real PostgreSQL server) while calls
are written, until the writer has failed three times, and every record must be complete
once it is back. (Measured on the starting main with the same lock: the first calls'
``offered`` writes failed and were dropped, so ``get`` returned None for them.)
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import event

from hotline_core.call_records import CallLog, CallRecord, Disposition
from hotline_core.db import make_engine, make_sessionmaker
from hotline_core.migrate import upgrade
from ivr.records import AsyncCallLog
from testkit.postgres import RestartablePostgres, fresh_database, restartable_postgres

CALLS = [f"17{n:08d}.{n}" for n in range(30)]


def _call_log(url: str) -> CallLog:
    upgrade(url)
    engine = make_engine(url)
    if url.startswith("sqlite"):
        # The core's busy timeout is 5 s; 0.2 s lets the test see several failed tries
        # quickly. Runs after make_engine's own pragmas.
        @event.listens_for(engine, "connect")
        def _short_busy_timeout(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            dbapi_conn.execute("PRAGMA busy_timeout=200")
    return CallLog(make_sessionmaker(engine))


async def _write_calls(calls: AsyncCallLog) -> None:
    """Each call: offered on line 12345, answered by agent 1001, ended with cause 16."""
    for call_id in CALLS:
        await calls.offered(call_id, line="12345", caller="13800138000")
        await calls.answered(call_id, "1001")
        await calls.ended(call_id, 16)


def _assert_complete(records: list[CallRecord | None]) -> None:
    assert len(records) == len(CALLS)
    for call_id, rec in zip(CALLS, records, strict=True):
        assert rec is not None, f"call {call_id} lost"
        assert (rec.line, rec.caller, rec.agent_id) == ("12345", "13800138000", "1001")
        assert rec.disposition == Disposition.ANSWERED.value
        assert rec.ended_at is not None and rec.hangup_cause == 16


async def _until(condition: object, what: str, limit: float = 60.0) -> None:
    """Poll ``condition()`` (a deadline for the test, not a timing assertion)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while not condition():  # type: ignore[operator]
        assert loop.time() < deadline, f"never: {what}"
        await asyncio.sleep(0.05)


# -- SQLite: another process holds the file locked --------------------------------------------
@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'hotline.db'}"


async def _warm(calls: AsyncCallLog) -> None:
    """Open the writer's connection before the lock (its set-up pragmas would wait 5 s)."""
    await calls.offered("warm-up", line="12345", caller="13800138000")
    assert await calls.get("warm-up") is not None


def _lock(url: str) -> sqlite3.Connection:
    holder = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None,
                             check_same_thread=False)
    holder.execute("BEGIN EXCLUSIVE")
    return holder


async def test_writes_wait_for_a_locked_sqlite_file(sqlite_url: str) -> None:
    calls = AsyncCallLog(_call_log(sqlite_url), first_retry=0.05, max_retry=0.5)
    await _warm(calls)
    holder = _lock(sqlite_url)
    try:
        await _write_calls(calls)
        # The busy timeout runs out while the lock is held: the writer is retrying.
        await _until(lambda: calls.failed_tries >= 3, "three failed tries")
    finally:
        holder.execute("COMMIT")
        holder.close()
    _assert_complete([await calls.get(c) for c in CALLS])
    await asyncio.to_thread(calls.close)
    assert calls.unwritten == 0


async def test_close_drains_what_waits_for_a_locked_sqlite_file(sqlite_url: str) -> None:
    calls = AsyncCallLog(_call_log(sqlite_url), first_retry=0.05, max_retry=0.5)
    await _warm(calls)
    holder = _lock(sqlite_url)
    closing = threading.Thread(target=calls.close, kwargs={"timeout": 60})
    try:
        await _write_calls(calls)
        await _until(lambda: calls.failed_tries >= 3, "three failed tries")
        closing.start()                      # shutdown begins with every write still queued
    finally:
        holder.execute("COMMIT")
        holder.close()
    await asyncio.to_thread(closing.join)
    assert calls.unwritten == 0
    fresh = _call_log(sqlite_url)           # what the next start of the core reads
    _assert_complete([fresh.get(c) for c in CALLS])


# -- PostgreSQL: the server restarts -----------------------------------------------------------
@pytest.fixture(scope="module")
def pg() -> Iterator[RestartablePostgres]:
    with restartable_postgres() as server:
        yield server


async def test_writes_survive_a_postgresql_restart(pg: RestartablePostgres) -> None:
    url = fresh_database(pg.url)
    calls = AsyncCallLog(_call_log(url), first_retry=0.05, max_retry=0.5)
    await _warm(calls)                                # the pool holds a live connection
    await asyncio.to_thread(pg.stop)
    try:
        await _write_calls(calls)
        await _until(lambda: calls.failed_tries >= 3, "three failed tries")
    finally:
        await asyncio.to_thread(pg.start)
    _assert_complete([await calls.get(c) for c in CALLS])
    await asyncio.to_thread(calls.close)
    assert calls.unwritten == 0


async def test_close_drains_across_a_postgresql_restart(pg: RestartablePostgres) -> None:
    url = fresh_database(pg.url)
    calls = AsyncCallLog(_call_log(url), first_retry=0.05, max_retry=0.5)
    await asyncio.to_thread(pg.stop)
    closing = threading.Thread(target=calls.close, kwargs={"timeout": 60})
    try:
        await _write_calls(calls)
        await _until(lambda: calls.failed_tries >= 3, "three failed tries")
        closing.start()
    finally:
        await asyncio.to_thread(pg.start)
    await asyncio.to_thread(closing.join)
    assert calls.unwritten == 0
    fresh = _call_log(url)
    _assert_complete([fresh.get(c) for c in CALLS])
