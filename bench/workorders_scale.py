"""Work orders at scale: lights of all open orders, one month's metrics per unit, and
knowledge-base search, on SQLite and PostgreSQL, for growing numbers of orders.

    .venv/bin/python -m bench.workorders_scale --sizes 10000 100000 [--pg] [--out FILE]

Orders are bulk-inserted as projection rows (the columns the reads use), spread over
2026-01..2026-11 across 80 units, ~10 % still open. The schema comes from the migrations.
PostgreSQL is a throw-away cluster started like the tests do (testkit/postgres.py).
Prints a Markdown table; the results are kept in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert
from sqlalchemy.orm import Session, sessionmaker

from hotline_core.db import make_engine, make_sessionmaker
from hotline_core.migrate import upgrade
from hotline_core.workorders import knowledge
from hotline_core.workorders.model import Unit, UnitAssignment, WorkOrder
from hotline_core.workorders.presets import load_preset
from hotline_core.workorders.reports import unit_reports
from hotline_core.workorders.supervision import lights

UNITS = [f"unit-{i:02d}" for i in range(80)]
CATEGORY_DAYS = {"consult": 1, "help": 1, "suggestion": 3, "complaint": 7, "report": 7}
LEVELS = ["very_satisfied", "satisfied", "basically_satisfied", "unsatisfied", None]
NOW = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)  # 10:00 in Beijing
KB_QUERIES = ["社保怎么交", "家里停电了怎么办", "公积金提取材料", "孩子上学报名", "失业金申领",
              "网购质量投诉", "公交几点收班", "停水通知"]


def _rows(n: int, rng: random.Random, heavy_share: float = 0.0) -> Iterator[dict[str, object]]:
    """Orders with ids 1..n; ``heavy_share`` of them led by ``UNITS[0]`` (a unit holding
    many orders, for the unit portal's list), the rest spread over all units."""
    start = datetime(2026, 1, 4, 16, 0, tzinfo=UTC)
    span = (NOW - start).total_seconds()
    for i in range(n):
        received = start + timedelta(seconds=rng.random() * span)
        category = rng.choice(list(CATEGORY_DAYS))
        due = received + timedelta(days=CATEGORY_DAYS[category] * 1.4)
        is_open = rng.random() < 0.1 or received > NOW - timedelta(days=3)
        signed = received + timedelta(minutes=rng.choice((20, 40, 70)))
        replied = None if is_open else received + timedelta(hours=rng.randint(2, 200))
        level = None if is_open else rng.choice(LEVELS)
        closed = replied + timedelta(hours=3) if replied and level in LEVELS[:3] else None
        lead = UNITS[0] if rng.random() < heavy_share else rng.choice(UNITS)
        yield {
            "id": i + 1, "received_at": received, "channel": "phone", "line": "12345",
            "caller_number": f"138{i:08d}", "caller_name": "", "category": category,
            "description": "bench", "address": "", "locality": "", "matter": f"m{i % 500}",
            "confidential": False, "emergency": False, "priority": 0, "created_by": "bench",
            "status": ("handling" if is_open else "closed" if closed else "review"),
            "leader_instruction": False, "lead_unit": lead, "due_at": due,
            "handling_started_at": received, "dispatched_at": received,
            "sign_due_at": received + timedelta(hours=1), "signed_at": signed,
            "replied_at": replied, "closed_at": closed, "redo_count": 0, "evaluation": level,
            "grade": "A", "excluded_from_score": False, "event_count": 0,
            "late_replies": int(bool(replied and replied > due)), "late_returns": 0,
        }


def _insert(maker: sessionmaker[Session], batch: list[dict[str, object]]) -> None:
    # The lead's assignment row too: a unit's list reads wo_assignments (as the API does).
    with maker() as s, s.begin():
        s.execute(insert(WorkOrder), batch)
        s.execute(insert(UnitAssignment), [
            {"order_id": r["id"], "unit_code": r["lead_unit"], "role": "lead", "active": True}
            for r in batch])


def populate(maker: sessionmaker[Session], n: int, seed: int = 1,
             heavy_share: float = 0.0) -> float:
    rng = random.Random(seed)
    t0 = time.perf_counter()
    with maker() as s, s.begin():
        s.add_all(Unit(code=u, name=u, kind="department") for u in UNITS)
    batch: list[dict[str, object]] = []
    for row in _rows(n, rng, heavy_share):
        batch.append(row)
        if len(batch) == 20_000:
            _insert(maker, batch)
            batch = []
    if batch:
        _insert(maker, batch)
    kb_lines = (Path(__file__).resolve().parents[1] / "config" /
                "knowledge_base.sample.csv").read_text(encoding="utf-8").splitlines()[1:]
    with maker() as s, s.begin():
        for i in range(2000):  # a county-sized knowledge base: thousands of entries
            unit, question, answer, keywords, _public = kb_lines[i % len(kb_lines)].split(",")
            knowledge.save_entry(s, unit=None, question=f"{question}(第{i}条)",
                                 answer=answer, keywords=keywords, now=NOW)
    return time.perf_counter() - t0


def measure(maker: sessionmaker[Session]) -> dict[str, float]:
    preset = load_preset("gaotai")
    out: dict[str, float] = {}
    with maker() as s:
        t0 = time.perf_counter()
        count = sum(1 for _ in lights(s, preset, NOW))
        out["lights_s"] = time.perf_counter() - t0
        out["open_orders"] = count
        t0 = time.perf_counter()
        reports = unit_reports(s, preset, datetime(2026, 9, 30, 16, tzinfo=UTC),
                               datetime(2026, 10, 31, 16, tzinfo=UTC), NOW)
        out["month_metrics_s"] = time.perf_counter() - t0
        out["month_orders"] = sum(r.orders for r in reports)
        timings = []
        for _ in range(5):
            for q in KB_QUERIES:
                t0 = time.perf_counter()
                knowledge.search(s, q, limit=10)
                timings.append(time.perf_counter() - t0)
        out["kb_search_ms_p50"] = 1000 * statistics.median(timings)
    return out


@contextmanager
def database(backend: str, workdir: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{workdir / 'bench.db'}"
        return
    from testkit.postgres import fresh_database, postgres_server

    with postgres_server() as server:
        yield fresh_database(server)


def run(backend: str, n: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp, database(backend, Path(tmp)) as url:
        upgrade(url)
        engine = make_engine(url)
        maker = make_sessionmaker(engine)
        load_s = populate(maker, n)
        result = {"load_s": load_s, **measure(maker)}
        engine.dispose()
        return result


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--backends", nargs="+", default=["sqlite", "postgresql"])
    args = ap.parse_args()
    print("| backend | orders | load s | open orders | lights s | month orders | "
          "month metrics s | KB search p50 ms |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for backend in args.backends:
        for n in args.sizes:
            r = run(backend, n)
            print(f"| {backend} | {n:,} | {r['load_s']:.1f} | {int(r['open_orders']):,} | "
                  f"{r['lights_s']:.2f} | {int(r['month_orders']):,} | "
                  f"{r['month_metrics_s']:.2f} | {r['kb_search_ms_p50']:.2f} |", flush=True)


if __name__ == "__main__":
    main()
