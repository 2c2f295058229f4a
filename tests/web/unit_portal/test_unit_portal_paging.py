"""The unit portal's list pages by cursor (keyset paging, ``?after=<id>`` / ``?before=<id>``)
on the composed app (migrated SQLite, gaotai, clock 2026-06-08 09:00): following "下一页"
from the first page lists each of the unit's orders exactly once, newest first, and
"上一页" walks the same pages back; a malformed cursor is a 400 page naming it, with
nothing of it echoed unescaped; a cursor naming another unit's order only bounds the
range — the page holds the unit's own orders, none of the other unit's.

The data: 120 orders led by 城关镇 and 30 by the housing department, interleaved (every
fifth order the department's), inserted as rows (the list reads rows; how orders are
made is tested elsewhere). 120 orders at 50 a page: pages of 50, 50 and 20.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hotline_core.workorders.model import UnitAssignment, WorkOrder
from testkit.people import add_user, sign_in
from tests.security.composed import Composed, composed

UNIT, OTHER = "town-chengguan", "dept-housing"
START = datetime(2026, 6, 1, 1, 0, tzinfo=UTC)


def _rows(app: Composed) -> tuple[list[int], list[int]]:
    """Insert the orders; (the unit's ids, the other unit's ids)."""
    mine: list[int] = []
    others: list[int] = []
    with app.maker.begin() as s:
        for i in range(150):
            lead = OTHER if i % 5 == 4 else UNIT
            order = WorkOrder(received_at=START + timedelta(minutes=i), channel="web",
                              category="complaint", description=f"第{i}件", matter="噪声扰民",
                              status="handling", lead_unit=lead,
                              due_at=START + timedelta(days=9),
                              handling_started_at=START + timedelta(minutes=i))
            s.add(order)
            s.flush()
            s.add(UnitAssignment(order_id=order.id, unit_code=lead, role="lead", active=True))
            (others if lead == OTHER else mine).append(order.id)
    return mine, others


def _ids(html: str) -> list[int]:
    return [int(m) for m in re.findall(r'<tr data-order="(\d+)"', html)]


def _link(html: str, name: str) -> str | None:
    found = re.search(rf'<a id="{name}" href="([^"]+)"', html)
    return found.group(1).replace("&amp;", "&") if found else None


async def _get(app: Composed, path: str) -> tuple[int, str]:
    resp = await app.client.get(path, allow_redirects=False)
    return resp.status, await resp.text()


async def test_paging_by_cursor_has_no_gaps_or_duplicates_and_stays_in_the_unit(
        tmp_path: Path, redis_url: str) -> None:
    async with composed(tmp_path, redis_url) as app:
        mine, others = _rows(app)
        assert len(mine) == 120 and len(others) == 30
        add_user(app.maker, "u-cg", "unit", unit=UNIT)
        await sign_in(app.client, "", "u-cg")

        # Forward from the first page by "下一页" until there is none.
        pages: list[list[int]] = []
        path: str | None = "/unit"
        while path is not None:
            status, html = await _get(app, path if path.startswith("/") else "/unit" + path)
            assert status == 200, html
            assert "共 120 件" in html
            pages.append(_ids(html))
            assert (_link(html, "prev") is None) == (len(pages) == 1)
            path = _link(html, "next")
            assert len(pages) <= 4, "paging does not end"
        assert [len(p) for p in pages] == [50, 50, 20]
        listed = [oid for page in pages for oid in page]
        assert listed == sorted(mine, reverse=True)          # each once, newest first

        # Back from the last page by "上一页": the same pages in reverse.
        back: list[list[int]] = []
        status, html = await _get(app, f"/unit?after={pages[1][-1]}")
        while True:
            back.append(_ids(html))
            prev = _link(html, "prev")
            if prev is None:
                break
            status, html = await _get(app, "/unit" + prev)
            assert status == 200
        assert back == pages[::-1]

        # Another unit's order as the cursor: only this unit's older orders.
        theirs = others[len(others) // 2]
        status, html = await _get(app, f"/unit?after={theirs}")
        assert status == 200
        got = _ids(html)
        assert got == sorted((o for o in mine if o < theirs), reverse=True)[:50]
        assert got and not set(got) & set(others)
        status, html = await _get(app, f"/unit?before={theirs}")
        assert status == 200
        got = _ids(html)
        assert got == sorted(o for o in mine if o > theirs)[:50][::-1]
        assert got and not set(got) & set(others)

        # Hostile cursors: 400 naming the parameter, nothing echoed raw.
        for query, name in (("after=abc", "after"), ("after=-5", "after"),
                            ("after=0", "after"), ("before=1e3", "before"),
                            ("after=" + "9" * 20, "after"), ("after=9223372036854775808", "after"),
                            ("before=%3Cscript%3Ealert(1)%3C/script%3E", "before"),
                            (f"after={mine[0]}&before={mine[1]}", "before")):
            status, html = await _get(app, f"/unit?{query}")
            assert status == 400, query
            assert name in html and "<script>alert" not in html, query
            assert 'data-order="' not in html, query
