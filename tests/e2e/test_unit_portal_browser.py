"""The unit portal (承办单位工作台) in Debian's headless Chromium against a real stack
(Asterisk, redis-server, SQLite; preset minhe, whose reply must name signer, unit,
handler and time and say more than one sentence, and whose return must suggest the
proper unit). A dispatcher signs in and takes and dispatches orders through the API; a
unit handler of 城关镇 signs in on the sign-in page, lands on /unit, signs an order off,
returns another with a reason, and replies: the reply check refuses the first draft and
the page names every missing part, the fixed reply is accepted. The same unit opening
another unit's order by URL gets "not found". The portal's screenshot (1366×768) is kept
as a test artefact."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from playwright.async_api import Dialog
from sqlalchemy import create_engine, text

from testkit.browser import chromium, new_page, screenshot, sign_in_page
from testkit.people import DEFAULT_PASSWORD, add_user, sign_in
from testkit.stack import Agent, HotlineStack

pytestmark = pytest.mark.e2e
CONFIG = Path(__file__).resolve().parents[2] / "config"
UNIT, OTHER = "town-chengguan", "dept-housing"
CITIZEN, MASKED = "13912345678", "139****5678"   # mask_phone keeps 3 + 4
HOSTILE = "<img src=x onerror=alert(1)>不属于本镇职责"


@pytest.fixture(scope="module")
def hotline() -> Iterator[HotlineStack]:
    stack = HotlineStack(agents=[Agent("1001", {"general": 1})],
                         workorders='preset = "minhe"').start()
    try:
        stack.wait_healthy()
        db = stack.settings.database_url
        add_user(db, "disp1", "dispatcher")
        add_user(db, "u-cg", "unit", unit=UNIT)
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


async def _dispatched(http: aiohttp.ClientSession, base: str, csrf: str, lead: str,
                      description: str) -> int:
    """An order taken from the web channel and dispatched to ``lead``, by the dispatcher."""
    headers = {"X-CSRF-Token": csrf}
    async with http.post(f"{base}/api/workorders", headers=headers, json={
            "channel": "web", "category": "complaint", "description": description,
            "caller_number": CITIZEN, "caller_name": "李四", "matter": "噪声扰民",
            "locality": "城关镇", "new_information": True}) as resp:
        body = await resp.json()
        assert resp.status == 201, body
        oid = int(body["order"]["id"])
    async with http.post(f"{base}/api/workorders/{oid}/dispatch", headers=headers,
                         json={"lead": lead, "reason": "属地管理"}) as resp:
        assert resp.status == 200, await resp.text()
    return oid


def _event_kinds(hl: HotlineStack, order_id: int) -> list[str]:
    engine = create_engine(hl.settings.database_url)
    try:
        with engine.connect() as conn:
            return [k for (k,) in conn.execute(text(
                "SELECT kind FROM wo_events WHERE order_id = :o ORDER BY seq"), {"o": order_id})]
    finally:
        engine.dispose()


async def test_a_unit_signs_returns_and_replies_in_the_portal(hotline: HotlineStack) -> None:
    hl = hotline
    base = f"http://127.0.0.1:{hl.http_port}"
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True),
                                     timeout=aiohttp.ClientTimeout(total=20)) as http:
        csrf = await sign_in(http, base, "disp1")
        to_reply = await _dispatched(http, base, csrf, UNIT, "工地夜间施工噪声扰民")
        to_return = await _dispatched(http, base, csrf, UNIT, "小区物业不作为")
        others = await _dispatched(http, base, csrf, OTHER, "物业费纠纷")
    async with chromium() as browser:
        page = await new_page(browser)
        await sign_in_page(page, base, "u-cg", DEFAULT_PASSWORD)
        await page.wait_for_url(f"{base}/unit")            # a unit's home is its portal
        rows = await page.eval_on_selector_all(
            "#orders tr[data-order]", "rs => rs.map(r => Number(r.dataset.order))")
        assert sorted(rows) == sorted([to_reply, to_return])
        assert await page.inner_text(f'#orders tr[data-order="{to_reply}"] td.caller') \
            == MASKED
        await screenshot(page, "unit-portal")

        # Sign-off (签收).
        await page.click(f'#orders tr[data-order="{to_reply}"] a')
        await page.wait_for_url(f"{base}/unit/orders/{to_reply}")
        await page.click("#btn-sign-off")
        await page.wait_for_selector('#status[data-status="handling"]')

        # A one-sentence reply with only the result: the check, before submitting, names
        # what minhe asks for (presets/minhe.toml [reply]): signer, unit, handler, time;
        # more than one sentence; the citizen answered first.
        await page.fill("#part-result", "已处理")
        await page.click("#btn-reply")
        await page.wait_for_selector("#reply-check:not([hidden])")
        missing = await page.eval_on_selector_all(
            "#reply-problems li.missing-part", "ls => ls.map(l => l.dataset.part)")
        assert sorted(missing) == ["handler", "signer", "time", "unit"]
        assert "缺少「签发人」" in await page.inner_text("#reply-problems")
        others_found = await page.inner_text("#reply-problems")
        assert "at least 2 required" in others_found and "citizen_replied_at" in others_found
        assert await page.get_attribute('label.part[data-part="signer"]', "class") \
            == "part missing"
        # Checked, not submitted: no reply and no refused reply recorded.
        kinds = _event_kinds(hl, to_reply)
        assert "replied" not in kinds and "reply_refused" not in kinds
        await screenshot(page, "unit-portal-reply-refused")

        # The fixed reply is accepted.
        await page.fill("#part-result", "已约谈施工单位，夜间停止施工。经回访，噪声已消除。")
        await page.fill("#part-signer", "王镇长")
        await page.fill("#part-unit", "城关镇人民政府")
        await page.fill("#part-handler", "李联络")
        await page.fill("#part-time", "2026年11月30日")
        answered = datetime.now(ZoneInfo("Asia/Shanghai")) - timedelta(hours=1)
        await page.fill("#reply-citizen-at", answered.strftime("%Y-%m-%dT%H:%M"))
        await page.click("#btn-reply")
        await page.wait_for_selector('#status[data-status="replied"]')
        assert "replied" in _event_kinds(hl, to_reply)

        # Return (退单) with a reason (shown as text, never run) and the suggested unit.
        await page.goto(f"{base}/unit/orders/{to_return}")
        await page.fill("#return-reason", HOSTILE)
        await page.fill("#return-unit", OTHER)
        dialogs: list[str] = []   # an executed onerror would open one

        async def dismissed(dialog: Dialog) -> None:
            dialogs.append(dialog.message)
            await dialog.dismiss()

        page.on("dialog", dismissed)
        await page.click("#btn-return")
        await page.wait_for_selector('#events tr[data-kind="returned"]')
        assert HOSTILE in await page.inner_text('#events tr[data-kind="returned"]')
        assert dialogs == []
        assert await page.query_selector("#events img") is None
        assert "returned" in _event_kinds(hl, to_return)

        # Another unit's order by URL: "not found", nothing of it shown.
        resp = await page.goto(f"{base}/unit/orders/{others}")
        assert resp is not None and resp.status == 404
        assert "404 未找到" in await page.inner_text("h1")
        assert "物业费纠纷" not in await page.content()
