"""The unit portal's list (承办单位工作台 ``/unit``) for a unit holding many orders: the
time of one page of :func:`hotline_core.workorders.portal.unit_orders` (count + 50 rows),
p50 and p99, unfiltered and with each filter, first and deep pages (keyset: a deep page
starts after the id the page before it ended with). The lights' stored instants are
computed first, as the core does at start-up.

    .venv/bin/python -m bench.unit_portal --orders 200000 --share 0.5 [--backends sqlite postgresql]

Orders come from :func:`bench.workorders_scale.populate` (projection rows and the lead's
assignment, ``share`` of them led by ``unit-00``); the schema from the migrations;
PostgreSQL is a throw-away cluster (testkit/postgres.py). Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from sqlalchemy import select

from bench.workorders_scale import NOW, UNITS, database, populate
from hotline_core.access import Principal, Role
from hotline_core.db import make_engine, make_sessionmaker
from hotline_core.migrate import upgrade
from hotline_core.workorders.lifecycle import Status
from hotline_core.workorders.lights import Light, ensure_light_instants
from hotline_core.workorders.model import UnitAssignment
from hotline_core.workorders.portal import PAGE_SIZE, Cursor, UnitFilter, unit_orders
from hotline_core.workorders.presets import load_preset

# name → (filter, page number: 1 the newest, n the page after the cursor that ends page n − 1)
CASES: dict[str, tuple[UnitFilter, int]] = {
    "all, page 1": (UnitFilter(), 1),
    "all, page 1000": (UnitFilter(), 1000),
    "status handling": (UnitFilter(status=Status.HANDLING), 1),
    "light red": (UnitFilter(light=Light.RED), 1),
    "light yellow": (UnitFilter(light=Light.YELLOW), 1),
}
REPEATS = 30


def run(backend: str, n: int, share: float) -> tuple[int, dict[str, tuple[float, float]]]:
    preset = load_preset("gaotai")
    who = Principal(name="bench", role=Role.UNIT, unit=UNITS[0])
    with tempfile.TemporaryDirectory() as tmp, database(backend, Path(tmp)) as url:
        upgrade(url)
        engine = make_engine(url)
        maker = make_sessionmaker(engine)
        populate(maker, n, heavy_share=share)
        ensure_light_instants(maker, preset, NOW)   # as the core does at start-up
        out: dict[str, tuple[float, float]] = {}
        with maker() as s:
            ids = list(s.scalars(select(UnitAssignment.order_id)
                                 .where(UnitAssignment.unit_code == UNITS[0])
                                 .order_by(UnitAssignment.order_id.desc())))
            held = len(ids)
            for name, (filt, page) in CASES.items():
                # Unfiltered deep page: the cursor the page before it ends with.
                cursor = (Cursor(ids[min(len(ids), (page - 1) * PAGE_SIZE) - 1])
                          if page > 1 else None)
                timings = []
                for _ in range(REPEATS):
                    t0 = time.perf_counter()
                    unit_orders(s, who, preset, NOW, filt, PAGE_SIZE, cursor)
                    timings.append(1000 * (time.perf_counter() - t0))
                timings.sort()
                out[name] = (statistics.median(timings),
                             timings[min(len(timings) - 1, int(0.99 * len(timings)))])
        engine.dispose()
        return held, out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--orders", type=int, default=200_000)
    ap.add_argument("--share", type=float, default=0.5)
    ap.add_argument("--backends", nargs="+", default=["sqlite", "postgresql"])
    args = ap.parse_args()
    print("| backend | orders | unit's orders | list | p50 ms | p99 ms |")
    print("|---|---:|---:|---|---:|---:|")
    for backend in args.backends:
        held, out = run(backend, args.orders, args.share)
        for name, (p50, p99) in out.items():
            print(f"| {backend} | {args.orders:,} | {held:,} | {name} | {p50:.1f} | {p99:.1f} |",
                  flush=True)


if __name__ == "__main__":
    main()
