"""CPU and latency of the per-call overdue-order lookup (超期工单): the old way against the
new, on one store, in one run (issue 14 item 3).

    .venv/bin/python bench/overdue_lookup.py [--orders 100000] [--rate 150] [--seconds 10]
                                             [--burst 200] [--bursts 5] [--no-postgres]

The old way (a copy of the class as it was before, kept here as the baseline): per caller a
fresh ORM Session, a ``select`` built per call with two expanding IN lists, one
``asyncio.to_thread`` per caller. The new way: :class:`OverdueOrders` (one fixed Core
statement, callers coalesced into one query per thread hop).

Store: SQLite as the core makes it (``make_engine``: file, WAL), migrated with Alembic,
seeded with ``--orders`` orders from a pool of numbers (a tenth open -- dispatched, handling,
redo -- half of those overdue; a few kept in the ``+86`` form); then, unless
``--no-postgres``, the same on a throw-away PostgreSQL (``testkit.postgres``). Callers: half
from the pool (some with an overdue order), half unknown; every caller's answer from the
new way is checked against the old way's.

Per store and way:
1. Steady: lookups started at ``--rate`` per second for ``--seconds`` seconds, each its own
   task (as each call is), not waiting for the previous; once with the event loop otherwise
   idle, once with ``--loop-busy-ms`` of other loop CPU per call (the core's event loop
   spends about 2 ms per call at 150 calls/s), which holds the GIL as the core's does.
2. Burst: ``--burst`` lookups started at once, ``--bursts`` times.
CPU per lookup: process CPU (``time.process_time``, all threads) over the phase divided by
the lookups, net of the same phase with a lookup that does nothing (the harness's own
cost), and split into the event-loop thread (``time.thread_time`` in the loop) and the
other threads (the worker threads). Latency: call to answer (``time.perf_counter``).
Queries: statements the engine sent (``before_cursor_execute``). The event loop is uvloop,
as in the core. Bounded: at most 1 000 000 orders, 1 000 lookups/s, 60 s per phase,
1 000 per burst, 20 bursts; every lookup has the class's 1 s timeout.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import uvloop
from sqlalchemy import Engine, event, insert, select, text
from sqlalchemy.orm import Session, sessionmaker

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from hotline_core.acd.caller_flags import OverdueOrders  # noqa: E402
from hotline_core.db import make_engine, make_sessionmaker  # noqa: E402
from hotline_core.migrate import upgrade  # noqa: E402
from hotline_core.phone_numbers import UNKNOWN, canonical_number  # noqa: E402
from hotline_core.workorders.desk import working_statuses  # noqa: E402
from hotline_core.workorders.model import WorkOrder  # noqa: E402
from testkit.desk_bench import percentile  # noqa: E402

NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
POOL = 50_000            # distinct caller numbers the orders come from
Lookup = Callable[[str], Awaitable[bool]]


class OldOverdueOrders:
    """The lookup as it was before issue 14 item 3 (hotline_core/acd/caller_flags.py at
    ab4115c), kept verbatim as the baseline."""

    def __init__(self, sessions: sessionmaker[Session], now: Callable[[], datetime],
                 timeout: float = 1.0) -> None:
        self._sessions = sessions
        self._now = now
        self._timeout = timeout

    async def __call__(self, caller: str) -> bool:
        number = canonical_number(caller)
        if number == UNKNOWN:
            return False
        forms = {number, caller.strip()}
        if number.isdigit():
            forms.add(f"+86{number.lstrip('0')}")
        async with asyncio.timeout(self._timeout):
            return await asyncio.to_thread(self._lookup, sorted(forms))

    def _lookup(self, forms: list[str]) -> bool:
        with self._sessions() as session:
            found = session.execute(
                select(WorkOrder.id).where(WorkOrder.caller_number.in_(forms),
                                           WorkOrder.status.in_(working_statuses()),
                                           WorkOrder.due_at <= self._now()).limit(1)
            ).first()
        return found is not None


async def nothing(_caller: str) -> bool:
    """The harness alone: a lookup that does no work."""
    return False


def pool_number(i: int) -> str:
    return f"138{i:08d}"


def seed(engine: Engine, orders: int, rng: random.Random) -> None:
    working = sorted(working_statuses())
    rows: list[dict[str, Any]] = []
    for i in range(orders):
        number = pool_number(rng.randrange(POOL))
        if rng.random() < 0.05:
            number = f"+86{number}"
        open_order = rng.random() < 0.1
        overdue = rng.random() < 0.5
        rows.append({
            "received_at": NOW - timedelta(days=rng.randrange(1, 400)), "channel": "phone",
            "caller_number": number, "category": "complaint", "description": "路灯不亮",
            "status": rng.choice(working) if open_order else "closed",
            "due_at": NOW + (-1 if overdue else 1) * timedelta(hours=rng.randrange(1, 240)),
        })
        if len(rows) == 10_000 or i == orders - 1:
            with engine.begin() as conn:
                conn.execute(insert(WorkOrder), rows)
            rows = []
    with engine.begin() as conn:
        conn.execute(text("ANALYZE"))


def callers(count: int, rng: random.Random) -> list[str]:
    """Half from the orders' pool (sent canonical, +86 or 0086), half never seen."""
    out = []
    for _ in range(count):
        if rng.random() < 0.5:
            number = pool_number(rng.randrange(POOL))
            out.append(rng.choice([number, f"+86{number}", f"0086{number}"]))
        else:
            out.append(f"139{rng.randrange(10**8):08d}")
    return out


@dataclass
class Phase:
    lookups: int
    process_cpu: float
    loop_cpu: float
    latencies: list[float]
    queries: int
    failures: int


class StatementCount:
    def __init__(self, engine: Engine) -> None:
        self.count = 0
        self._lock = threading.Lock()
        event.listen(engine, "before_cursor_execute", self._sent)

    def _sent(self, *_: Any) -> None:
        with self._lock:
            self.count += 1


async def _timed(lookup: Lookup, caller: str, latencies: list[float],
                 answers: dict[str, bool], failures: list[str]) -> None:
    started = time.perf_counter()
    try:
        answers[caller] = await lookup(caller)
    except Exception:  # a timeout or a store error: counted, as CallerPriority would log it
        failures.append(caller)
        return
    latencies.append(time.perf_counter() - started)


def burn(seconds: float) -> None:
    """Event-loop work of the rest of a call (the flow, AGI, Redis): CPU, holding the GIL."""
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


async def run_phase(lookup: Lookup, numbers: list[str], rate: float | None, bursts: int,
                    counter: StatementCount, answers: dict[str, bool],
                    busy: float = 0.0) -> Phase:
    """Steady (``rate``) or in ``bursts`` equal bursts, one task per lookup; ``busy``
    seconds of other loop work per call (steady only)."""
    loop = asyncio.get_running_loop()
    latencies: list[float] = []
    failures: list[str] = []
    before_queries = counter.count
    cpu0, loop0 = time.process_time(), time.thread_time()
    tasks: list[asyncio.Task[None]] = []
    if rate is not None:
        start = time.perf_counter()
        for i, caller in enumerate(numbers):
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(_timed(lookup, caller, latencies, answers,
                                                    failures)))
            if busy:
                loop.call_soon(burn, busy)
        await asyncio.gather(*tasks)
    else:
        size = len(numbers) // bursts
        for b in range(bursts):
            await asyncio.gather(*(_timed(lookup, c, latencies, answers, failures)
                                   for c in numbers[b * size:(b + 1) * size]))
    return Phase(len(numbers), time.process_time() - cpu0, time.thread_time() - loop0,
                 latencies, counter.count - before_queries, len(failures))


@contextmanager
def sqlite_store(orders: int, rng: random.Random) -> Iterator[Engine]:
    with tempfile.TemporaryDirectory(prefix="hotline-bench-overdue-") as tmp:
        url = f"sqlite:///{tmp}/orders.db"
        upgrade(url)
        engine = make_engine(url)
        seed(engine, orders, rng)
        try:
            yield engine
        finally:
            engine.dispose()


@contextmanager
def postgres_store(orders: int, rng: random.Random) -> Iterator[Engine]:
    from testkit.postgres import fresh_database, postgres_server

    with postgres_server() as server:
        url = fresh_database(server)
        upgrade(url)
        engine = make_engine(url)
        seed(engine, orders, rng)
        try:
            yield engine
        finally:
            engine.dispose()


def _ms(seconds: list[float], p: float) -> str:
    return f"{percentile(seconds, p) * 1000:7.2f}" if seconds else "      -"


def report(name: str, phases: dict[str, Phase], harness: Phase) -> None:
    """Per way: CPU per lookup net of the harness (all threads, the loop's share, the other
    threads'), latency, queries; then the old/new ratios."""
    def per(value: float, p: Phase) -> float:
        return value / p.lookups * 1000

    net = {k: per(p.process_cpu, p) - per(harness.process_cpu, harness)
           for k, p in phases.items()}
    print(f"  {name}")
    print("    way   CPU ms/lookup: all  loop  other threads   p50 ms   p99 ms  queries"
          "  lookups/query  failed")
    for way, p in phases.items():
        loop = per(p.loop_cpu, p) - per(harness.loop_cpu, harness)
        print(f"    {way:4}               {net[way]:5.3f} {loop:5.3f}  {per(p.process_cpu - p.loop_cpu, p):5.3f}"  # noqa: E501
              f"        {_ms(p.latencies, 50)}  {_ms(p.latencies, 99)}  {p.queries:7d}"
              f"  {p.lookups / max(p.queries, 1):13.2f}  {p.failures:6d}")
    old, new = phases["old"].latencies, phases["new"].latencies
    if net["new"] > 0 and old and new:
        print(f"    old/new: CPU per lookup {net['old'] / net['new']:.2f}x, "
              f"p50 {percentile(old, 50) / percentile(new, 50):.2f}x, "
              f"p99 {percentile(old, 99) / percentile(new, 99):.2f}x")


async def bench_store(label: str, engine: Engine, args: argparse.Namespace,
                      rng: random.Random) -> None:
    old = OldOverdueOrders(make_sessionmaker(engine), lambda: NOW)
    new = OverdueOrders(engine, lambda: NOW)
    counter = StatementCount(engine)
    steady = callers(int(args.rate * args.seconds), rng)
    burst = callers(args.burst * args.bursts, rng)
    # warm both (pool connections, compiled cache, lru caches of the numbers' forms)
    warm = callers(50, rng)
    for caller in warm:
        await old(caller)
        await new(caller)
    answers: dict[str, dict[str, bool]] = {"old": {}, "new": {}, "none": {}}
    ways: dict[str, Lookup] = {"old": old, "new": new}
    print(f"\n{label}: steady {args.rate:g} lookups/s for {args.seconds:g} s "
          f"({len(steady)} lookups)")
    harness = await run_phase(nothing, steady, args.rate, 1, counter, answers["none"])
    report("steady, idle loop", {way: await run_phase(lookup, steady, args.rate, 1, counter,
                                                      answers[way])
                                 for way, lookup in ways.items()}, harness)
    busy = args.loop_busy_ms / 1000
    harness = await run_phase(nothing, steady, args.rate, 1, counter, answers["none"], busy)
    report(f"steady, loop busy {args.loop_busy_ms:g} ms per call (as the core's)",
           {way: await run_phase(lookup, steady, args.rate, 1, counter, answers[way], busy)
            for way, lookup in ways.items()}, harness)
    print(f"{label}: {args.bursts} bursts of {args.burst} lookups at once")
    harness = await run_phase(nothing, burst, None, args.bursts, counter, answers["none"])
    report("burst", {way: await run_phase(lookup, burst, None, args.bursts, counter,
                                          answers[way]) for way, lookup in ways.items()},
           harness)
    both = answers["old"].keys() & answers["new"].keys()
    differ = [c for c in both if answers["old"][c] != answers["new"][c]]
    overdue = sum(answers["new"][c] for c in both)
    print(f"  answers compared: {len(both)} callers, {overdue} with an overdue order, "
          f"{len(differ)} differ{': ' + ', '.join(differ[:5]) if differ else ''}")
    if differ:
        raise SystemExit("the new lookup answers differently from the old one")


def _bounded(args: argparse.Namespace) -> None:
    if not (1 <= args.orders <= 1_000_000 and 1 <= args.rate <= 1000
            and 1 <= args.seconds <= 60 and 1 <= args.burst <= 1000 and 1 <= args.bursts <= 20
            and 0 <= args.loop_busy_ms * args.rate < 800):
        raise SystemExit("out of bounds: orders <= 1e6, rate <= 1000/s, seconds <= 60, "
                         "burst <= 1000, bursts <= 20, loop busy < 80 % of a core")


async def main_async(args: argparse.Namespace) -> None:
    rng = random.Random(args.seed)
    started = time.perf_counter()
    with sqlite_store(args.orders, rng) as engine:
        print(f"SQLite (WAL) seeded with {args.orders} orders in "
              f"{time.perf_counter() - started:.1f} s")
        await bench_store("SQLite", engine, args, rng)
    if args.no_postgres:
        return
    started = time.perf_counter()
    with postgres_store(args.orders, rng) as engine:
        print(f"\nPostgreSQL started and seeded with {args.orders} orders in "
              f"{time.perf_counter() - started:.1f} s")
        await bench_store("PostgreSQL", engine, args, rng)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--rate", type=float, default=150.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--burst", type=int, default=200)
    parser.add_argument("--bursts", type=int, default=5)
    parser.add_argument("--loop-busy-ms", type=float, default=2.0,
                        help="other event-loop CPU per call in the second steady phase")
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    _bounded(args)
    uvloop.run(main_async(args))


if __name__ == "__main__":
    main()
