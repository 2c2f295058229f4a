"""The call-log writer thread's CPU per operation: old batch vs one-SELECT batch.

    .venv/bin/python bench/call_log_batch.py [--calls 3000] [--rate 150] [--hold 2]
                                             [--no-postgres]

Issue 14 item 3: at 150 FastAGI calls/s the core's call-log writer thread (``ivr/records.py``)
cost about 1.2 ms of CPU per call. Here the real ``AsyncCallLog`` writer applies a realistic
mix — per call ``offered``, ``answered`` for every third call ``hold``/2 seconds later,
``ended`` ``hold`` seconds after the offer — on a SQLite file (WAL, ``make_engine`` as the
core uses it) and, unless ``--no-postgres``, on a throw-away PostgreSQL server
(``testkit.postgres``), in two ways in one run:

- paced: calls offered at ``--rate`` per second, as the FastAGI flows would queue them (the
  writer wakes for whatever has queued up: small batches);
- drained: the same operations queued at once, then drained (batches of ``max_batch``).

"old" is main ab4115c's batch, copied below (:class:`OldCallLog`: ``Session.get`` per
operation with autoflush on: one SELECT and one flush each); "new" is
``hotline_core.call_records.CallLog``. Reported per operation: the writer thread's CPU
(``time.thread_time`` inside the thread, user + system), the SQL statements sent (an
``executemany`` counts 1) and the mean batch size; the ratio old/new of the CPU.

Bounded: calls ≤ 20 000, rate ≤ 1000/s, hold ≤ 10 s; a paced run lasts calls/rate + hold.
Files in a temporary directory, removed on exit; PostgreSQL stopped on exit; loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import Engine, event  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from hotline_core.backoff import is_transient  # noqa: E402
from hotline_core.call_records import CallLog, CallRecord  # noqa: E402
from ivr.records import LINGER, AsyncCallLog  # noqa: E402


class OldCallLog(CallLog):
    """The batch as main ab4115c ran it: every operation's ``Session.get`` is one SELECT,
    and with autoflush on it first flushes the operations before it (one statement each)."""

    def _record(self, s: Session, call_id: str) -> CallRecord | None:
        return s.get(CallRecord, call_id)

    def _added(self, s: Session, record: CallRecord) -> None:
        s.add(record)

    def run_batch(self, ops: Sequence[Callable[[], Any]],
                  ids: Any = ()) -> list[Any]:
        try:
            with self._sessions.begin() as s:
                self._batch.session = s
                try:
                    results = [op() for op in ops]
                finally:
                    self._batch.session = None
            return results
        except Exception as exc:
            if is_transient(exc):
                raise
        out: list[Any] = []
        for op in ops:
            try:
                out.append(op())
            except Exception as exc:
                if is_transient(exc):
                    raise
                out.append(exc)
        return out


class TimedWriter(AsyncCallLog):
    """The real writer, with its thread's CPU and its batch sizes recorded."""

    def __init__(self, call_log: CallLog, linger: float) -> None:
        self.cpu = 0.0
        self.batches = 0
        super().__init__(call_log, linger=linger)

    def _run(self) -> None:
        start = time.thread_time()
        try:
            super()._run()
        finally:
            self.cpu = time.thread_time() - start

    def _apply(self, batch: list[Any]) -> bool:
        self.batches += 1
        return super()._apply(batch)


@dataclass
class Result:
    ops: int
    cpu: float
    statements: int
    batches: int


def _plan(calls: int, rate: float, hold: float, run: str) -> list[tuple[float, str, str]]:
    """(second, operation, call id) in arrival order: offered, answered for every third
    call half-way, ended after ``hold``."""
    plan: list[tuple[float, str, str]] = []
    for i in range(calls):
        call_id, t = f"{run}-{i:06d}", i / rate
        plan.append((t, "offered", call_id))
        if i % 3 == 0:
            plan.append((t + hold / 2, "answered", call_id))
        plan.append((t + hold, "ended", call_id))
    plan.sort(key=lambda x: x[0])
    return plan


async def _issue(calls: AsyncCallLog, op: str, call_id: str) -> None:
    if op == "offered":
        await calls.offered(call_id, line="12345", caller="13800138000",
                            recording=f"/srv/hotline/main/recordings/{call_id}.wav")
    elif op == "answered":
        await calls.answered(call_id, "1001")
    else:
        await calls.ended(call_id, 16)


async def _drive(calls: AsyncCallLog, plan: list[tuple[float, str, str]], paced: bool) -> None:
    loop = asyncio.get_running_loop()
    start = loop.time()
    for at, op, call_id in plan:
        if paced and (delay := start + at - loop.time()) > 0:
            await asyncio.sleep(delay)
        await _issue(calls, op, call_id)
    assert await calls.get(plan[-1][2]) is not None     # everything before it is written


def measure(engine: Engine, old: bool, linger: float, plan: list[tuple[float, str, str]],
            paced: bool) -> Result:
    from hotline_core.db import make_sessionmaker

    log = (OldCallLog if old else CallLog)(make_sessionmaker(engine))
    sent = [0]
    writer_ident: list[int | None] = [None]

    def count(*_: Any) -> None:
        if threading.get_ident() == writer_ident[0]:
            sent[0] += 1

    writer = TimedWriter(log, linger)
    writer_ident[0] = writer._thread.ident
    event.listen(engine, "before_cursor_execute", count)
    try:
        asyncio.run(_drive(writer, plan, paced))
    finally:
        writer.close()
        event.remove(engine, "before_cursor_execute", count)
    return Result(len(plan) + 1, writer.cpu, sent[0], writer.batches)


# (label, old batch?, linger on?) — the old way is ab4115c's batch and writer (no linger).
WAYS = [("old (ab4115c: SELECT + flush per op, no linger)", True, False),
        ("one SELECT, no linger", False, False),
        ("new (one SELECT + linger)", False, True)]


def _engines(tmp: Path, postgres: str | None) -> list[tuple[str, str]]:
    from hotline_core.migrate import upgrade

    urls = [("SQLite file (WAL)", f"sqlite:///{tmp / 'hotline.db'}")]
    if postgres is not None:
        from testkit.postgres import fresh_database
        urls.append(("PostgreSQL", fresh_database(postgres)))
    for _, url in urls:
        upgrade(url)
    return urls


def run(args: argparse.Namespace, postgres: str | None) -> None:
    from hotline_core.db import make_engine

    with tempfile.TemporaryDirectory(prefix="hotline-bench-calllog-") as tmp:
        for name, url in _engines(Path(tmp), postgres):
            engine = make_engine(url)
            for paced in (True, False):
                mode = f"paced {args.rate:g} calls/s" if paced else "queued at once"
                per_op = {}
                for way, old, linger in WAYS:
                    if not paced and linger:
                        continue        # a full queue never lingers: same as the row above
                    plan = _plan(args.calls, args.rate, args.hold, f"{way[:7]}{paced}")
                    r = measure(engine, old, linger * args.linger, plan, paced)
                    per_op[way] = r.cpu / r.ops
                    if not paced and not old:
                        way = "new (one SELECT; a full queue does not linger)"
                    print(f"| {name} | {mode} | {way} | {r.cpu / r.ops * 1e6:.0f} | "
                          f"{r.cpu / args.calls * 1e3:.2f} | {r.statements / r.ops:.2f} | "
                          f"{r.ops / max(r.batches, 1):.1f} |", flush=True)
                old_cpu = per_op[WAYS[0][0]]
                ratios = ", ".join(f"{old_cpu / v:.2f}x ({w.split(' (')[0]})"
                                   for w, v in per_op.items() if w != WAYS[0][0])
                ratios = ratios if paced else ratios.replace("one SELECT, no linger", "new")
                print(f"| {name} | {mode} | **old/new CPU per op** | **{ratios}** | | | |",
                      flush=True)
            engine.dispose()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--calls", type=int, default=3000)
    p.add_argument("--rate", type=float, default=150.0)
    p.add_argument("--hold", type=float, default=2.0)
    p.add_argument("--linger", type=float, default=LINGER, help="seconds (the writer's)")
    p.add_argument("--no-postgres", action="store_true")
    args = p.parse_args(argv)
    if not (0 < args.calls <= 20_000 and 0 < args.rate <= 1000 and 0 <= args.hold <= 10
            and 0 <= args.linger <= 1):
        raise SystemExit("--calls 1..20000, --rate 0..1000, --hold 0..10, --linger 0..1")
    print(f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, load average {os.getloadavg()}")
    print(f"{args.calls} calls; per call offered + ended, answered for every third; "
          f"linger {args.linger:g} s")
    print("| database | arrival | way | writer CPU µs/op | writer CPU ms/call "
          "| statements/op | ops/batch |")
    print("|---|---|---|---|---|---|---|")
    if args.no_postgres:
        run(args, None)
    else:
        from testkit.postgres import postgres_server
        with postgres_server() as url:
            run(args, url)
    print(f"load average {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
