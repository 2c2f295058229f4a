"""The agent desktop in Debian's headless Chromium against a real stack (Asterisk, SIPp
caller and agents' phones, redis-server, SQLite): operators bound to agents 1001 and 1002
sign in on the sign-in page; a SIPp call pops on 1001's screen without a reload, with the
masked number and the caller's earlier call and order (made first, in this test); the order
saved from the pop has line, caller and recording linked (read back from the database); a
knowledge-base answer closes a consult on the spot. The screenshot of the desktop during
the call (1366×768) is kept as a test artefact."""

from __future__ import annotations

import asyncio
import os
import shutil
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page
from sqlalchemy import create_engine, text

from testkit.browser import chromium, new_page, screenshot, sign_in_page
from testkit.people import DEFAULT_PASSWORD, add_user
from testkit.stack import Agent, HotlineStack, free_udp_port

pytestmark = pytest.mark.e2e
LINE = "12345"
CALLER = "13800138001"
MASKED = "138****8001"          # mask_phone: first 3 and last 4 kept
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
CONFIG = Path(__file__).resolve().parents[2] / "config"
MATTER = "道路破损"           # sample responsibility list: lead unit dept-transport


# Emergency centres as SIPp phones on their own loopback addresses (tests/e2e/test_transfers.py).
CENTRE_IPS = {"110": "127.0.0.110", "120": "127.0.0.120"}
FIRE_LINE = "96119"           # skill fire-hazard: agent 1003 only, never logged in


def _centres(ports: dict[str, int]) -> str:
    return 'line = "12345000"\nring_seconds = 6\n' + "".join(
        f'[[centre]]\nnumber = "{n}"\nname = "{n} test centre"\naddresses = ["{ip}"]\n'
        f'uri = "sip:{ip}:{ports[n]}"\n' for n, ip in CENTRE_IPS.items())


@pytest.fixture(scope="module")
def hotline() -> Iterator[HotlineStack]:
    ports = {n: free_udp_port() for n in CENTRE_IPS}
    stack = HotlineStack(agents=[Agent("1001", {"general": 1}),
                                 Agent("1002", {"general": 1}),
                                 Agent("1003", {"fire-hazard": 1})],
                         centres=_centres(ports)).start()
    try:
        stack.wait_healthy()
        for number, ip in CENTRE_IPS.items():    # answer after 300 ms, wait for BYE
            stack.phones[f"centre{number}"] = stack.sipp.phone(
                f"centre{number}", port=ports[number], media_port=stack._media_port(),
                ring_ms=300, scenario="agent.xml", local_ip=ip)
        add_user(stack.settings.database_url, "op1", "operator", agent_id="1001")
        add_user(stack.settings.database_url, "op2", "operator", agent_id="1002")
        add_user(stack.settings.database_url, "op3", "operator", agent_id="1003")
        add_user(stack.settings.database_url, "sup1", "supervisor")
        yield stack
    finally:
        stack.stop()


def _import_csv(hl: HotlineStack, path: str, name: str) -> None:
    """The shipped sample units / responsibility list, as a supervisor imports them."""
    req = urllib.request.Request(
        f"http://127.0.0.1:{hl.http_port}{path}", method="POST",
        data=(CONFIG / name).read_bytes(),
        headers={"Authorization": f"Bearer {hl.token('supervisor')}",
                 "Content-Type": "text/csv"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.status == 200


def _row(hl: HotlineStack, sql: str, **params: object) -> tuple[object, ...]:
    engine = create_engine(hl.settings.database_url)
    try:
        with engine.connect() as conn:
            found = conn.execute(text(sql), params).first()
            assert found is not None, (sql, params)
            return tuple(found)
    finally:
        engine.dispose()


async def _earlier_call_and_order(hl: HotlineStack) -> tuple[str, int]:
    """The caller called before: a short answered call and an order made from it."""
    result = await hl.call(LINE, CALLER, talk_ms=8000)
    assert result.ok, result.output[:800]
    record = await hl.wait_call(lambda c: c["caller"] == MASKED and c["ended_at"] is not None
                                and c["agent_id"] == "1001")
    order = await hl.aapi("POST", "/api/workorders", {
        "channel": "phone", "category": "complaint", "description": "路面塌陷",
        "matter": MATTER, "call_record_id": record["id"]}, as_="1001")
    assert "order" in order, order
    return record["id"], int(order["order"]["id"])


async def test_a_call_pops_on_the_agents_desktop_and_becomes_orders(
        hotline: HotlineStack) -> None:
    hl = hotline
    base = f"http://127.0.0.1:{hl.http_port}"
    hl.login("1001")
    _import_csv(hl, "/api/dispatch/units", "units.sample.csv")
    _import_csv(hl, "/api/dispatch/responsibility-list", "responsibility_list.sample.csv")
    earlier_call, earlier_order = await _earlier_call_and_order(hl)
    entry = await hl.aapi("POST", "/api/kb/entries", {
        "question": "公积金提取需要什么材料", "answer": "身份证和银行卡，到公积金中心办理",
        "keywords": "公积金 提取", "public": True})
    assert "id" in entry, entry
    async with chromium() as browser:
        page = await new_page(browser)
        await sign_in_page(page, base, "op1", DEFAULT_PASSWORD, next_path="/desk")
        await page.wait_for_url(f"{base}/desk")
        other = await new_page(browser)
        await sign_in_page(other, base, "op2", DEFAULT_PASSWORD, next_path="/desk")
        await other.wait_for_url(f"{base}/desk")
        await page.wait_for_selector('#live-status:text-is("已连接")')
        await other.wait_for_selector('#live-status:text-is("已连接")')
        # 1002 pauses from its own desktop with a configured reason: the call goes to 1001.
        await other.click("#btn-ready")
        await other.wait_for_selector('#state[data-state="READY"]')
        await other.select_option("#pause-reason", "training")
        await other.click("#btn-pause")
        await other.wait_for_selector('#state[data-state="PAUSED"]')
        await page.wait_for_selector('#state[data-state="READY"]')
        # A marker that a reload would wipe: the pop must arrive over the socket.
        await page.evaluate("window.notReloaded = true")
        call = asyncio.create_task(hl.call(LINE, CALLER, talk_ms=25_000))
        try:
            await page.wait_for_selector("#pop:not([data-call=''])")
            assert await page.evaluate("window.notReloaded") is True
            assert await page.inner_text("#pop-caller") == MASKED
            assert await page.inner_text("#pop-line") == LINE
            earlier = await page.inner_text(f'#pop-calls tr[data-call="{earlier_call}"]')
            assert "已接听" in earlier and "1001" in earlier
            assert await page.get_attribute(
                f'#pop-orders tr[data-order="{earlier_order}"]', "data-order") == str(
                    earlier_order)
            assert CALLER not in await page.content()
            call_id = await page.get_attribute("#pop", "data-call")
            assert call_id and call_id != earlier_call
            # Not on 1002's screen.
            assert await other.get_attribute("#pop", "data-call") == ""
            await page.wait_for_selector('#state[data-state="ON_CALL"]')
            # The order from the pop: only what the agent says is typed; the matter picker
            # shows where the order would go.
            await page.select_option("#category", "complaint")
            await page.select_option("#matter", MATTER)
            await page.wait_for_selector('#route-preview:has-text("dept-transport")')
            await page.fill("#description", "小区门口道路坑洼，电动车摔倒")
            await page.check("#confidential")
            shot = await screenshot(page, "desk-during-call")
            if os.environ.get("HOTLINE_UPDATE_SCREENSHOTS"):
                SCREENSHOTS.mkdir(parents=True, exist_ok=True)
                shutil.copy(shot, SCREENSHOTS / "desk.png")
            await page.click("#save-order")
            # The caller's open order about the same matter: asked first, nothing saved.
            await page.wait_for_selector(f'#dup-list li:has-text("#{earlier_order}")')
            assert await page.get_attribute("#order-result", "data-order-id") == ""
            await page.click("#dup-new")
            await page.wait_for_selector("#order-result:not([data-order-id=''])")
            order_id = int(await page.get_attribute("#order-result", "data-order-id") or 0)
            line, caller, recording, call_record, confidential = _row(
                hl, "SELECT line, caller_number, recording, call_record_id, confidential "
                    "FROM work_orders WHERE id = :id", id=order_id)
            rec_line, rec_caller, rec_recording = _row(
                hl, "SELECT line, caller, recording FROM call_records WHERE id = :id",
                id=call_id)
            assert (line, caller, call_record, bool(confidential)) == (
                LINE, CALLER, call_id, True)
            assert (rec_line, rec_caller) == (LINE, CALLER)
            assert recording == rec_recording and str(recording).endswith(".wav")
            # A consult answered from the knowledge base: closed on the spot.
            await page.fill("#description", "")
            await page.fill("#kb-q", "公积金提取")
            await page.click("#kb-search")
            await page.click(f'#kb-results li[data-entry="{entry["id"]}"] button.kb-answer')
            await page.wait_for_function(
                "(was) => document.querySelector('#order-result').dataset.orderId !== was",
                arg=str(order_id))
            kb_order = int(await page.get_attribute("#order-result", "data-order-id") or 0)
            status, category, kb_call = _row(
                hl, "SELECT status, category, call_record_id FROM work_orders WHERE id = :id",
                id=kb_order)
            assert (status, category, kb_call) == ("closed", "consult", call_id)
            assert "办结" in await page.inner_text("#order-result")
        finally:
            result = await call
    assert result.ok, result.output[:800]


async def test_the_desktop_is_for_signed_in_operators_only(hotline: HotlineStack) -> None:
    base = f"http://127.0.0.1:{hotline.http_port}"
    async with chromium() as browser:
        page = await new_page(browser)
        await page.goto(f"{base}/desk")              # anonymous: to the sign-in page
        await page.wait_for_url(f"{base}/signin?next=/desk")
        await sign_in_page(page, base, "sup1", DEFAULT_PASSWORD)
        await page.wait_for_url(f"{base}/console")
        resp = await page.goto(f"{base}/desk")
        assert resp is not None and resp.status == 403
        assert await page.inner_text("h1") == "403 无权访问"


async def _api_status(page: Page, method: str, path: str) -> int:
    """A request the page's own script would send (session cookie, CSRF header)."""
    status: int = await page.evaluate(
        "async ([m, p]) => (await window.hotline.api(m, p, m === 'GET' ? undefined : {}))"
        ".status", [method, path])
    return status


async def test_a_voice_message_reaches_the_inbox_and_becomes_an_order(
        hotline: HotlineStack) -> None:
    """Nobody serves 96119: a SIPp caller leaves a message; agent 1003 (fire-hazard, logged
    out of distribution, desk open) sees it arrive without a reload, listens, converts it
    in one click; the message leaves the inbox and a second conversion is refused."""
    hl = hotline
    base = f"http://127.0.0.1:{hl.http_port}"
    async with chromium() as browser:
        page = await new_page(browser)
        await sign_in_page(page, base, "op3", DEFAULT_PASSWORD, next_path="/desk")
        await page.wait_for_url(f"{base}/desk")
        await page.wait_for_selector('#live-status:text-is("已连接")')
        await page.wait_for_function("window.hotlineDesk.inboxLoads >= 1")
        assert await page.locator("#inbox-table tbody tr").count() == 0
        await page.evaluate("window.notReloaded = true")
        result = await hl.call(FIRE_LINE, "13900139200", scenario="caller_message.xml")
        assert result.ok, result.output[:1500]
        row = page.locator("#inbox-table tbody tr[data-message]")
        await row.wait_for()
        assert await page.evaluate("window.notReloaded") is True
        call_id = await row.get_attribute("data-message") or ""
        cells = await row.locator("td").all_inner_texts()
        assert cells[0] == FIRE_LINE and cells[1] == "139****9200"
        assert "13900139200" not in await page.content()
        # The player's file comes from the desk's route, with the page's session.
        wav = await page.evaluate(
            "async (u) => { const r = await fetch(u); const b = await r.arrayBuffer();"
            " return [r.status, r.headers.get('content-type'), b.byteLength]; }",
            await row.locator("audio").get_attribute("src"))
        assert wav[0] == 200 and wav[1] == "audio/wav" and wav[2] > 8000  # > 0.5 s at 8 kHz
        await row.locator("select.inbox-category").select_option("help")
        await row.locator("button.inbox-convert").click()
        await page.wait_for_selector("#inbox-result:not([data-order-id=''])")
        order_id = int(await page.get_attribute("#inbox-result", "data-order-id") or 0)
        line, caller, recording, call_record, category = _row(
            hl, "SELECT line, caller_number, recording, call_record_id, category "
                "FROM work_orders WHERE id = :id", id=order_id)
        rec_recording, rec_message, disposition = _row(
            hl, "SELECT recording, message, disposition FROM call_records WHERE id = :id",
            id=call_id)
        assert (line, caller, call_record, category) == (FIRE_LINE, "13900139200", call_id,
                                                        "help")
        assert disposition == "voice-message" and rec_message
        # The call's own recording (the message's when the call has none), as desk._from_call
        # links any order made from a call.
        assert recording == (rec_recording or rec_message)
        await page.wait_for_selector(f'#inbox-table tr[data-message="{call_id}"]',
                                     state="detached")
        assert await _api_status(
            page, "POST", f"/api/desk/voice-messages/{call_id}/order") == 409
        # Another line's agent gets neither the message nor its file.
        other = await new_page(browser)
        await sign_in_page(other, base, "op2", DEFAULT_PASSWORD, next_path="/desk")
        await other.wait_for_url(f"{base}/desk")
        assert await _api_status(
            other, "GET", f"/api/desk/voice-messages/{call_id}/recording") == 404


async def _transfer_rows(hl: HotlineStack, call_id: str, done: Any) -> list[dict[str, Any]]:
    """The call's transfer rows once ``done(rows)`` holds (read from the API)."""
    async with asyncio.timeout(30):
        while True:
            rows: list[dict[str, Any]] = (await hl.aapi(
                "GET", f"/api/calls/{call_id}/transfers"))["transfers"]
            if done(rows):
                return rows
            await asyncio.sleep(0.2)  # noqa: ASYNC110 - the transfer publishes nothing


async def _popped(page: Page, hl: HotlineStack, caller: str,
                  talk_ms: int = 30_000) -> tuple[str, Any]:
    call = asyncio.create_task(hl.call(LINE, caller, talk_ms=talk_ms))
    await page.wait_for_selector("#pop:not([data-call=''])")
    await page.wait_for_selector('#state[data-state="ON_CALL"]')
    return await page.get_attribute("#pop", "data-call") or "", call


async def test_transfer_buttons_blind_and_attended(hotline: HotlineStack) -> None:
    """Clicked on 1001's desktop during SIPp calls: attended to 120 (cancel, then again
    and complete), then a new call blind to 110; the page's rows and the API agree."""
    hl = hotline
    base = f"http://127.0.0.1:{hl.http_port}"
    hl.login("1001")
    await hl.aapi("POST", "/api/agents/1002/pause", {"reason": "training"})
    async with chromium() as browser:
        page = await new_page(browser)
        await sign_in_page(page, base, "op1", DEFAULT_PASSWORD, next_path="/desk")
        await page.wait_for_url(f"{base}/desk")
        await page.wait_for_selector('#live-status:text-is("已连接")')
        await page.wait_for_selector('#state[data-state="READY"]')
        call_id, citizen = await _popped(page, hl, "13800138601")
        try:
            await page.click('button.transfer[data-target="120"][data-mode="attended"]')
            first = page.locator("#transfer-rows tbody tr").first
            await first.wait_for()
            await _transfer_rows(hl, call_id, lambda r: r and r[0]["outcome"] == "consulting")
            await first.locator("button.transfer-cancel").click()
            await page.wait_for_selector(
                '#transfer-rows tbody tr:nth-child(1)[data-outcome="cancelled"]')
            await page.click('button.transfer[data-target="120"][data-mode="attended"]')
            second = page.locator("#transfer-rows tbody tr:nth-child(2)")
            await second.wait_for()
            await _transfer_rows(hl, call_id, lambda r: len(r) == 2
                                 and r[1]["outcome"] == "consulting")
            await second.locator("button.transfer-complete").click()
            await page.wait_for_selector(
                '#transfer-rows tbody tr:nth-child(2)[data-outcome="connected"]')
            assert "完成转接：已接通" in await page.inner_text("#transfer-result")
            rows = await _transfer_rows(hl, call_id, lambda r: len(r) == 2)
            assert [(r["target"], r["mode"]) for r in rows] == [("120", "attended")] * 2
            assert rows[0]["outcome"] == "cancelled"
            assert rows[1]["outcome"] in ("connected", "completed")
        finally:
            result = await citizen
        assert result.ok, result.output[:1500]     # the citizen was never dropped
        await page.wait_for_selector('#state[data-state="READY"]')
        call_id, citizen = await _popped(page, hl, "13800138602")
        try:
            # A new call: the last call's rows are gone from the page.
            assert await page.locator("#transfer-rows tbody tr").count() == 0
            await page.click('button.transfer[data-target="110"][data-mode="blind"]')
            await page.wait_for_selector('#transfer-rows tbody tr[data-outcome]')
            rows = await _transfer_rows(hl, call_id,
                                        lambda r: r and r[0]["outcome"] == "connected")
            assert [(r["target"], r["mode"]) for r in rows] == [("110", "blind")]
            # The agent is free once the centre has the citizen: the page shows it and
            # re-reads the row on that change.
            await page.wait_for_selector('#state[data-state="READY"]')
            await page.wait_for_selector(
                '#transfer-rows tbody tr:nth-child(1)[data-outcome="connected"]')
        finally:
            result = await citizen
        assert result.ok, result.output[:1500]
        await _three_way_progress_arrives_live(page, hl)


async def _three_way_progress_arrives_live(page: Page, hl: HotlineStack) -> None:
    """三方通话 to 120: the page shows the centre's answer; the agent leaves the conference
    (its leg hung up in Asterisk) and is free; the citizen hangs up after 12 s and the page
    shows the transfer completed — with no click after the first: the rows are re-read
    only when the socket announces a change of this call's transfer."""
    await page.wait_for_selector('#state[data-state="READY"]')
    call_id, citizen = await _popped(page, hl, "13800138603", talk_ms=12_000)
    try:
        loads = await page.evaluate("window.hotlineDesk.transferLoads")
        await page.click('button.transfer[data-target="120"][data-mode="three-way"]')
        await page.wait_for_selector(
            '#transfer-rows tbody tr:nth-child(1)[data-outcome="connected"]')
        rows = await _transfer_rows(hl, call_id, lambda r: r and r[0]["answered_at"])
        assert [(r["target"], r["mode"]) for r in rows] == [("120", "three-way")]
        assert hl.asterisk is not None
        agent_leg = next(line.split("!")[0] for line in
                         hl.asterisk.cli("core show channels concise").splitlines()
                         if line.startswith("PJSIP/1001-"))
        hl.asterisk.cli(f"channel request hangup {agent_leg}")
        await page.wait_for_selector('#state[data-state="READY"]')
    finally:
        result = await citizen
    assert result.ok, result.output[:1500]          # citizen and centre talked to the end
    await page.wait_for_selector(
        '#transfer-rows tbody tr:nth-child(1)[data-outcome="completed"]')
    # One load after the click, then one per announced change (connected, completed):
    # more than the click alone explains.
    assert await page.evaluate("window.hotlineDesk.transferLoads") >= loads + 3
    await asyncio.to_thread(hl.reset_for_next_test)   # the centre's leg, alone now
