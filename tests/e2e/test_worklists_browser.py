"""The platform's worklist pages (工作清单) in Debian's headless Chromium against a running
stack (Asterisk, redis-server, SQLite, the core with its order-campaign pass): a
dispatcher signs in and lands on /work/dispatch, dispatches in one click, accepts one
return and re-dispatches it (改派), refuses another with a reason and the unit sees the
order back (退单审核, 国办函〔2025〕66号); a callback worker finds the replied order with
the automated callback's outcome and records 不满意, which opens the redo path (gaotai:
review, then one redo, R-REDO) that the dispatcher takes from the same page.

The units act through the API with a signed-in unit user's session (the unit portal is
another page). Expected values come from the sample dispatch data and the rules, worked
out in the comments: 小区物业管理 without a gazetteer place goes to dept-housing
(config/responsibility_list.sample.csv); an order without a caller number cannot be
called, so the automated callback sends it to staff at once (hotline_core/workorders/
callbacks.py, "the order has no caller number").
"""

from __future__ import annotations

import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from playwright.async_api import Page

from testkit.browser import chromium, new_page, screenshot, sign_in_page
from testkit.people import CSRF_HEADER, DEFAULT_PASSWORD, add_user, sign_in
from testkit.stack import Agent, HotlineStack

pytestmark = pytest.mark.e2e
CONFIG = Path(__file__).resolve().parents[2] / "config"
MATTER = "小区物业管理"      # → dept-housing (no place named: the competent department)


@pytest.fixture(scope="module")
def hotline() -> Iterator[HotlineStack]:
    stack = HotlineStack(agents=[Agent("1001", {"general": 1})]).start()
    try:
        stack.wait_healthy()
        db = stack.settings.database_url
        add_user(db, "disp1", "dispatcher")
        add_user(db, "cb1", "callback")
        add_user(db, "housing1", "unit", unit="dept-housing")
        for path, name in (("/api/dispatch/units", "units.sample.csv"),
                           ("/api/dispatch/responsibility-list",
                            "responsibility_list.sample.csv")):
            req = urllib.request.Request(
                f"http://127.0.0.1:{stack.http_port}{path}", method="POST",
                data=(CONFIG / name).read_bytes(),
                headers={"Authorization": f"Bearer {stack.token('supervisor')}",
                         "Content-Type": "text/csv"})
            with urllib.request.urlopen(req, timeout=10) as resp:
                assert resp.status == 200
        yield stack
    finally:
        stack.stop()


class UnitUser:
    """dept-housing's handler, signed in with a session (cookie + CSRF header)."""

    def __init__(self, http: aiohttp.ClientSession, base: str, csrf: str) -> None:
        self.http, self.base, self.csrf = http, base, csrf

    async def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        async with self.http.request(method, self.base + path, json=body,
                                     headers={CSRF_HEADER: self.csrf}) as resp:
            return resp.status, await resp.json()


@pytest.fixture
async def housing(hotline: HotlineStack) -> AsyncIterator[UnitUser]:
    base = f"http://127.0.0.1:{hotline.http_port}"
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        csrf = await sign_in(http, base, "housing1", DEFAULT_PASSWORD)
        yield UnitUser(http, base, csrf)


async def _new_order(hl: HotlineStack, description: str) -> int:
    made = await hl.aapi("POST", "/api/workorders", {
        "channel": "web", "category": "help", "description": description,
        "matter": MATTER}, as_="1001")
    assert made.get("created") is True, made
    return int(made["order"]["id"])


async def _order(hl: HotlineStack, oid: int) -> dict[str, Any]:
    found: dict[str, Any] = await hl.aapi("GET", f"/api/workorders/{oid}")
    assert found.get("id") == oid, found
    return found


async def _reload_until(page: Page, selector: str, tries: int = 60) -> None:
    """The page does not poll: read the list again (the 刷新 button) until ``selector``
    shows, as a person would, while the core's pass does its work."""
    for _ in range(tries):
        await page.click("#reload")
        await page.wait_for_function(
            "() => document.getElementById('list-status').textContent.startsWith('已加载')")
        if await page.query_selector(selector) is not None:
            return
        await page.wait_for_timeout(500)
    raise AssertionError(f"{selector} never showed on {page.url}")


async def test_dispatcher_reviews_returns_and_callback_opens_the_redo_path(
        hotline: HotlineStack, housing: UnitUser) -> None:
    hl = hotline
    base = f"http://127.0.0.1:{hl.http_port}"
    accepted = await _new_order(hl, "小区电梯停运三天")
    refused = await _new_order(hl, "物业不清运垃圾")
    rated = await _new_order(hl, "小区路灯不亮")
    async with chromium() as browser:
        # Not signed in: the sign-in page, back to the list after.
        page = await new_page(browser)
        await page.goto(f"{base}/work/dispatch")
        assert page.url == f"{base}/signin?next=/work/dispatch"
        # A dispatcher lands on the dispatch list (HOME).
        await sign_in_page(page, base, "disp1", DEFAULT_PASSWORD)
        await page.wait_for_url(f"{base}/work/dispatch")
        for oid in (accepted, refused, rated):
            row = f'#new-orders tr[data-order="{oid}"]'
            await page.wait_for_selector(f"{row}:has-text('dept-housing')")
            await page.click(f"{row} button.dispatch")
            await page.wait_for_selector(row, state="detached")
            assert (await _order(hl, oid))["lead_unit"] == "dept-housing"
        # The unit signs one and returns it, returns one unsigned, replies to the third.
        for path, body in (
                (f"/api/workorders/{accepted}/sign-off", None),
                (f"/api/workorders/{accepted}/return", {
                    "reason": "电梯安全监管属市场监管局", "suggested_unit": "dept-market"}),
                (f"/api/workorders/{refused}/return", {"reason": "垃圾清运不归住建局"}),
                (f"/api/workorders/{rated}/sign-off", None),
                (f"/api/workorders/{rated}/reply", {
                    "parts": {"response": "已到现场核实。",
                              "result": "已督促物业更换灯具。路灯已恢复照明。"},
                    "resolved": True})):
            status, answer = await housing.call("POST", path, body)
            assert status == 200, (path, answer)
        await page.click("#reload")
        row_a = f'#returns tr[data-order="{accepted}"]'
        row_r = f'#returns tr[data-order="{refused}"]'
        await page.wait_for_selector(f"{row_a}:has-text('电梯安全监管属市场监管局')")
        await page.wait_for_selector(f"{row_r}:has-text('垃圾清运不归住建局')")
        await screenshot(page, "worklist-dispatch")
        # Accept and re-dispatch to the unit the return suggested (prefilled).
        assert await page.input_value(f"{row_a} input[name=lead]") == "dept-market"
        await page.fill(f"{row_a} input[name=accept-reason]", "电梯属特种设备，市场监管局主管")
        await page.click(f"{row_a} button.accept")
        await page.wait_for_selector(row_a, state="detached")
        after = await _order(hl, accepted)
        assert (after["status"], after["lead_unit"]) == ("dispatched", "dept-market")
        # Refusing without a reason is refused, names the field, and changes nothing.
        await page.click(f"{row_r} button.refuse")
        await page.wait_for_selector("#action-error:has-text('reason')")
        assert (await _order(hl, refused))["status"] == "pending_dispatch"
        await page.fill(f"{row_r} input[name=refuse-reason]", "小区垃圾清运属物业管理，住建局主管")
        await page.click(f"{row_r} button.refuse")
        await page.wait_for_selector(row_r, state="detached")
        # The unit sees it back, waiting for its sign-off, with the reason.
        status, mine = await housing.call("GET", "/api/workorders?status=dispatched")
        assert status == 200 and refused in [o["id"] for o in mine["orders"]]
        status, events = await housing.call("GET", f"/api/workorders/{refused}/events")
        assert events["events"][-1]["kind"] == "return_refused"
        assert events["events"][-1]["data"]["reason"] == "小区垃圾清运属物业管理，住建局主管"
        status, _ = await housing.call("POST", f"/api/workorders/{refused}/sign-off")
        assert status == 200
        # The unit may not open the dispatcher's page (403 page), nor its list.
        unit_page = await new_page(browser)
        await sign_in_page(unit_page, base, "housing1", DEFAULT_PASSWORD)
        await unit_page.wait_for_url(lambda url: "/signin" not in url)
        answer = await unit_page.goto(f"{base}/work/dispatch")
        assert answer is not None and answer.status == 403
        status, _ = await housing.call("GET", "/api/worklists/dispatch")
        assert status == 403
        # The callback worker: the replied order, its window and the automated outcome
        # (no number to call: straight to staff).
        cb = await new_page(browser)
        await sign_in_page(cb, base, "cb1", DEFAULT_PASSWORD)
        await cb.wait_for_url(f"{base}/work/callback")
        row_c = f'#callbacks tr[data-order="{rated}"]'
        await _reload_until(cb, f"{row_c} td.automated:has-text('转人工回访')")
        assert "小时" in await cb.inner_text(f"{row_c} td.left")
        await cb.select_option(f"{row_c} select[name=level]", "unsatisfied")
        await cb.fill(f"{row_c} input[name=comment]", "路灯修好后又坏了")
        await cb.click(f"{row_c} button.rate")
        await cb.wait_for_selector("#list-status:has-text('不满意')")
        assert "待复核" in await cb.inner_text("#list-status")
        await cb.wait_for_selector(row_c, state="detached")
        await screenshot(cb, "worklist-callback")
        # 不满意 under gaotai: review, and one redo is allowed; the dispatcher sends it back.
        await page.click("#reload")
        row_u = f'#unsatisfied tr[data-order="{rated}"]'
        await page.wait_for_selector(f"{row_u}:has-text('不满意')")
        await page.fill(f"{row_u} input[name=review-reason]", "群众反映问题未解决，发回重办")
        await page.click(f"{row_u} button.redo")
        await page.wait_for_selector(row_u, state="detached")
        status, mine = await housing.call("GET", f"/api/workorders/{rated}")
        assert (status, mine["status"], mine["redo_count"]) == (200, "redo", 1)
