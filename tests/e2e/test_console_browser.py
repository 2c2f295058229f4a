"""The supervisor console in Debian's headless Chromium against a real stack (Asterisk,
SIPp phones and callers, redis-server, SQLite): the supervisor signs in on the sign-in
page; the waiting count and the ticking longest wait follow SIPp callers without a reload;
"恢复" and "示忙" on the console change the agents' states (read back through the API); an
operator gets the 403 page. The screenshot of the console with calls waiting (1366×768) is
kept as a test artefact."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from testkit.browser import chromium, new_page, screenshot, sign_in_page
from testkit.people import DEFAULT_PASSWORD, add_user
from testkit.stack import Agent, HotlineStack

pytestmark = pytest.mark.e2e
LINE = "12345"          # the general line (skill general)


@pytest.fixture(scope="module")
def hotline() -> Iterator[HotlineStack]:
    stack = HotlineStack(agents=[Agent("1001", {"general": 1}), Agent("1002", {"general": 1}),
                                 Agent("1003", {"tax": 1})]).start()
    try:
        stack.wait_healthy()
        add_user(stack.settings.database_url, "sup1", "supervisor")
        add_user(stack.settings.database_url, "op1", "operator", agent_id="1001")
        yield stack
    finally:
        stack.stop()


def _state(hl: HotlineStack, agent: str) -> dict[str, str]:
    for a in hl.api("GET", "/api/agents")["agents"]:
        if a["agent_id"] == agent:
            return {"state": a["state"], "reason": a["pause_reason"]}
    raise AssertionError(f"agent {agent} not listed")


async def test_console_follows_waiting_callers_and_acts_on_agents(
        hotline: HotlineStack) -> None:
    hl = hotline
    base = f"http://127.0.0.1:{hl.http_port}"
    for agent in ("1001", "1002", "1003"):
        hl.login(agent)
    for agent in ("1001", "1002"):       # nobody takes general calls: callers wait
        await hl.aapi("POST", f"/api/agents/{agent}/pause", {"reason": "meeting"})
    async with chromium() as browser:
        page = await new_page(browser)
        await sign_in_page(page, base, "sup1", DEFAULT_PASSWORD, next_path="/console")
        await page.wait_for_url(f"{base}/console")
        await page.wait_for_function("window.hotlineConsole.figures >= 1")
        # A marker that a reload would wipe: every change below arrives over the socket.
        await page.evaluate("window.notReloaded = true")
        waiting = f'#queues tr[data-queue="line:{LINE}"] td.waiting'
        calls = [asyncio.create_task(hl.call(LINE, f"1380013870{i}", talk_ms=25_000))
                 for i in range(2)]
        try:
            await page.wait_for_selector(f"{waiting}:text-is('2')")
            # The longest wait ticks in the page between two snapshots.
            cell = f'#queues tr[data-queue="line:{LINE}"] td.longest-wait'
            shown = await page.inner_text(cell)
            await page.wait_for_function(
                "([sel, was]) => document.querySelector(sel).textContent !== was",
                arg=[cell, shown])
            await screenshot(page, "console-calls-waiting")
            # "恢复" for 1001: it takes one caller; one still waits.
            await page.click('#agents tr[data-agent="1001"] button:text("恢复")')
            await page.wait_for_selector(f"{waiting}:text-is('1')")
            assert _state(hl, "1001")["state"] in ("ringing", "on_call")
            # "示忙" for 1003 (tax, idle): paused for the supervisor's reason.
            await page.click('#agents tr[data-agent="1003"] button:text("示忙")')
            await page.wait_for_selector(
                '#agents tr[data-agent="1003"] td.state[data-state="paused"]')
            assert _state(hl, "1003") == {"state": "paused", "reason": "supervisor"}
            assert await page.evaluate("window.notReloaded") is True
            # An operator may not open the console.
            other = await new_page(browser)
            await sign_in_page(other, base, "op1", DEFAULT_PASSWORD)
            await other.wait_for_url(f"{base}/desk")
            resp = await other.goto(f"{base}/console")
            assert resp is not None and resp.status == 403
            assert await other.inner_text("h1") == "403 无权访问"
        finally:
            results = await asyncio.gather(*calls)
    assert all(r.ok for r in results), [r.output[:800] for r in results]
