"""The supervisor console in Debian's headless Chromium against the composed API on
127.0.0.1 (real redis-server, migrated SQLite): a speech alert published on the hotline's
alerts channel appears with its call without a reload; "加入限呼" puts the number on the
restriction list for the days asked; a bad number is refused with the API's reason and
nothing is written."""

from __future__ import annotations

import json
from pathlib import Path

from testkit.browser import chromium, new_page, sign_in_page
from testkit.people import DEFAULT_PASSWORD, add_user
from tests.security.composed import composed

DAY = 86_400.0


async def test_alerts_arrive_live_and_a_number_is_restricted(tmp_path: Path,
                                                             redis_url: str) -> None:
    async with composed(tmp_path, redis_url) as app, chromium() as browser:
        add_user(app.maker, "sup1", "supervisor")
        base = str(app.client.make_url("")).rstrip("/")
        page = await new_page(browser)
        await sign_in_page(page, base, "sup1", DEFAULT_PASSWORD, next_path="/console")
        await page.wait_for_url(f"{base}/console")
        await page.wait_for_function("window.hotlineConsole.figures >= 1")
        await page.evaluate("window.notReloaded = true")
        alert = {"type": "keyword_alert", "keyword": "着火", "topic": "fire", "line": "12345",
                 "call_id": "1700000000.42", "leg": "caller", "at_seconds": 12.3}
        await app.redis.publish(app.distributor.names.alerts,
                                json.dumps(alert, ensure_ascii=False))
        item = await page.wait_for_selector('#alerts li[data-call="1700000000.42"]')
        assert item is not None
        text = await item.inner_text()
        assert "着火" in text and "fire" in text and "12345" in text
        # The restriction form: 13800138000 for 7 days, by sup1.
        await page.fill('#restrict-form input[name="number"]', "13800138000")
        await page.fill('#restrict-form input[name="reason"]', "恶意骚扰")
        await page.fill('#restrict-form input[name="days"]', "7")
        await page.click('#restrict-form button[type="submit"]')
        await page.wait_for_selector("#restrict-result:has-text('已限呼')")
        entry = await app.restrictions.restriction_of("13800138000")
        assert entry is not None and entry.by == "sup1" and entry.reason == "恶意骚扰"
        assert entry.until - entry.since == 7 * DAY
        # A number the API refuses (letters): its reason is shown, nothing is written.
        await page.evaluate("""() => {
            const f = document.getElementById('restrict-form');
            f.noValidate = true;   // the browser's own check would stop it first
        }""")
        await page.fill('#restrict-form input[name="number"]', "12ab")
        await page.fill('#restrict-form input[name="days"]', "")
        await page.click('#restrict-form button[type="submit"]')
        await page.wait_for_selector("#restrict-result:has-text('未加入（422）')")
        assert "number" in await page.inner_text("#restrict-result")
        assert await app.restrictions.restriction_of("12ab") is None
        assert await page.evaluate("window.notReloaded") is True
