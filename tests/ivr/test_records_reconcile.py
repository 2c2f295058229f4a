"""CDR reconciliation: one row that cannot be stored is quarantined, the rest go on
(issue 9, item 8), and the file offset lives in the database (item 9).

On the starting main (4b97079) on PostgreSQL, a CDR row whose ``line`` field is longer than
the ``call_records.line`` column (20) made the whole batch's commit fail
(StringDataRightTruncation); the offset, kept in Redis, only advanced after a commit, so
every later run read the same batch and failed again: the good rows after it were never
stored. The offset also lived in Redis, so reconciliation stopped whenever Redis did.
Here a real CDR file (the columns of asterisk_conf/cdr_custom.conf) holds an over-long row
and a truncated row followed by good ones, and no Redis exists at all.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from hotline_core.call_records import CallLog, Disposition, Route
from hotline_core.db import make_engine, make_sessionmaker
from hotline_core.migrate import upgrade
from ivr.reconcile import CdrReconciler
from testkit.postgres import fresh_database

LONG_LINE = "1234567890" * 4          # 40 characters; call_records.line holds 20
START, ANSWER, END = 1_764_000_000, 1_764_000_012, 1_764_000_100


def _row(uid: str, *, src: str = "13800138000", line: str = "12345",
         dstchannel: str = "", answer: int = 0, disposition: str = "NO ANSWER",
         route: str = "fallback") -> str:
    fields = [uid, uid, src, "s", "hotline-inbound", f"PJSIP/carrier-{uid[-4:]}", dstchannel,
              str(START), str(answer), str(END), disposition, line,
              f"/srv/hotline/main/recordings/20251124/{uid}.wav", route]
    return ",".join(f'"{f}"' for f in fields) + "\n"


@pytest.fixture(params=["sqlite", "postgresql"])
def call_log(request: pytest.FixtureRequest, tmp_path: Path) -> CallLog:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'hotline.db'}"
    else:
        url = fresh_database(request.getfixturevalue("postgres_server_url"))
    upgrade(url)
    return CallLog(make_sessionmaker(make_engine(url)))


async def test_an_over_long_row_is_quarantined_and_the_rows_after_it_are_merged(
    call_log: CallLog, tmp_path: Path,
) -> None:
    cdr = tmp_path / "hotline-cdr.csv"
    cdr.write_text(
        _row("1764000000.1", line=LONG_LINE)
        + '"1764000000.2","1764000000.2","139"\n'                       # cut short
        + _row("1764000000.3", dstchannel="PJSIP/1001-00000003", answer=ANSWER,
               disposition="ANSWERED")
        + _row("1764000000.4"))
    assert await CdrReconciler(cdr, call_log).run_once() == 2

    answered = call_log.get("1764000000.3")
    assert answered is not None
    assert (answered.line, answered.caller, answered.agent_id) == ("12345", "13800138000",
                                                                  "1001")
    assert answered.disposition == Disposition.ANSWERED.value
    assert answered.route == Route.FALLBACK.value and answered.reconciled
    assert answered.answered_at is not None
    assert answered.answered_at.replace(tzinfo=UTC) == datetime.fromtimestamp(ANSWER, UTC)
    abandoned = call_log.get("1764000000.4")
    assert abandoned is not None and abandoned.disposition == Disposition.ABANDONED.value
    assert call_log.get("1764000000.1") is None

    quarantined = call_log.quarantined()
    assert [(q.row.split(",")[0], q.reason) for q in quarantined] == [
        ('"1764000000.2"', "3 fields (expected 14)"),
        ('"1764000000.1"', "line has 40 characters (at most 20)"),
    ]
    assert all(q.cdr_file == str(cdr) and q.offset == 0 for q in quarantined)
    assert call_log.cdr_offset(str(cdr)) == cdr.stat().st_size

    # The core restarts (a new reconciler, nothing in memory): only the new row is read.
    cdr.write_text(cdr.read_text() + _row("1764000000.5"))
    assert await CdrReconciler(cdr, call_log).run_once() == 1
    assert call_log.get("1764000000.5") is not None
    assert len(call_log.quarantined()) == 2
    assert call_log.cdr_offset(str(cdr)) == cdr.stat().st_size


async def test_a_call_the_core_saw_is_completed_from_the_cdr(
    call_log: CallLog, tmp_path: Path,
) -> None:
    """The core recorded the call as offered, then lost it (Redis died, the fallback queue
    delivered it): the CDR row completes it."""
    call_log.offered("1764000000.7", line="12345", caller="13800138000",
                     at=datetime.fromtimestamp(START, UTC))
    cdr = tmp_path / "hotline-cdr.csv"
    cdr.write_text(_row("1764000000.7", dstchannel="PJSIP/1002-00000007", answer=ANSWER,
                        disposition="ANSWERED"))
    assert await CdrReconciler(cdr, call_log).run_once() >= 1
    rec = call_log.get("1764000000.7")
    assert rec is not None
    assert (rec.disposition, rec.agent_id, rec.route) == ("answered", "1002", "fallback")
    assert rec.ended_at is not None


async def test_a_row_postgresql_refuses_is_quarantined_and_the_others_merged(
    postgres_server_url: str, tmp_path: Path,
) -> None:
    """A NUL character fits every column size but PostgreSQL refuses it in text: the batch
    fails, each record is tried alone, the refused one is quarantined with the database's
    reason and the others are stored. (On the starting main the batch failed for good, as
    with an over-long row.)"""
    url = fresh_database(postgres_server_url)
    upgrade(url)
    call_log = CallLog(make_sessionmaker(make_engine(url)))
    cdr = tmp_path / "hotline-cdr.csv"
    cdr.write_text(_row("1764000000.8") + _row("1764000000.9").replace(".wav", "\x00.wav")
                   + _row("1764000000.10"))
    assert await CdrReconciler(cdr, call_log).run_once() == 2
    assert call_log.get("1764000000.8") is not None
    assert call_log.get("1764000000.10") is not None
    assert call_log.get("1764000000.9") is None
    [refused] = call_log.quarantined()
    assert refused.row.startswith('"1764000000.9"')
    assert refused.reason.startswith("refused by the database: ")
    assert call_log.cdr_offset(str(cdr)) == cdr.stat().st_size
