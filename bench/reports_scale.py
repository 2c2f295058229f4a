"""Reports and lists with 1 M stored orders on PostgreSQL (issue 13, Performance):

- the month report: ``GET /api/metrics/units?period=month`` (what the reports page loads
  for its chart and table) and its CSV, over HTTP through the real route stack;
- the unit portal's list (``portal.unit_orders``: count, page, rows) for a unit holding
  100 k orders, pages by cursor against the same pages by OFFSET (the old query, kept
  here as the baseline); and ``GET /api/workorders?limit=50&offset=…`` with the unit's
  token over HTTP (the platform's list, still offset-paged);
- lights of all open orders: the yellow instants computed (what start-up does on a new
  light rule); per row in Python and as a per-row SQL CASE (the old ways, baselines);
  streamed (``supervision.lights``) and counted per unit (``lights.light_counts``) on
  the stored instants — whose counts are checked equal to the CASE's on the whole data.

    .venv/bin/python -m bench.reports_scale [--orders 1000000] [--heavy-share 0.1]

The data (bounded: ``--orders`` rows, 80 units, the first unit leading ``--heavy-share``
of them, ~10 % open) have the shape of ``bench.workorders_scale``'s loader but are
generated inside PostgreSQL (:func:`sql_populate`, one INSERT … SELECT over
generate_series): that loader's Python inserts ran at ~130 rows/s on the shared, loaded
build machine, hours for 1 M rows. ``--python-load`` uses ``workorders_scale.populate``
instead. A throw-away PostgreSQL cluster (testkit/postgres.py). Prints a Markdown table
for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session, selectinload, sessionmaker

from bench.workorders_scale import NOW, UNITS, populate
from hotline_core.access import Principal, Role, policy_from_mapping
from hotline_core.db import make_engine, make_sessionmaker
from hotline_core.migrate import upgrade
from hotline_core.workorders.calendar import ChineseWorkingCalendar
from hotline_core.workorders.desk import DeskSettings, working_statuses
from hotline_core.workorders.lights import (
    _computed_counts,
    ensure_light_instants,
    light_counts,
    light_for,
)
from hotline_core.workorders.model import Unit, UnitAssignment, WorkOrder
from hotline_core.workorders.portal import PAGE_SIZE, Cursor, UnitFilter, unit_orders
from hotline_core.workorders.presets import Preset, load_preset
from hotline_core.workorders.supervision import lights
from web.app import create_app
from web.keys import WORKORDERS, WorkOrderServices, provide
from web.metrics import routes as metrics_routes
from web.workorders import routes as workorder_routes

HEAVY = UNITS[0]
TOKENS = {"sup": "bench-supervisor", HEAVY: "bench-unit"}


# The same distribution as workorders_scale._rows, drawn by the database: received uniform
# over 2026-01-05..NOW (UTC-naive, as the columns store it), category → due after 1.4 ×
# its days, open with p 0.1 or when received in the last 3 days, sign-off after 20/40/70
# min, reply 2..200 h later, level one of 3 satisfied / unsatisfied / none (closed when
# satisfied), the heavy unit with p = heavy share, else one of the 80.
_SQL_ORDERS = """
INSERT INTO work_orders (id, received_at, channel, line, department, caller_number,
  caller_name, category, description, address, locality, matter, confidential,
  publish_consent, emergency, priority, created_by, status, leader_instruction, lead_unit,
  due_at, handling_started_at, dispatched_at, sign_due_at, signed_at, replied_at,
  closed_at, redo_count, evaluation, grade, excluded_from_score, event_count,
  late_replies, late_returns)
WITH base AS (
  SELECT i, TIMESTAMP '2026-01-04 16:00' + random() * (:now - TIMESTAMP '2026-01-04 16:00')
           AS received,
         floor(random() * 5)::int AS cat, random() AS r_open,
         (ARRAY[20, 40, 70])[1 + floor(random() * 3)::int] AS sign_min,
         2 + floor(random() * 199)::int AS reply_h, floor(random() * 5)::int AS lvl,
         random() AS r_heavy, floor(random() * 80)::int AS u
  FROM generate_series(1, :n) AS i),
shaped AS (
  SELECT *, (r_open < 0.1 OR received > :now - INTERVAL '3 days') AS is_open,
         received + (ARRAY[1, 1, 3, 7, 7])[cat + 1] * INTERVAL '1 day' * 1.4 AS due
  FROM base)
SELECT i, received, 'phone', '12345', '', '138' || lpad(i::text, 8, '0'), '',
  (ARRAY['consult', 'help', 'suggestion', 'complaint', 'report'])[cat + 1], 'bench', '',
  '', 'm' || (i % 500), false, false, false, 0, 'bench',
  CASE WHEN is_open THEN 'handling' WHEN lvl < 3 THEN 'closed' ELSE 'review' END, false,
  CASE WHEN r_heavy < :heavy THEN 'unit-00' ELSE 'unit-' || lpad(u::text, 2, '0') END,
  due, received, received, received + INTERVAL '1 hour',
  received + sign_min * INTERVAL '1 minute',
  CASE WHEN is_open THEN NULL ELSE received + reply_h * INTERVAL '1 hour' END,
  CASE WHEN NOT is_open AND lvl < 3 THEN received + (reply_h + 3) * INTERVAL '1 hour' END,
  0, CASE WHEN is_open OR lvl = 4 THEN NULL ELSE (ARRAY['very_satisfied', 'satisfied',
       'basically_satisfied', 'unsatisfied'])[lvl + 1] END,
  'A', false, 0,
  CASE WHEN NOT is_open AND received + reply_h * INTERVAL '1 hour' > due THEN 1 ELSE 0 END, 0
FROM shaped
"""


def sql_populate(engine: Engine, maker: sessionmaker[Session], n: int,
                 heavy_share: float) -> float:
    """``n`` orders (and their lead assignments) generated by PostgreSQL itself."""
    t0 = time.perf_counter()
    with maker() as s, s.begin():
        s.add_all(Unit(code=u, name=u, kind="department") for u in UNITS)
    with engine.begin() as conn:
        conn.execute(text(_SQL_ORDERS), {"n": n, "heavy": heavy_share,
                                         "now": NOW.replace(tzinfo=None)})
        conn.execute(text("INSERT INTO wo_assignments (order_id, unit_code, role, active) "
                          "SELECT id, lead_unit, 'lead', true FROM work_orders"))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("ANALYZE"))
    return time.perf_counter() - t0


def _python_lights(s: Session, preset: Preset) -> int:
    """The old way: every open order's instants to Python, ``light_for`` per row."""
    stmt = (select(WorkOrder.received_at, WorkOrder.handling_started_at, WorkOrder.due_at)
            .where(WorkOrder.status.in_(working_statuses()), WorkOrder.due_at.is_not(None))
            .execution_options(yield_per=5000))
    n = 0
    for received, started, due in s.execute(stmt):
        light_for(preset, NOW, started or received, due or NOW)
        n += 1
    return n


def _timed(fn: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


async def _http_timed(call: Callable[[], Awaitable[Any]], runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        await call()
        times.append(time.perf_counter() - t0)
    return times


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _http(maker: sessionmaker[Session], preset: Preset, heavy_orders: int,
                pages: int) -> dict[str, float]:
    access = policy_from_mapping({"tokens": [
        {"name": "sup", "role": "supervisor", "token": TOKENS["sup"]},
        {"name": HEAVY, "role": "unit", "unit": HEAVY, "token": TOKENS[HEAVY]}]})
    desk = DeskSettings(preset=preset, calendar=ChineseWorkingCalendar(), clock=lambda: NOW)
    app = create_app(maker, route_modules=(metrics_routes.register, workorder_routes.register),
                     services=[provide(WORKORDERS, WorkOrderServices(desk=desk, access=access))])
    out: dict[str, float] = {}
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        sup = {"Authorization": f"Bearer {TOKENS['sup']}"}
        unit = {"Authorization": f"Bearer {TOKENS[HEAVY]}"}

        async def month(path: str) -> None:
            resp = await client.get(path, headers=sup)
            assert resp.status == 200, await resp.text()
            await resp.read()

        query = "period=month&start=2026-10-01"
        out["month_json_s"] = max(await _http_timed(
            lambda: month(f"/api/metrics/units?{query}"), 3))
        out["month_csv_s"] = max(await _http_timed(
            lambda: month(f"/api/metrics/units.csv?{query}"), 3))
        rng = random.Random(7)
        # As the portal pages: mostly the first pages, some deep ones (uniform offsets).
        first_pages = min(20, heavy_orders // 50)
        offsets = [50 * rng.randrange(0, first_pages) for _ in range(pages // 2)] + [
            50 * rng.randrange(0, heavy_orders // 50) for _ in range(pages - pages // 2)]

        async def page(offset: int) -> None:
            resp = await client.get(f"/api/workorders?limit=50&offset={offset}", headers=unit)
            body = await resp.json()
            assert resp.status == 200 and len(body["orders"]) > 0, (offset, body)

        first: list[float] = []
        deep: list[float] = []
        for i, offset in enumerate(offsets):
            t0 = time.perf_counter()
            await page(offset)
            (first if i < pages // 2 else deep).append(time.perf_counter() - t0)
        every = first + deep
        out.update(list_p50_ms=1000 * _pct(every, 0.5), list_p99_ms=1000 * _pct(every, 0.99),
                   first_pages_p99_ms=1000 * _pct(first, 0.99),
                   deep_pages_p99_ms=1000 * _pct(deep, 0.99))
    return out


def _offset_page(s: Session, unit: str, offset: int) -> int:
    """The portal's list as it paged before keyset paging (count + OFFSET page through the
    assignments' IN-subquery, newest first): the baseline of the same run."""
    mine = select(UnitAssignment.order_id).where(UnitAssignment.unit_code == unit)
    s.scalar(select(func.count()).select_from(UnitAssignment)
             .where(UnitAssignment.unit_code == unit))
    rows = s.scalars(select(WorkOrder).where(WorkOrder.id.in_(mine))
                     .order_by(WorkOrder.id.desc()).limit(PAGE_SIZE).offset(offset)
                     .options(selectinload(WorkOrder.assignments))).all()
    return len(rows)


def _portal(s: Session, preset: Preset, pages: int) -> dict[str, float]:
    """The unit portal's list (``portal.unit_orders``: count, one page, its rows' lights
    and flags) for the heavy unit: keyset pages vs the same pages by OFFSET, ms."""
    who = Principal(name="bench", role=Role.UNIT, unit=HEAVY)
    ids = list(s.scalars(select(UnitAssignment.order_id).where(UnitAssignment.unit_code == HEAVY)
                         .order_by(UnitAssignment.order_id.desc())))
    rng = random.Random(11)
    first_pages = min(20, len(ids) // PAGE_SIZE)
    numbers = [rng.randrange(0, first_pages) for _ in range(pages // 2)] + [
        rng.randrange(0, len(ids) // PAGE_SIZE) for _ in range(pages - pages // 2)]
    keyset: list[float] = []
    offset: list[float] = []
    for k in numbers:
        cursor = Cursor(ids[k * PAGE_SIZE - 1]) if k else None
        t0 = time.perf_counter()
        page = unit_orders(s, who, preset, NOW, UnitFilter(), PAGE_SIZE, cursor)
        keyset.append(1000 * (time.perf_counter() - t0))
        t0 = time.perf_counter()
        n = _offset_page(s, HEAVY, k * PAGE_SIZE)
        offset.append(1000 * (time.perf_counter() - t0))
        assert n == len(page.rows) == PAGE_SIZE, (k, n, len(page.rows))
    deep = slice(pages // 2, None)
    return {"portal_keyset_p50_ms": _pct(keyset, 0.5), "portal_keyset_p99_ms": _pct(keyset, 0.99),
            "portal_keyset_deep_p99_ms": _pct(keyset[deep], 0.99),
            "portal_offset_p50_ms": _pct(offset, 0.5), "portal_offset_p99_ms": _pct(offset, 0.99),
            "portal_offset_deep_p99_ms": _pct(offset[deep], 0.99)}


def run(orders: int, heavy_share: float, pages: int,
        python_load: bool = False) -> dict[str, float]:
    from testkit.postgres import fresh_database, postgres_server

    preset = load_preset("gaotai")
    with postgres_server() as server:
        url = fresh_database(server)
        upgrade(url)
        engine = make_engine(url)
        maker = make_sessionmaker(engine)
        result: dict[str, float] = {"load_s": (
            populate(maker, orders, heavy_share=heavy_share) if python_load
            else sql_populate(engine, maker, orders, heavy_share))}
        # The open orders' yellow instants, as the core computes them at start-up when the
        # preset's light rule is new; then VACUUM (as autovacuum would after such a write)
        # so that the index-only scans need not visit the table.
        t0 = time.perf_counter()
        recomputed = ensure_light_instants(maker, preset, NOW)
        result["instants_s"] = time.perf_counter() - t0
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE work_orders"))
        with maker() as s:
            s.execute(func.now().select())  # warm the connection
            result["heavy_orders"] = s.scalar(select(func.count()).select_from(
                UnitAssignment).where(UnitAssignment.unit_code == HEAVY)) or 0
            result["open_orders"] = _python_lights(s, preset)
            assert recomputed == result["open_orders"], (recomputed, result["open_orders"])
            # The same answers both ways, on the whole million.
            assert light_counts(s, preset, NOW) == _computed_counts(s, preset, NOW, None)
            result["lights_python_s"] = _timed(lambda: _python_lights(s, preset), 3)
            result["lights_case_counts_s"] = _timed(
                lambda: _computed_counts(s, preset, NOW, None), 5)
            result["lights_sql_rows_s"] = _timed(
                lambda: sum(1 for _ in lights(s, preset, NOW)), 3)
            result["lights_sql_counts_s"] = _timed(lambda: light_counts(s, preset, NOW), 5)
            result.update(_portal(s, preset, pages))
        result.update(asyncio.run(_http(maker, preset, int(result["heavy_orders"]), pages)))
        engine.dispose()
    return result


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--orders", type=int, default=1_000_000)
    ap.add_argument("--heavy-share", type=float, default=0.1)
    ap.add_argument("--pages", type=int, default=200)
    ap.add_argument("--python-load", action="store_true")
    args = ap.parse_args()
    started = datetime.now(UTC)
    r = run(args.orders, args.heavy_share, args.pages, args.python_load)
    print(f"started {started:%Y-%m-%d %H:%M} UTC; orders {args.orders:,}, load "
          f"{r['load_s']:.0f} s, open {int(r['open_orders']):,}, heavy unit "
          f"{int(r['heavy_orders']):,} orders")
    print("| measure | value |")
    print("|---|---:|")
    for key, label in (
            ("month_json_s", "month report JSON (max of 3), s"),
            ("month_csv_s", "month report CSV (max of 3), s"),
            ("portal_offset_p50_ms", "unit portal list by OFFSET (old), p50, ms"),
            ("portal_offset_p99_ms", "unit portal list by OFFSET (old), p99, ms"),
            ("portal_offset_deep_p99_ms", "unit portal list by OFFSET (old), any page p99, ms"),
            ("portal_keyset_p50_ms", "unit portal list by cursor, p50, ms"),
            ("portal_keyset_p99_ms", "unit portal list by cursor, p99, ms"),
            ("portal_keyset_deep_p99_ms", "unit portal list by cursor, any page p99, ms"),
            ("list_p50_ms", "/api/workorders as the unit (offset), p50, ms"),
            ("list_p99_ms", "/api/workorders as the unit (offset), p99, ms"),
            ("first_pages_p99_ms", "/api/workorders, first 20 pages p99, ms"),
            ("deep_pages_p99_ms", "/api/workorders, any page p99, ms"),
            ("instants_s", "yellow instants of all open orders computed (start-up), s"),
            ("lights_python_s", "lights of all open orders, Python per row (old), s"),
            ("lights_case_counts_s", "lights counted, SQL CASE per row GROUP BY unit (old), s"),
            ("lights_sql_rows_s", "lights of all open orders, stored instants, rows streamed, s"),
            ("lights_sql_counts_s", "lights counted per unit, stored instants, s")):
        print(f"| {label} | {r[key]:.3f} |")


if __name__ == "__main__":
    main()
