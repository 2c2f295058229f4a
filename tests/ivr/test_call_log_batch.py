"""The call-log writer's batch: one SELECT for the batch's records, one flush at the commit
(issue 14 item 3, the writer thread's CPU per FastAGI call).

On main ab4115c every operation of a batch looked its record up with ``Session.get`` (one
SELECT each) and, autoflush on, each lookup first flushed the operations before it, one
INSERT or UPDATE statement apiece: the batch below (100 ``offered`` + 100 ``ended`` + 50
``answered``) cost 500 statements there (counted with the same listener by
``bench/call_log_batch.py``'s old way). Here the statements are counted on a real SQLite
file and a real PostgreSQL server, and the guarantees of ``ivr/records.py`` are checked
within one batch: idempotent, in order, one bad operation cannot take the others down.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, event, func, select

from hotline_core.call_records import CallLog, CallRecord, Disposition
from hotline_core.db import make_engine, make_sessionmaker
from hotline_core.migrate import upgrade
from ivr.records import AsyncCallLog
from testkit.postgres import fresh_database

T0 = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
CALLER = "13800138000"


@pytest.fixture(scope="module",
                params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
           ) -> Iterator[Engine]:
    """One database per module and backend (migrations take most of a test's time); every
    test uses call ids of its own."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('calllog') / 'hotline.db'}"
    else:
        url = fresh_database(request.getfixturevalue("postgres_server_url"))
    upgrade(url)
    engine = make_engine(url)
    yield engine
    engine.dispose()


@pytest.fixture
def call_log(engine: Engine) -> CallLog:
    return CallLog(make_sessionmaker(engine))


class Statements:
    """Every statement the engine sends to the database driver (an executemany counts 1)."""

    def __init__(self, engine: Engine) -> None:
        self.sent: list[str] = []
        self._engine = engine
        event.listen(engine, "before_cursor_execute", self._seen)

    def _seen(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        self.sent.append(statement.split(None, 1)[0].upper())

    def close(self) -> None:
        event.remove(self._engine, "before_cursor_execute", self._seen)

    def count(self, verb: str) -> int:
        return sum(1 for s in self.sent if s == verb)


def _offer(log: CallLog, call_id: str, at: datetime = T0) -> Callable[[], None]:
    return lambda: log.offered(call_id, line="12345", caller=CALLER, at=at)


def _rows(engine: Engine, call_id: str) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(CallRecord)
                               .where(CallRecord.id == call_id)) or 0)


def test_a_batch_costs_one_select_and_grouped_writes(engine: Engine, call_log: CallLog) -> None:
    ended = [f"end-{i}" for i in range(100)]
    answered = [f"ans-{i}" for i in range(50)]
    new = [f"new-{i}" for i in range(100)]
    call_log.run_batch([_offer(call_log, c) for c in ended + answered], ids=ended + answered)
    end_at, answer_at = T0 + timedelta(seconds=30), T0 + timedelta(seconds=5)
    ops = ([_offer(call_log, c) for c in new]
           + [lambda c=c: call_log.ended(c, end_at, 16) for c in ended]
           + [lambda c=c: call_log.answered(c, "1001", answer_at) for c in answered])
    statements = Statements(engine)
    try:
        results = call_log.run_batch(ops, ids=new + ended + answered)
    finally:
        statements.close()
    assert results == [None] * 250
    # By hand: 250 ids <= 500 per SELECT -> 1 SELECT; 100 new records with the same columns
    # -> 1 INSERT (executemany / insertmanyvalues, 100 rows < 1000 a page); the 150 changed
    # records (100 ended, 50 answered) all set the same columns -> 1 UPDATE executemany.
    # 3 in all (the old code: 250 SELECTs + 250 single-row writes).
    assert statements.count("SELECT") == 1, statements.sent
    assert statements.count("INSERT") == 1, statements.sent
    assert statements.count("UPDATE") == 1, statements.sent
    assert len(statements.sent) == 3, statements.sent
    fresh = CallLog(make_sessionmaker(engine))
    for c in new:
        rec = fresh.get(c)
        assert rec is not None and rec.disposition == Disposition.OFFERED.value
    for c in ended:
        rec = fresh.get(c)
        assert rec is not None and rec.disposition == Disposition.ABANDONED.value
        assert rec.hangup_cause == 16 and rec.ended_at is not None
    for c in answered:
        rec = fresh.get(c)
        assert rec is not None and (rec.disposition, rec.agent_id) == ("answered", "1001")
        assert rec.ended_at is None


def test_ids_are_loaded_500_a_statement(engine: Engine, call_log: CallLog) -> None:
    ids = [f"many-{i}" for i in range(1001)]
    statements = Statements(engine)
    try:
        call_log.run_batch([_offer(call_log, c) for c in ids], ids=ids)
    finally:
        statements.close()
    # 1001 ids -> 500 + 500 + 1: three SELECTs; every record is new.
    assert statements.count("SELECT") == 3, statements.sent
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(CallRecord)
                           .where(CallRecord.id.like("many-%"))) == 1001


def test_offered_twice_in_one_batch_is_one_record(engine: Engine, call_log: CallLog) -> None:
    later = T0 + timedelta(seconds=9)
    results = call_log.run_batch([_offer(call_log, "twice"), _offer(call_log, "twice", later)],
                                 ids=["twice", "twice"])
    assert results == [None, None]                  # no IntegrityError, no fallback needed
    assert _rows(engine, "twice") == 1
    rec = CallLog(make_sessionmaker(engine)).get("twice")
    assert rec is not None and rec.offered_at.replace(tzinfo=UTC) == T0   # the first one


def test_offered_then_ended_in_one_batch_is_one_ended_record(
        engine: Engine, call_log: CallLog) -> None:
    end_at = T0 + timedelta(seconds=12)
    call_log.run_batch([_offer(call_log, "short"), lambda: call_log.ended("short", end_at, 17)],
                       ids=["short", "short"])
    assert _rows(engine, "short") == 1
    rec = CallLog(make_sessionmaker(engine)).get("short")
    assert rec is not None
    assert (rec.disposition, rec.hangup_cause) == (Disposition.ABANDONED.value, 17)
    assert rec.ended_at is not None and rec.ended_at.replace(tzinfo=UTC) == end_at


def test_an_operation_on_a_call_the_batch_did_not_name_still_finds_it(
        engine: Engine, call_log: CallLog) -> None:
    call_log.offered("unnamed", line="12345", caller=CALLER, at=T0)
    call_log.run_batch([lambda: call_log.answered("unnamed", "1002", T0)], ids=[])
    rec = call_log.get("unnamed")
    assert rec is not None and rec.agent_id == "1002"


def test_a_batch_applied_twice_leaves_the_records_as_once(
        engine: Engine, call_log: CallLog) -> None:
    first, second = T0 + timedelta(seconds=3), T0 + timedelta(seconds=40)
    ops = [_offer(call_log, "retried"), lambda: call_log.answered("retried", "1001", first),
           lambda: call_log.ended("retried", second, 16)]
    call_log.run_batch(ops, ids=["retried"] * 3)
    call_log.run_batch(ops, ids=["retried"] * 3)    # the writer's retry after a lost commit
    assert _rows(engine, "retried") == 1
    rec = call_log.get("retried")
    assert rec is not None
    assert (rec.disposition, rec.agent_id, rec.hangup_cause) == ("answered", "1001", 16)


def test_a_failing_operation_leaves_the_others_written(engine: Engine, call_log: CallLog) -> None:
    # caller None violates NOT NULL: the database refuses that INSERT at the batch's commit,
    # not a transient error, so the batch falls back to one transaction per operation.
    bad: Callable[[], None] = lambda: call_log.offered(  # noqa: E731
        "bad", line="12345", caller=None, at=T0)  # type: ignore[arg-type]
    end_at = T0 + timedelta(seconds=20)
    results = call_log.run_batch(
        [_offer(call_log, "good-1"), bad, _offer(call_log, "good-2"),
         lambda: call_log.ended("good-1", end_at, 16)],
        ids=["good-1", "bad", "good-2", "good-1"])
    assert results[0] is None and results[2] is None and results[3] is None
    assert isinstance(results[1], Exception)
    assert _rows(engine, "bad") == 0
    fresh = CallLog(make_sessionmaker(engine))
    one, two = fresh.get("good-1"), fresh.get("good-2")
    assert one is not None and one.disposition == Disposition.ABANDONED.value
    assert two is not None and two.disposition == Disposition.OFFERED.value


async def test_a_read_sees_the_writes_queued_before_it(engine: Engine, call_log: CallLog) -> None:
    """Through the writer thread: a record offered in the same batch as the read is seen
    with every column as stored (the batch has not flushed it yet when the read runs)."""
    calls = AsyncCallLog(call_log)
    try:
        await calls.offered("read-me", line="12345", caller=CALLER, recording="/r/x.wav")
        await calls.answered("read-me", "1003")
        rec = await calls.get("read-me")
        assert rec is not None
        assert (rec.line, rec.caller, rec.agent_id, rec.recording) == (
            "12345", CALLER, "1003", "/r/x.wav")
        assert (rec.reason, rec.reconciled, rec.disposition) == ("", False, "answered")
        assert await calls.get("never-offered") is None
    finally:
        await asyncio.to_thread(calls.close)
    assert calls.unwritten == 0


class CountedCallLog(CallLog):
    batches: list[int]

    def run_batch(self, ops: Any, ids: Any = ()) -> list[Any]:
        self.batches.append(len(ops))
        return super().run_batch(ops, ids)


async def test_writes_gather_until_a_read_comes(engine: Engine) -> None:
    """The writer lingers after a lone write (``linger``, here an hour) so the writes of
    other calls share its commit; a read cuts that short (otherwise ``get`` would run into
    its 30 s bound and raise) and comes back with everything queued before it."""
    log = CountedCallLog(make_sessionmaker(engine))
    log.batches = []
    calls = AsyncCallLog(log, linger=3600)
    try:
        for i in range(10):
            await calls.offered(f"gather-{i}", line="12345", caller=CALLER)
        rec = await calls.get("gather-9")
        assert rec is not None and rec.line == "12345"
        # By hand: the first write is taken and waits; the other 9 and the read queue up
        # behind it; the read wakes the writer, which takes all 11 in one batch.
        assert log.batches == [11]
    finally:
        await asyncio.to_thread(calls.close, 30)
    assert calls.unwritten == 0


async def test_close_does_not_wait_for_the_linger(engine: Engine) -> None:
    calls = AsyncCallLog(CallLog(make_sessionmaker(engine)), linger=3600)
    for i in range(3):
        await calls.offered(f"closing-{i}", line="12345", caller=CALLER)
    await asyncio.to_thread(calls.close, 30)
    assert calls.unwritten == 0
    fresh = CallLog(make_sessionmaker(engine))
    assert all(fresh.get(f"closing-{i}") is not None for i in range(3))
