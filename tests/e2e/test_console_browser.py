"""The supervisor console in Debian's headless Chromium against a real stack (Asterisk,
SIPp phones and callers, redis-server, SQLite), one stack for the module.

In the browser: the supervisor signs in on the sign-in page; the waiting count and the
ticking longest wait follow SIPp callers without a reload; "恢复" and "示忙" change the
agents' states (read back through the API), and the paused agent's own /desk page (an
operator in a second browser context) shows the pause without a reload; "监听" on an agent
talking rings the supervisor's SIPp phone into the call (ChanSpy on that agent's leg, seen
in Asterisk) and "结束监听" hangs it up; the work-order lights per unit count orders the
test wrote with known due times, and a new overdue order shows after the next socket
message; an operator gets the 403 page. The screenshot of the console with calls waiting
(1366×768) is kept as a test artefact (docs/screenshots/console.png with
HOTLINE_UPDATE_SCREENSHOTS=1).

Over the API (same stack): listen, whisper and barge ring only the signed-in supervisor's
own phone and set ChanSpy's mode on the Asterisk side; in listen mode the supervisor's
phone receives the call's audio (it echoes every RTP packet it gets, so Asterisk's receive
count on the spy leg grows only if audio reached the phone); refusals without sign-in,
for an operator, a supervisor without a phone, a body naming a phone, hostile call ids,
a call that is not live.
"""

from __future__ import annotations

import asyncio
import math
import os
import re
import shutil
import struct
import time
import wave
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from hotline_core.db import make_engine, make_sessionmaker
from hotline_core.workorders.model import WorkOrder
from testkit.browser import chromium, new_page, screenshot, sign_in_page
from testkit.people import DEFAULT_PASSWORD, add_user, sign_in
from testkit.rtp_pcap import wav_to_pcap
from testkit.stack import Agent, HotlineStack

pytestmark = pytest.mark.e2e
LINE = "12345"          # the general line (skill general)
SUP_PHONE = "1900"      # the supervisor's own SIP phone: in the agent directory, never logged in
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
CSRF = "X-CSRF-Token"


@pytest.fixture(scope="module")
def hotline() -> Iterator[HotlineStack]:
    stack = HotlineStack(agents=[Agent("1001", {"general": 1}), Agent("1002", {"general": 1}),
                                 Agent("1003", {"tax": 1}),
                                 Agent(SUP_PHONE, {"general": 9})]).start()
    try:
        stack.wait_healthy()
        db = stack.settings.database_url
        add_user(db, "sup1", "supervisor", agent_id=SUP_PHONE)
        add_user(db, "sup2", "supervisor")                  # no phone tied to this one
        add_user(db, "op1", "operator", agent_id="1001")
        add_user(db, "op3", "operator", agent_id="1003")
        yield stack
    finally:
        stack.stop()


def _state(hl: HotlineStack, agent: str) -> dict[str, Any]:
    for a in hl.api("GET", "/api/agents")["agents"]:
        if a["agent_id"] == agent:
            return {"state": a["state"], "reason": a["pause_reason"],
                    "call": a["current_call"]}
    return {"state": "logged_out", "reason": "", "call": None}


async def _until(check: Any, what: str, timeout: float = 30.0) -> Any:
    """``check()`` (run in a thread) until it returns something true."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = await asyncio.to_thread(check)
        if got:
            return got
        await asyncio.sleep(0.2)
    raise AssertionError(f"not seen within {timeout}s: {what}")


def _spy_legs(hl: HotlineStack) -> list[list[str]]:
    """Asterisk's channels of the supervisor's phone (concise: name!context!exten!prio!
    state!application!data!…)."""
    assert hl.asterisk is not None
    rows = hl.asterisk.cli("core show channels concise").splitlines()
    return [r.split("!") for r in rows if r.startswith(f"PJSIP/{SUP_PHONE}-")]


def _channel_of(hl: HotlineStack, agent: str) -> str:
    assert hl.asterisk is not None
    rows = hl.asterisk.cli("core show channels concise").splitlines()
    names = [r.split("!")[0] for r in rows if r.startswith(f"PJSIP/{agent}-")]
    assert len(names) == 1, rows
    return names[0]


def _received_by_asterisk(hl: HotlineStack, channel: str) -> int:
    """RTP packets Asterisk received on ``channel`` (``pjsip show channelstats``)."""
    assert hl.asterisk is not None
    out = hl.asterisk.cli("pjsip show channelstats")
    short = channel.split("/", 1)[1]
    for line in out.splitlines():
        if short in line.split():
            # [BridgeId] ChannelId UpTime Codec  Receive: Count Lost Pct Jitter  Transmit: …
            numbers = [f for f in line.split() if re.fullmatch(r"[0-9]+", f)]
            return int(numbers[0])
    return -1


def _talking_caller(hl: HotlineStack, seconds: int = 45) -> str:
    """caller.xml saying a 440 Hz tone for ``seconds`` from the moment Asterisk answers
    (the shipped pcap lasts 2.6 s: over before the agent answers)."""
    wav = hl.sipp.work / "tone.wav"
    with wave.open(str(wav), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"".join(
            struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * i / 8000)))
            for i in range(8000 * seconds)))
    wav_to_pcap(wav, hl.sipp.work / "tone.pcap")
    text = (hl.sipp.work / "caller.xml").read_text()
    assert "/usr/share/sip-tester/g711a.pcap" in text
    (hl.sipp.work / "caller-talks.xml").write_text(
        text.replace("/usr/share/sip-tester/g711a.pcap", f"{hl.sipp.inside}/tone.pcap"))
    return "caller-talks.xml"


def _write_orders(hl: HotlineStack, orders: list[tuple[str, str, timedelta, timedelta]]
                  ) -> None:
    """Orders a unit works on: (unit, status, started this long ago, due in this long)."""
    engine = make_engine(hl.settings.database_url)
    try:
        now = datetime.now(UTC)
        with make_sessionmaker(engine)() as session, session.begin():
            for unit, status, ago, due_in in orders:
                session.add(WorkOrder(
                    received_at=now - ago, handling_started_at=now - ago,
                    dispatched_at=now - ago, due_at=now + due_in, channel="phone",
                    category="投诉", description=f"亮灯测试 {unit}", status=status,
                    lead_unit=unit))
    finally:
        engine.dispose()


HOUR, DAY = timedelta(hours=1), timedelta(days=1)
# The shipped presets' rule (presets/*.toml [lights]): yellow when at most 25 % of the
# allowance is left; red once past due. Each order is far from a boundary:
LIGHT_ORDERS = [
    ("unit-a", "dispatched", HOUR, 30 * DAY),   # 30 days of 30 days + 1 hour left: green
    ("unit-a", "handling", HOUR, 10 * DAY),     # green
    ("unit-a", "handling", 30 * DAY, HOUR),     # 1 hour of 30 days left (0.1 %): yellow
    ("unit-a", "redo", 10 * DAY, -HOUR),        # due an hour ago: red (overdue)
    ("unit-b", "dispatched", 10 * DAY, -DAY),   # red
    ("unit-b", "closed", 10 * DAY, -DAY),       # closed: no light
]
# unit: green, yellow, red, total — counted by hand from the list above.
EXPECTED_LIGHTS = {"unit-a": ["2", "1", "1", "4"], "unit-b": ["0", "0", "1", "1"]}


async def _lights_row(page: Any, unit: str) -> list[str]:
    cells = await page.query_selector_all(f'#lights tr[data-unit="{unit}"] td')
    return [await c.inner_text() for c in cells][1:]


async def test_console_follows_waiting_callers_and_acts_on_agents(
        hotline: HotlineStack) -> None:
    hl = hotline
    base = f"http://127.0.0.1:{hl.http_port}"
    await asyncio.to_thread(_write_orders, hl, LIGHT_ORDERS)
    for agent in ("1001", "1002", "1003"):
        hl.login(agent)
    for agent in ("1001", "1002"):       # nobody takes general calls: callers wait
        await hl.aapi("POST", f"/api/agents/{agent}/pause", {"reason": "meeting"})
    async with chromium() as browser:
        page = await new_page(browser)
        await sign_in_page(page, base, "sup1", DEFAULT_PASSWORD, next_path="/console")
        await page.wait_for_url(f"{base}/console")
        await page.wait_for_function("window.hotlineConsole.figures >= 1")
        # The agent 1003's own desktop, open in a context of its own (another person).
        desk = await new_page(browser)
        await sign_in_page(desk, base, "op3", DEFAULT_PASSWORD)
        await desk.wait_for_url(f"{base}/desk")
        await desk.wait_for_selector('#state[data-state="READY"]')
        # Markers that a reload would wipe: every change below arrives over the sockets.
        await page.evaluate("window.notReloaded = true")
        await desk.evaluate("window.notReloaded = true")
        # Work-order lights per unit, as written above.
        await page.wait_for_selector('#lights tr[data-unit="unit-b"]')
        for unit, expected in EXPECTED_LIGHTS.items():
            assert await _lights_row(page, unit) == expected, unit
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
            # A new overdue order of unit-b: shown after the next socket message (the
            # pause below makes one), without a reload.
            await asyncio.to_thread(_write_orders, hl, [("unit-b", "handling", DAY, -HOUR)])
            # "示忙" for 1003 (tax, idle): paused for the supervisor's reason, and its own
            # desktop shows it.
            await page.click('#agents tr[data-agent="1003"] button:text("示忙")')
            await page.wait_for_selector(
                '#agents tr[data-agent="1003"] td.state[data-state="paused"]')
            assert _state(hl, "1003")["state"] == "paused"
            assert _state(hl, "1003")["reason"] == "supervisor"
            await desk.wait_for_selector('#state[data-state="PAUSED"]')
            # the console's label for its reason code (web/pages/console: 主管置忙)
            shown = await desk.inner_text("#state")
            assert "主管置忙" in shown and "supervisor" not in shown, shown
            await page.wait_for_function(
                "document.querySelector('#lights tr[data-unit=\"unit-b\"] td.light-red')"
                ".textContent === '2'")
            assert await _lights_row(page, "unit-b") == ["0", "0", "2", "2"]
            # "监听" on 1001's call: the supervisor's phone rings and spies on 1001's leg.
            await page.click('#agents tr[data-agent="1001"] button.spy-listen')
            await page.wait_for_selector('#spy-status[data-mode="listen"]')
            agent_leg = await asyncio.to_thread(_channel_of, hl, "1001")
            legs = await _until(lambda: [r for r in _spy_legs(hl) if r[5] == "ChanSpy"],
                                "the supervisor's phone in ChanSpy")
            assert legs[0][6] == f"{agent_leg},qES", legs
            assert SUP_PHONE in await page.inner_text("#spy-status")
            if os.environ.get("HOTLINE_UPDATE_SCREENSHOTS"):
                shot = await screenshot(page, "console-listening")
                SCREENSHOTS.mkdir(parents=True, exist_ok=True)
                shutil.copy(shot, SCREENSHOTS / "console.png")
            await page.click('#spy-status button:text("结束监听")')
            await _until(lambda: not _spy_legs(hl), "the spy leg hung up")
            assert await page.evaluate("window.notReloaded") is True
            assert await desk.evaluate("window.notReloaded") is True
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


async def _set_state(hl: HotlineStack, agent: str, state: str) -> None:
    if _state(hl, agent)["state"] == "logged_out":
        await asyncio.to_thread(hl.login, agent)
    if state == "paused":
        await hl.aapi("POST", f"/api/agents/{agent}/pause", {"reason": "meeting"})
    else:
        await hl.aapi("POST", f"/api/agents/{agent}/ready", {})


async def test_listen_whisper_and_barge_ring_only_the_supervisors_own_phone(
        hotline: HotlineStack) -> None:
    hl = hotline
    base = f"http://127.0.0.1:{hl.http_port}"
    await _until(lambda: not _spy_legs(hl) and _state(hl, "1001")["call"] is None,
                 "the first test's calls over", timeout=60)
    for agent, state in (("1001", "paused"), ("1003", "paused"), ("1002", "ready")):
        await _set_state(hl, agent, state)
    scenario = await asyncio.to_thread(_talking_caller, hl)
    call = asyncio.create_task(hl.call(LINE, "13800138777", talk_ms=30_000,
                                       scenario=scenario))
    try:
        talking = await _until(lambda: _state(hl, "1002")["state"] == "on_call"
                               and _state(hl, "1002"), "agent 1002 on the call")
        call_id = talking["call"]
        path = f"{base}/api/calls/{call_id}/spy"
        jar = aiohttp.CookieJar(unsafe=True)
        timeout = aiohttp.ClientTimeout(total=20)
        async with aiohttp.ClientSession(timeout=timeout) as anon, \
                aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True),
                                      timeout=timeout) as op, \
                aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True),
                                      timeout=timeout) as phoneless, \
                aiohttp.ClientSession(cookie_jar=jar, timeout=timeout) as sup:
            async with anon.post(path, json={"mode": "listen"}) as r:
                assert r.status == 401
            op_csrf = await sign_in(op, base, "op1")
            async with op.post(path, json={"mode": "listen"}, headers={CSRF: op_csrf}) as r:
                assert r.status == 403
            p_csrf = await sign_in(phoneless, base, "sup2")
            async with phoneless.post(path, json={"mode": "listen"},
                                      headers={CSRF: p_csrf}) as r:
                assert r.status == 409
                assert "no phone is tied to you" in (await r.json())["error"]
            csrf = await sign_in(sup, base, "sup1")
            h = {CSRF: csrf}
            # Another person's phone cannot be asked for: the key is refused, nothing rings.
            async with sup.post(path, json={"mode": "listen", "phone": "1001"},
                                headers=h) as r:
                assert r.status == 422 and (await r.json())["field"] == "phone"
            async with sup.post(path, json={"mode": "record"}, headers=h) as r:
                assert r.status == 422 and (await r.json())["field"] == "mode"
            async with sup.post(path, json={"mode": "listen"}) as r:     # no CSRF header
                assert r.status == 403
            for hostile in ("1.2%3BHangup", "%D9%A1%D9%A2.3", "..%2F..%2Fetc", "9" * 40,
                            "1764000000.999"):   # the last: well formed, not live
                async with sup.post(f"{base}/api/calls/{hostile}/spy", json={"mode": "listen"},
                                    headers=h) as r:
                    assert r.status == 404, hostile
            assert _spy_legs(hl) == []
            agent_leg = await asyncio.to_thread(_channel_of, hl, "1002")

            # listen: the supervisor's phone rings, answers and hears the call.
            async with sup.post(path, json={"mode": "listen"}, headers=h) as r:
                assert r.status == 201, await r.text()
                body = await r.json()
            assert (body["phone"], body["agent_id"], body["mode"]) == (SUP_PHONE, "1002",
                                                                       "listen")
            legs = await _until(lambda: [r for r in _spy_legs(hl) if r[5] == "ChanSpy"],
                                "the spy leg up")
            assert legs[0][6] == f"{agent_leg},qES"
            spy_leg = legs[0][0]
            # The phone sends back each RTP packet it receives (SIPp -rtp_echo): Asterisk
            # receives packets on the spy leg only if the call's audio reached the phone.
            first = await _until(lambda: _received_by_asterisk(hl, spy_leg) >= 50,
                                 "50 packets echoed by the supervisor's phone")
            assert first
            seen = await asyncio.to_thread(_received_by_asterisk, hl, spy_leg)
            await _until(lambda: _received_by_asterisk(hl, spy_leg) > seen + 25,
                         "audio still flowing to the supervisor's phone")

            # whisper, then barge: the earlier leg is hung up, ChanSpy runs in the new mode.
            for mode, options in (("whisper", "qESw"), ("barge", "qESB")):
                async with sup.post(path, json={"mode": mode}, headers=h) as r:
                    assert r.status == 201, await r.text()
                legs = await _until(
                    lambda o=options: [r for r in _spy_legs(hl)
                                       if r[5] == "ChanSpy" and r[6].endswith("," + o)]
                    and len(_spy_legs(hl)) == 1 and _spy_legs(hl),
                    f"one spy leg in {mode} mode")
                assert legs[0][6] == f"{agent_leg},{options}"
                assert legs[0][0] != spy_leg
                spy_leg = legs[0][0]

            # stop: the phone's leg hangs up; the citizen and the agent talk on.
            async with sup.delete(path, headers=h) as r:
                assert r.status == 200 and (await r.json())["stopped"] == 1
            await _until(lambda: not _spy_legs(hl), "the spy leg hung up")
            assert _state(hl, "1002")["state"] == "on_call"
            assert await asyncio.to_thread(_channel_of, hl, "1002") == agent_leg
    finally:
        result = await call
    assert result.ok, result.output[:800]
    # Once the call is over it cannot be listened in on.
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as sup:
        csrf = await sign_in(sup, base, "sup1")
        async with sup.post(path, json={"mode": "listen"}, headers={CSRF: csrf}) as r:
            assert r.status == 404
