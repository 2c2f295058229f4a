"""The sign-in page and the supervisor console in Debian's headless Chromium, against the
composed API served on 127.0.0.1 (real redis-server, migrated SQLite, the core's route
list): signing in as a person would, who may open the console, live updates over the web
socket without a reload, the pause action, the CSRF refusal, the static files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hotline_core.acd.agents import AgentState
from testkit.browser import chromium, new_page, screenshot, sign_in_page
from testkit.people import DEFAULT_PASSWORD, add_user
from tests.security.composed import Composed, composed


def _base(app: Composed) -> str:
    return str(app.client.make_url("")).rstrip("/")


def _people(app: Composed) -> None:
    add_user(app.maker, "sup1", "supervisor")
    add_user(app.maker, "op1", "operator", agent_id="1001")


async def _state(app: Composed, agent: str) -> tuple[AgentState, str]:
    for a in await app.distributor.view.agents():
        if a.agent_id == agent:
            return a.state, a.pause_reason
    raise AssertionError(f"agent {agent} unknown to the distributor")


async def test_supervisor_signs_in_and_the_console_follows_the_agents_live(
        tmp_path: Path, redis_url: str) -> None:
    async with composed(tmp_path, redis_url) as app, chromium() as browser:
        _people(app)
        base = _base(app)
        page = await new_page(browser)
        # Not signed in: the console sends the person to the sign-in page, and back after.
        await page.goto(f"{base}/console")
        assert page.url == f"{base}/signin?next=/console"
        await page.fill("#user", "sup1")
        await page.fill("#password", DEFAULT_PASSWORD)
        await page.click("#signin-button")
        await page.wait_for_url(f"{base}/console")
        assert await page.get_attribute("html", "lang") == "zh-CN"
        csrf = await page.get_attribute('meta[name="csrf-token"]', "content")
        assert csrf and len(csrf) >= 16
        # The first snapshot comes over the socket (no call yet: no queue rows).
        await page.wait_for_function("window.hotlineConsole.figures >= 1")
        assert await page.inner_text("#live-status") == "实时"
        # Agent 1001 logs in (its own token, not through the page): the console shows it
        # ready without a reload.
        await app.json("POST", "/api/agents/1001/login", "1001", {})
        ready = '#agents tr[data-agent="1001"] td.state[data-state="ready"]'
        await page.wait_for_selector(ready)
        # "示忙" with the first reason: the distributor has 1001 paused for "supervisor".
        await page.click('#agents tr[data-agent="1001"] button:text("示忙")')
        await page.wait_for_selector(
            '#agents tr[data-agent="1001"] td.state[data-state="paused"]')
        assert await _state(app, "1001") == (AgentState.PAUSED, "supervisor")
        assert await page.inner_text('#agents tr[data-agent="1001"] td.pause-reason') \
            == "主管置忙"
        await screenshot(page, "console-composed")
        # "恢复": ready again.
        await page.click('#agents tr[data-agent="1001"] button:text("恢复")')
        await page.wait_for_selector(ready)
        assert (await _state(app, "1001"))[0] is AgentState.READY
        # A state change from this page without the CSRF header is refused; nothing moves.
        refused: dict[str, Any] = await page.evaluate("""async () => {
            const r = await fetch('/api/agents/1001/pause', {method: 'POST',
              headers: {'Content-Type': 'application/json'},
              body: JSON.stringify({reason: 'supervisor'})});
            return {status: r.status, body: await r.json()};
        }""")
        assert refused["status"] == 403 and refused["body"]["field"] == "X-CSRF-Token"
        assert (await _state(app, "1001"))[0] is AgentState.READY


async def test_an_operator_gets_a_403_page_and_a_wrong_password_is_refused(
        tmp_path: Path, redis_url: str) -> None:
    async with composed(tmp_path, redis_url) as app, chromium() as browser:
        _people(app)
        base = _base(app)
        page = await new_page(browser)
        await sign_in_page(page, base, "sup1", "not the password 1")
        await page.wait_for_selector("#signin-error:text('用户名或密码错误')")
        assert page.url.startswith(f"{base}/signin")
        await sign_in_page(page, base, "op1", DEFAULT_PASSWORD)
        await page.wait_for_url(f"{base}/desk")  # an operator lands on its desktop
        resp = await page.goto(f"{base}/console")
        assert resp is not None and resp.status == 403
        assert await page.inner_text("h1") == "403 无权访问"
        assert "operator" in await page.inner_text("main")
        assert await page.query_selector("#queues") is None


async def test_static_files_serve_only_plain_names(tmp_path: Path, redis_url: str) -> None:
    async with composed(tmp_path, redis_url) as app:
        resp = await app.client.get("/static/vendor/echarts.min.js")
        assert resp.status == 200 and b"echarts" in (await resp.read())[:4000]
        resp = await app.client.get("/static/console.js")
        assert resp.status == 200 and "javascript" in resp.headers["Content-Type"]
        for bad in ("/static/..%2Fapp.py", "/static/.hidden.js", "/static/wallboard.html",
                    "/static/vendor/..%2F..%2Fapp.py", "/static/nope.js"):
            resp = await app.client.get(bad)
            assert resp.status == 404, bad
        resp = await app.client.get("/signin?next=//evil.example/x")
        text = await resp.text()
        assert resp.status == 200 and 'data-next=""' in text
