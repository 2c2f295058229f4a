"""Call-centre figures (话务报表) from the running stack: calls through real Asterisk become
30-minute rows in the database, and the supervisors' route reports them.

Expected figures come from the calls the test makes (hand count): one call answered by the
agent, one caller who hangs up during the greeting (abandoned, 呼损).
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from testkit import processes
from testkit.stack import HotlineStack

pytestmark = pytest.mark.e2e


async def test_calls_become_stored_figures_for_supervisors(hotline: HotlineStack) -> None:
    # The module's own stack (tests/e2e/conftest.py): only 1001 takes line 12345.
    hotline.login("1001")
    answered = await hotline.call("12345", "13800138601", talk_ms=6000)
    assert answered.ok, answered.output[:1500]
    abandoned = await hotline.call("12345", "13800138602", talk_ms=500)
    assert abandoned.ok, abandoned.output[:1500]
    first = await hotline.wait_call(lambda c: c["caller"].endswith("8601") and c["ended_at"])
    await hotline.wait_call(lambda c: c["caller"].endswith("8602") and c["ended_at"])
    assert first["disposition"] == "answered"
    # The core stores the rows when it starts and every five minutes after: a restart
    # stores them now (and shows they come from the database, not the core's memory).
    processes.stop(hotline.core, grace=15)
    hotline.start_core()
    day = datetime.fromisoformat(first["offered_at"]).astimezone(
        ZoneInfo("Asia/Shanghai")).date().isoformat()
    figures = await _stored(hotline, day)
    line = figures["day"]["lines"]["12345"]
    assert (line["offered"], line["answered"], line["abandoned"]) == (2, 1, 1), figures
    assert line["connection_rate"] == 0.5
    assert figures["day"]["total"]["offered"] == 2

    # Only supervisors read them.
    denied = await hotline.aapi("GET", f"/api/call-figures/day?date={day}", as_="1001")
    assert denied["status"] == 403


async def _stored(hotline: HotlineStack, day: str) -> Any:
    """The day's figures once the restarted core's first pass has stored them."""
    for _ in range(100):
        figures = await hotline.aapi("GET", f"/api/call-figures/day?date={day}")
        if figures["day"]["lines"]:
            return figures
        await asyncio.sleep(0.3)
    raise AssertionError(f"no interval rows stored: {figures}")
