"""The supervisors' report pages in Debian's headless Chromium against one real stack
(Asterisk, a SIPp agent phone and SIPp callers, redis-server, SQLite):

- the month report of a month worked out by hand below: table, chart with the units'
  Chinese names (screenshot kept as the artefact ``reports.png``), CSV equal to the hand
  computation; a supervisor enters a deduction on the page and the unit's score drops by
  the preset's points; withdrawing it (with a reason) gives the points back, audited;
- who may see what, and hostile input (anonymous, a unit, an operator, bad periods and
  bodies: 4xx naming the field, nothing written);
- the call-centre history of today equals the calls the test places through the stack.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from sqlalchemy.orm import Session

from hotline_core.db import make_engine
from hotline_core.workorders.model import Unit, WorkOrder
from testkit import processes
from testkit.browser import chromium, new_page, screenshot, sign_in_page
from testkit.people import DEFAULT_PASSWORD, add_user, sign_in
from testkit.stack import Agent, HotlineStack

pytestmark = pytest.mark.e2e
CST = ZoneInfo("Asia/Shanghai")
REPO = Path(__file__).resolve().parents[2]
MONTH = "period=month&start=2026-10-01"


def _at(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=CST)


# October 2026, gaotai preset (sign-off within the stored sign_due_at; score = 30 ×
# response + 35 × completion + 35 × satisfaction; 1 point per late sign-off, late
# handling and supervisor's finding; satisfied = very/satisfied/basically satisfied).
# The report is judged at the end of the month, 2026-11-01 00:00.
# (unit, received, signed, due, replied, closed, evaluation)
TOWN, DEPT = "rpt-town", "rpt-dept"
ORDERS: list[tuple[str, datetime, datetime, datetime, datetime | None, datetime | None,
                   str | None]] = [
    # o1: signed 09:30 ≤ 10:00 on time; closed before due; satisfied.
    (TOWN, _at(10, 8, 9), _at(10, 8, 9, 30), _at(10, 15, 9), _at(10, 12, 10),
     _at(10, 12, 12), "satisfied"),
    # o2: signed 11:30 > 10:00 → late sign-off; closed; unsatisfied.
    (TOWN, _at(10, 9, 9), _at(10, 9, 11, 30), _at(10, 20, 9), _at(10, 18, 10),
     _at(10, 18, 12), "unsatisfied"),
    # o3: signed on time; never replied, due 10-25 < 11-01 → not completed, handled late.
    (TOWN, _at(10, 10, 9), _at(10, 10, 9, 20), _at(10, 25, 9), None, None, None),
    # o4: signed on time; due 11-10, still open at 11-01 → not judged on completion.
    (TOWN, _at(10, 28, 9), _at(10, 28, 9, 10), _at(11, 10, 9), None, None, None),
    # o5, o6: signed on time, closed, very satisfied / basically satisfied.
    (DEPT, _at(10, 13, 9), _at(10, 13, 9, 40), _at(10, 20, 9), _at(10, 16, 10),
     _at(10, 16, 12), "very_satisfied"),
    (DEPT, _at(10, 14, 9), _at(10, 14, 9, 50), _at(10, 21, 9), _at(10, 17, 10),
     _at(10, 17, 12), "basically_satisfied"),
]
# 城关镇 (rpt-town): response 3 of 4 on time = 75.00 %; completion: o1, o2 closed, o3
# overdue, o4 not judged = 2 / 3 = 66.67 %; satisfaction 1 / 2 = 50.00 %.
# base = 30 × 0.75 + 35 × 2/3 + 35 × 0.5 = 22.5 + 23.333 + 17.5 = 63.33;
# deducted = late sign-off (o2) 1 + late handling (o3) 1 = 2.00 → score 61.33.
# 县住房和城乡建设局 (rpt-dept): 2/2, 2/2, 2/2 → base 100.00, nothing deducted → 100.00.
HEADER = ("unit,name,orders,response_signed_on_time,response_judged,response_rate_pct,"
          "completion_closed,completion_judged,completion_rate_pct,satisfied,evaluated,"
          "satisfaction_rate_pct,base,deducted,score")
DEPT_ROW = "rpt-dept,县住房和城乡建设局,2,2,2,100.00,2,2,100.00,2,2,100.00,100.00,0.00,100.00"
TOWN_ROW = "rpt-town,城关镇人民政府,4,3,4,75.00,2,3,66.67,1,2,50.00,63.33,{d},{s}"
# With the supervisor's shirking finding (gaotai: shirking = 1 point): 3.00 → 60.33.


def _seed_month(db_url: str) -> dict[str, int]:
    engine = make_engine(db_url)
    ids: dict[str, int] = {}
    with Session(engine) as s, s.begin():
        s.add_all([Unit(code=TOWN, name="城关镇人民政府", kind="town"),
                   Unit(code=DEPT, name="县住房和城乡建设局", kind="department")])
        s.flush()
        for n, (unit, received, signed, due, replied, closed, level) in enumerate(ORDERS, 1):
            order = WorkOrder(
                received_at=received, channel="phone", category="complaint",
                description=f"月报测试工单 {n}", status="closed" if closed else "handling",
                lead_unit=unit, dispatched_at=received, handling_started_at=received,
                sign_due_at=received + timedelta(hours=1), signed_at=signed, due_at=due,
                replied_at=replied, closed_at=closed, evaluation=level)
            s.add(order)
            s.flush()
            ids[f"o{n}"] = order.id
        # Waiting for dispatch (no unit: not in any unit's rates): 停水 in 城关镇, 10 in
        # the week of 2026-09-28 against 1 the week before → p = 12/2048 ≤ 0.01: rising.
        for when in [_at(9, 22, 10)] + [_at(9, 29, 10, m) for m in range(10)]:
            s.add(WorkOrder(received_at=when, channel="phone", category="help",
                            description="停水", matter="停水", locality="城关镇",
                            status="pending_dispatch"))
    engine.dispose()
    return ids


@pytest.fixture(scope="module")
def hotline() -> Iterator[HotlineStack]:
    stack = HotlineStack(agents=[Agent("1001", {"general": 1})]).start()
    try:
        stack.wait_healthy()
        db = stack.settings.database_url
        add_user(db, "sup1", "supervisor")
        add_user(db, "op1", "operator", agent_id="1001")
        add_user(db, "town1", "unit", unit=TOWN)
        yield stack
    finally:
        stack.stop()


def _base(hl: HotlineStack) -> str:
    return f"http://127.0.0.1:{hl.http_port}"


async def _session(hl: HotlineStack, user: str) -> tuple[aiohttp.ClientSession, str]:
    client = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True),
                                   timeout=aiohttp.ClientTimeout(total=20))
    return client, await sign_in(client, _base(hl), user, DEFAULT_PASSWORD)


async def _json(client: aiohttp.ClientSession, method: str, url: str, csrf: str = "",
                body: Any = None) -> tuple[int, Any]:
    headers = {"X-CSRF-Token": csrf} if csrf else {}
    async with client.request(method, url, json=body, headers=headers,
                              allow_redirects=False) as resp:
        try:
            return resp.status, await resp.json(content_type=None)
        except ValueError:
            return resp.status, None


async def _town_score(page: Any) -> tuple[str, str]:
    row = f'#units tr[data-unit="{TOWN}"]'
    return (await page.inner_text(f"{row} td.deducted"), await page.inner_text(f"{row} td.score"))


async def test_month_report_deductions_and_chart(hotline: HotlineStack) -> None:
    hl, base = hotline, _base(hotline)
    ids = _seed_month(hl.settings.database_url)
    async with chromium() as browser:
        page = await new_page(browser)
        await sign_in_page(page, base, "sup1", DEFAULT_PASSWORD, next_path="/reports")
        await page.wait_for_url(f"{base}/reports", wait_until="commit")
        await page.goto(f"{base}/reports?{MONTH}")
        await page.wait_for_function("window.hotlineReports && window.hotlineReports.loads >= 1")
        assert await _town_score(page) == ("2.00", "61.33")
        assert await page.inner_text(f'#units tr[data-unit="{DEPT}"] td.score') == "100.00"
        # The chart's categories are the units' Chinese names (ordered by unit code).
        names = await page.evaluate("echarts.getInstanceByDom(document.getElementById("
                                    "'units-chart')).getOption().xAxis[0].data")
        assert names == ["县住房和城乡建设局", "城关镇人民政府"]
        # The week of the month's first day (from Monday 09-28): 停水 and 城关镇 rise.
        rising = await page.inner_text("#rising tbody")
        assert rising.split("\n") == ["事项\t停水\t10\t1\t0.0059",
                                       "地点\t城关镇\t10\t1\t0.0059"], rising
        assert await page.inner_text("#hot tbody") == "停水\t10\t1"
        shot = await screenshot(page, "reports")
        if (REPO / "docs" / "screenshots").is_dir():
            shutil.copyfile(shot, REPO / "docs" / "screenshots" / "reports.png")
        csv_url = f"/api/metrics/units.csv?{MONTH}"
        fetch = f"fetch('{csv_url}').then(r => r.text())"
        assert await page.evaluate(fetch) == "\n".join(
            [HEADER, DEPT_ROW, TOWN_ROW.format(d="2.00", s="61.33")]) + "\n"

        # A supervisor's finding: shirking by 城关镇 on 10-20 → 1 point more.
        await page.select_option("#deduction-unit", TOWN)
        await page.select_option("#deduction-kind", "shirking")
        await page.fill("#deduction-day", "2026-10-20")
        await page.fill("#deduction-order", str(ids["o3"]))
        await page.fill("#deduction-reason", "推诿：称占道问题不归本单位管理")
        await page.click("#deduction-submit")
        await page.wait_for_function("window.hotlineReports.loads >= 2")
        assert await page.inner_text("#deduction-result") == "已录入"
        assert await _town_score(page) == ("3.00", "60.33")
        assert await page.evaluate(fetch) == "\n".join(
            [HEADER, DEPT_ROW, TOWN_ROW.format(d="3.00", s="60.33")]) + "\n"
        audit = await page.inner_text("#deductions tbody tr")
        assert "推诿不办" in audit and "sup1" in audit and "不归本单位" in audit

        # Withdrawn with a reason: the points come back, the row stays (audit).
        page.once("dialog", lambda d: asyncio.ensure_future(d.accept("录入时选错了单位")))
        await page.click("#deductions tbody tr button:text('撤销')")
        await page.wait_for_function("window.hotlineReports.loads >= 3")
        assert await _town_score(page) == ("2.00", "61.33")
        row = page.locator("#deductions tbody tr.withdrawn")
        assert "录入时选错了单位" in await row.inner_text()

    sup, csrf = await _session(hl, "sup1")
    async with sup:
        status, listed = await _json(sup, "GET", f"{base}/api/metrics/deductions?{MONTH}")
        assert status == 200 and len(listed["deductions"]) == 1
        d = listed["deductions"][0]
        assert (d["unit"], d["kind"], d["entered_by"], d["withdrawn_by"], d["order_id"]) == \
            (TOWN, "shirking", "sup1", "sup1", ids["o3"])
        assert d["entered_at"] and d["withdrawn_at"] and d["points"] == 1.0
        status, again = await _json(sup, "POST", f"{base}/api/metrics/deductions/{d['id']}"
                                    "/withdraw", csrf, {"reason": "再撤一次"})
        assert status == 409 and again["field"] == "id"


async def test_who_may_see_reports_and_hostile_input(hotline: HotlineStack) -> None:
    hl, base = hotline, _base(hotline)
    api = f"{base}/api/metrics"
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as anon:
        for path in (f"/api/metrics/deductions?{MONTH}", "/api/metrics/rising?start=2026-10-05"):
            assert (await _json(anon, "GET", base + path))[0] == 401, path
        assert (await _json(anon, "POST", f"{api}/deductions", body={}))[0] == 401
        for page in ("/reports", "/reports/calls"):
            async with anon.get(base + page, allow_redirects=False) as resp:
                assert resp.status == 302 and resp.headers["Location"] == \
                    f"/signin?next={page}"
    # A unit sees only its own row and its own deductions, enters none, opens no page.
    unit, unit_csrf = await _session(hl, "town1")
    async with unit:
        status, rows = await _json(unit, "GET", f"{api}/units?{MONTH}")
        assert status == 200 and [r["unit"] for r in rows["units"]] in ([TOWN], [])
        status, _ = await _json(unit, "GET", f"{api}/deductions?{MONTH}")
        assert status == 200
        status, body = await _json(unit, "POST", f"{api}/deductions", unit_csrf, {
            "unit": "rpt-dept", "kind": "shirking", "occurred_on": "2026-10-20",
            "reason": "x"})
        assert status == 403
        assert (await _json(unit, "GET", f"{api}/rising?start=2026-10-05"))[0] == 403
        async with unit.get(f"{base}/reports", allow_redirects=False) as resp:
            assert resp.status == 403
    op, _ = await _session(hl, "op1")
    async with op:
        assert (await _json(op, "GET", f"{api}/deductions?{MONTH}"))[0] == 403
        async with op.get(f"{base}/reports/calls", allow_redirects=False) as resp:
            assert resp.status == 403
    sup, csrf = await _session(hl, "sup1")
    async with sup:
        _, before = await _json(sup, "GET", f"{api}/deductions?{MONTH}")
        for query, field in (("period=year&start=2026-10-01", "period"),
                             ("period=month&start=2026-10-05", "start"),
                             ("period=week&start=2026-10-01", "start"),
                             ("period=month&start=9999-12-01", "start"),
                             ("period=month&start=2026-13-01", "start"),
                             ("period=month", "start")):
            for route in ("units", "units.csv", "deductions"):
                status, body = await _json(sup, "GET", f"{api}/{route}?{query}")
                assert status == 422 and body["field"] == field, (route, query, body)
        status, body = await _json(sup, "GET", f"{api}/rising?start=2026-10-06")
        assert status == 422 and body["field"] == "start"
        good = {"unit": TOWN, "kind": "shirking", "occurred_on": "2026-10-20",
                "reason": "理由"}
        for change, field in (({"kind": "late_sign_off"}, "kind"),
                              ({"kind": "x" * 41}, "kind"),
                              ({"unit": "no-such-unit"}, "unit"),
                              ({"reason": "   "}, "reason"),
                              ({"reason": "长" * 501}, "reason"),
                              ({"occurred_on": "2099-01-01"}, "occurred_on"),
                              ({"occurred_on": "yesterday"}, "occurred_on"),
                              ({"order_id": 2**40}, "order_id"),
                              ({"order_id": 987654}, "order_id")):
            status, body = await _json(sup, "POST", f"{api}/deductions", csrf,
                                       {**good, **change})
            assert status == 422 and body["field"] == field, (change, body)
        # The right body without the CSRF header: refused.
        status, body = await _json(sup, "POST", f"{api}/deductions", "", good)
        assert status == 403 and body["field"] == "X-CSRF-Token"
        for bad in ("abc", "0", "-1", "99999999999999"):
            status, body = await _json(sup, "POST", f"{api}/deductions/{bad}/withdraw", csrf,
                                       {"reason": "x"})
            assert status == 404, (bad, body)
        # Nothing was written by any refusal.
        _, after = await _json(sup, "GET", f"{api}/deductions?{MONTH}")
        assert after == before


async def test_call_history_of_today_equals_the_calls_placed(hotline: HotlineStack) -> None:
    hl, base = hotline, _base(hotline)
    hl.login("1001")
    # Two callers talk with agent 1001, one hangs up during the greeting (abandoned).
    for caller, talk_ms in (("13800138701", 4000), ("13800138702", 4000),
                            ("13800138703", 500)):
        result = await hl.call("12345", caller, talk_ms=talk_ms)
        assert result.ok, result.output[:1500]
    def ended(tail: str) -> Any:
        return lambda c: c["caller"].endswith(tail) and bool(c["ended_at"])

    records = [await hl.wait_call(ended(n)) for n in ("8701", "8702", "8703")]
    assert [r["disposition"] for r in records] == ["answered", "answered", "abandoned"]
    waits = [(datetime.fromisoformat(r["answered_at"]) - datetime.fromisoformat(
        r["offered_at"])).total_seconds() for r in records[:2]]
    within_15s = sum(w <= 15 for w in waits)
    day = datetime.fromisoformat(records[0]["offered_at"]).astimezone(CST).date().isoformat()
    # The core stores interval rows when it starts (and every five minutes): restart it.
    processes.stop(hl.core, grace=15)
    hl.start_core()
    hl.wait_healthy()
    for _ in range(100):
        figures = await hl.aapi("GET", f"/api/call-figures/day?date={day}")
        if figures["day"]["lines"].get("12345", {}).get("offered") == 3:
            break
        await asyncio.sleep(0.3)
    async with chromium() as browser:
        page = await new_page(browser)
        await sign_in_page(page, base, "sup1", DEFAULT_PASSWORD, next_path="/reports")
        await page.wait_for_url(f"{base}/reports", wait_until="commit")
        await page.goto(f"{base}/reports/calls?date={day}&month={day[:7]}")
        await page.wait_for_function("window.hotlineCalls && window.hotlineCalls.loads >= 1")
        row = '#day-figures tr[data-line="12345"]'
        # 3 offered, 2 answered, 1 abandoned: abandon rate 1/3, connection rate 2/3.
        got = {c: await page.inner_text(f"{row} td.{c}") for c in (
            "offered", "answered", "abandoned", "abandon-rate", "connection-rate",
            "service-level", "asa")}
        assert got == {
            "offered": "3", "answered": "2", "abandoned": "1", "abandon-rate": "33.33%",
            "connection-rate": "66.67%",
            "service-level": f"{100 * within_15s / 3:.2f}%",
            "asa": f"{sum(waits) / 2:.1f} 秒"}, got
        # The half-hour chart holds the 3 calls; the month chart names its series in Chinese.
        half = await page.evaluate("echarts.getInstanceByDom(document.getElementById("
                                   "'halfhour-chart')).getOption()")
        assert sum(half["series"][0]["data"]) == 3 and sum(half["series"][1]["data"]) == 2
        month = await page.evaluate("echarts.getInstanceByDom(document.getElementById("
                                    "'month-chart')).getOption()")
        assert [s["name"] for s in month["series"]] == ["呼入", "24小时接通率", "15秒服务水平"]
        await screenshot(page, "reports-calls")
