"""A 10 000-callback campaign in the dialer's store: time and database rows to schedule it
and to track every attempt, on SQLite (and PostgreSQL with ``--pg``).

    .venv/bin/python -m bench.campaign_scale [--targets 10000] [--pg]

What is timed is the code the engine runs (hotline_core/campaigns/store.py), without
Asterisk: enqueue every target (one transaction per 1 000, as a scheduling pass would),
the scheduler's look-ups with the whole campaign pending (``due``, ``in_flight``), then each
target's life: ``begin_attempt`` → ``mark_originating`` → ``mark_up`` → ``end_attempt``,
where 30 % do not answer the first time and are dialled again after the spacing (the clock
is moved on). Prints a Markdown table; the results are kept in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from hotline_core.campaigns.config import KindSettings
from hotline_core.campaigns.model import (
    AttemptOutcome,
    CampaignAttempt,
    CampaignKind,
    CampaignTarget,
)
from hotline_core.campaigns.store import CampaignStore, Destination, enqueue_in
from hotline_core.db import make_engine, make_sessionmaker
from hotline_core.migrate import upgrade

RULES = KindSettings(max_attempts=3, retry_spacing_seconds=1800)
START = datetime(2026, 11, 30, 1, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


@contextmanager
def database(pg: bool) -> Iterator[str]:
    if not pg:
        with tempfile.TemporaryDirectory() as d:
            yield f"sqlite:///{Path(d) / 'bench.db'}"
        return
    from testkit.postgres import fresh_database, postgres_server
    with postgres_server() as server:
        yield fresh_database(server)


def _ms(samples: list[float]) -> str:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return f"{statistics.median(ordered) * 1000:.2f} / {p99 * 1000:.2f}"


def _timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def run(url: str, n: int) -> dict[str, str]:
    upgrade(url)
    maker: sessionmaker[Session] = make_sessionmaker(make_engine(url))
    clock = Clock()
    store = CampaignStore(maker, clock=clock)
    kinds = [CampaignKind.SATISFACTION_CALLBACK]

    def enqueue_all() -> None:
        for start in range(0, n, 1000):
            with maker() as s, s.begin():
                for i in range(start, min(n, start + 1000)):
                    enqueue_in(s, CampaignKind.SATISFACTION_CALLBACK, "12345",
                               [Destination(f"138{i:08d}")], f"order:{i}:round:1",
                               order_id=i, now=clock())
    out: dict[str, str] = {"targets": str(n)}
    out["enqueue all (s)"] = f"{_timed(enqueue_all):.2f}"
    due_t = [_timed(lambda: store.due(clock(), 40, kinds)) for _ in range(50)]
    flight_t = [_timed(store.in_flight) for _ in range(50)]
    out["due(40), p50 / p99 ms"] = _ms(due_t)
    out["in_flight, p50 / p99 ms"] = _ms(flight_t)

    rng = random.Random(11)
    life: list[float] = []
    pending = [t.id for t in store.due(clock(), n, kinds)]
    t_track = time.perf_counter()
    for round_ in range(RULES.max_attempts):
        again = []
        for target_id in pending:
            t0 = time.perf_counter()
            info = store.begin_attempt(target_id, "13800000000", "citizen")
            assert info is not None
            store.mark_originating(info.id)
            answers = round_ > 0 or rng.random() >= 0.3
            if answers:
                store.mark_up(info.id)
            store.end_attempt(info.id, AttemptOutcome.COMPLETED if answers
                              else AttemptOutcome.NO_ANSWER, "", RULES)
            life.append(time.perf_counter() - t0)
            if not answers:
                again.append(target_id)
        if not again:
            break
        clock.now += timedelta(seconds=RULES.retry_spacing_seconds)
        pending = [t.id for t in store.due(clock(), n, kinds)]
        assert sorted(pending) == sorted(again)
    out["track every attempt (s)"] = f"{time.perf_counter() - t_track:.2f}"
    out["one attempt's 4 writes, p50 / p99 ms"] = _ms(life)
    with maker() as s:
        targets = s.scalar(select(func.count()).select_from(CampaignTarget)) or 0
        attempts = s.scalar(select(func.count()).select_from(CampaignAttempt)) or 0
    out["rows: targets + attempts"] = f"{targets} + {attempts}"
    if url.startswith("sqlite:///"):
        size = os.path.getsize(url.removeprefix("sqlite:///"))
        out["SQLite file (MB)"] = f"{size / 1e6:.1f}"
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--targets", type=int, default=10_000)
    parser.add_argument("--pg", action="store_true")
    args = parser.parse_args()
    rows = []
    for pg in ([False, True] if args.pg else [False]):
        with database(pg) as url:
            rows.append(("PostgreSQL" if pg else "SQLite", run(url, args.targets)))
    keys = list(rows[0][1])
    print("| measure | " + " | ".join(name for name, _ in rows) + " |")
    print("|---|" + "---|" * len(rows))
    for key in keys:
        print(f"| {key} | " + " | ".join(r.get(key, "-") for _, r in rows) + " |")


if __name__ == "__main__":
    main()
