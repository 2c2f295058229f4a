"""What the desktop and console benchmarks share (bench/screen_pop.py,
bench/console_latency.py, bench/desk_page_load.py, bench/http_load.py): agents logged in and
paused, callers kept waiting in a line, a signed-in page, the page's own render marks, and
percentiles. Not shipped; bounded waits everywhere."""

from __future__ import annotations

import asyncio
import statistics
from typing import Any

from playwright.async_api import Browser, Page

from testkit.browser import new_page, sign_in_page
from testkit.people import DEFAULT_PASSWORD
from testkit.stack import HotlineStack, free_udp_port

CALLER_TALK_MS = 400_000     # waiting callers stay for the whole run (SIPp's time-out bounds)
CALLER_TIMEOUT = 420


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile of ``values`` (p99 of fewer than 100 samples is the max)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def summary(values_ms: list[float]) -> str:
    return (f"p50 {percentile(values_ms, 50):.1f} ms, p99 {percentile(values_ms, 99):.1f} ms, "
            f"max {max(values_ms):.1f} ms, mean {statistics.mean(values_ms):.1f} ms "
            f"({len(values_ms)} samples)")


async def paused_agents(stack: HotlineStack, agent_ids: list[str],
                        reason: str = "meeting") -> None:
    """Log the agents in and pause them through the API (rows in every snapshot, none takes
    a call)."""
    for agent in agent_ids:
        await stack.aapi("POST", f"/api/agents/{agent}/login", {})
        await stack.aapi("POST", f"/api/agents/{agent}/pause", {"reason": reason})


def waiting_callers(stack: HotlineStack, line: str, count: int,
                    first: int = 0) -> list[asyncio.Task[object]]:
    """``count`` SIPp callers on ``line`` that stay in it (cancel them with
    :func:`stop_callers`)."""
    return [asyncio.create_task(stack.sipp.call(
        line, f"1390000{first + i:04d}", local_port=free_udp_port(),
        media_port=stack._media_port(), talk_ms=CALLER_TALK_MS, timeout=CALLER_TIMEOUT))
        for i in range(count)]


async def stop_callers(tasks: list[asyncio.Task[object]]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def until_waiting(stack: HotlineStack, line: str, count: int,
                        timeout: float = 300.0) -> int:
    """Until at least ``count`` callers wait in ``line`` (the API's live figures), or
    ``timeout`` seconds have passed: the number waiting at the end (a loaded machine may
    not get every SIPp caller into the line; the bench reports what it measured with)."""
    waiting = 0
    try:
        async with asyncio.timeout(timeout):
            while waiting < count:
                await asyncio.sleep(0.5)
                waiting = await _waiting(stack, line, waiting)
    except TimeoutError:
        pass
    return waiting


async def _waiting(stack: HotlineStack, line: str, last: int) -> int:
    try:
        answer = await stack.aapi("GET", "/api/queues")
    except (TimeoutError, OSError):   # a loaded machine: ask again, within the bound
        return last
    found = answer.get("lines", {}).get(line, {}).get("waiting")
    return int(found) if isinstance(found, int) else last


async def signed_in_page(browser: Browser, stack: HotlineStack, user: str,
                         path: str) -> Page:
    """A page signed in as ``user`` (the sign-in page, as a person would) showing ``path``."""
    base = f"http://127.0.0.1:{stack.http_port}"
    page = await new_page(browser)
    await sign_in_page(page, base, user, DEFAULT_PASSWORD, path)
    # Bounded, but longer than a test's 20 s: the benches run with many callers on 2 cores.
    await page.wait_for_url(f"{base}{path}", wait_until="domcontentloaded", timeout=120_000)
    return page


async def next_render(page: Page, marks: str, counter: str, before: int,
                      timeout_ms: int = 90_000) -> dict[str, Any]:
    """The page's newest render mark once its ``counter`` (a JS expression) has passed
    ``before``: ``marks`` names the page's array of ``{..., drawn: Date.now()/1000}``."""
    await page.wait_for_function(f"{counter} > {before}", timeout=timeout_ms)
    found: dict[str, Any] = await page.evaluate(f"{marks}[{marks}.length - 1]")
    return found
