"""Headless Chromium for page tests and benchmarks: Debian's ``/usr/bin/chromium`` driven by
Playwright (async API, as the tests run in asyncio), with its executable path set —
nothing is downloaded (``playwright install`` is never run).

    async with chromium() as browser:
        page = await new_page(browser)            # 1366×768, zh-CN, own cookies
        await page.goto(url)
        await screenshot(page, "console")        # → $HOTLINE_ARTEFACTS/console.png

Screenshots are test artefacts: written under ``$HOTLINE_ARTEFACTS`` (default
``/tmp/hotline-artefacts``), kept after the run.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from playwright.async_api import Browser, Page, async_playwright

CHROMIUM = "/usr/bin/chromium"
# This machine's network is closed: without the background-networking flags Chromium keeps
# trying Google's hosts. Playwright gives each launch a fresh, empty profile directory.
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync")
VIEWPORT = {"width": 1366, "height": 768}
# Every wait in a page test is bounded (Playwright's own timeouts, in milliseconds).
TIMEOUT_MS = 20_000


def artefact_dir() -> Path:
    path = Path(os.environ.get("HOTLINE_ARTEFACTS", "/tmp/hotline-artefacts"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def chromium_path() -> str:
    if not Path(CHROMIUM).exists():
        raise RuntimeError(f"{CHROMIUM} is missing: `make provision` installs Debian's "
                           "chromium (stack/host_packages.txt)")
    return CHROMIUM


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    """Debian's Chromium, headless; closed (and its profile removed) on exit."""
    path = chromium_path()
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=path, args=list(FLAGS),
                                           headless=True, timeout=TIMEOUT_MS)
        try:
            yield browser
        finally:
            await browser.close()


async def new_page(browser: Browser) -> Page:
    """A page in a context of its own (its own cookies: one person), 1366×768, zh-CN."""
    context = await browser.new_context(viewport=VIEWPORT,  # type: ignore[arg-type]
                                        locale="zh-CN", timezone_id="Asia/Shanghai")
    context.set_default_timeout(TIMEOUT_MS)
    return await context.new_page()


async def screenshot(page: Page, name: str) -> Path:
    """Saves the page as ``<artefacts>/<name>.png`` and returns the path."""
    path = artefact_dir() / f"{name}.png"
    await page.screenshot(path=str(path), full_page=False)
    return path


async def sign_in_page(page: Page, base_url: str, user: str, password: str,
                       next_path: str = "") -> None:
    """Signs in through the sign-in page's form, as a person would."""
    url = f"{base_url}/signin" + (f"?next={next_path}" if next_path else "")
    await page.goto(url)
    await page.fill("#user", user)
    await page.fill("#password", password)
    await page.click("#signin-button")
