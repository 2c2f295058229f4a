"""No call is lost because the core died: the dialplan's fallback queue takes over, and
the call records are reconciled from Asterisk's CDR file when the core comes back."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import datetime

import pytest

from testkit.stack import Agent, HotlineStack

pytestmark = pytest.mark.e2e


@pytest.fixture
def hotline() -> Iterator[HotlineStack]:
    stack = HotlineStack(agents=[Agent("1001", {"general": 1})]).start()
    try:
        yield stack
    finally:
        stack.stop()


async def test_new_call_reaches_an_agent_while_the_core_is_dead(hotline: HotlineStack) -> None:
    hotline.login("1001")
    hotline.kill_core()

    result = await hotline.call("12345", "13700137000", talk_ms=4000)
    assert result.ok, result.output[:1500]   # answered by the agent's phone via app_queue

    hotline.start_core()
    call = await hotline.wait_call(lambda c: c["caller"].endswith("7000")
                                   and c["ended_at"] is not None)
    assert call["route"] == "fallback"
    assert call["reconciled"] is True
    assert call["disposition"] == "answered"
    assert call["agent_id"] == "1001"
    assert call["line"] == "12345"
    assert (hotline.spec.recordings_dir / call["recording"]).stat().st_size > 44


async def test_waiting_caller_moves_to_the_fallback_when_the_core_dies(
        hotline: HotlineStack) -> None:
    # No agent is logged in to the core, so the caller waits on hold in the core's line.
    call_task = asyncio.create_task(hotline.call("12345", "13600136000", talk_ms=14000))
    await hotline.wait_call(lambda c: c["caller"].endswith("6000"))
    hotline.kill_core()

    # The heartbeat stops; within core_dead_after the dialplan hands the caller to
    # app_queue, whose member 1001 answers.
    result = await call_task
    assert result.ok, result.output[:1500]

    hotline.start_core()
    call = await hotline.wait_call(lambda c: c["caller"].endswith("6000")
                                   and c["ended_at"] is not None)
    assert call["disposition"] == "answered"
    assert call["agent_id"] == "1001"
    assert call["route"] == "fallback"


async def test_core_restart_keeps_a_talking_agent_busy(hotline: HotlineStack) -> None:
    # Resync after restart: Asterisk shows 1001 talking, so 1001 must not ring for a new
    # call until that conversation ends.
    hotline.login("1001")
    first = asyncio.create_task(hotline.call("12345", "13800138600", talk_ms=15000))
    await hotline.wait_call(lambda c: c["caller"].endswith("8600") and c["answered_at"])
    hotline.kill_core()
    hotline.start_core()
    second = await hotline.call("12345", "13800138601", talk_ms=22000)
    assert second.ok, second.output[:1500]
    assert (await first).ok

    a = await hotline.wait_call(lambda c: c["caller"].endswith("8600") and c["ended_at"])
    b = await hotline.wait_call(lambda c: c["caller"].endswith("8601") and c["ended_at"])
    assert a["agent_id"] == b["agent_id"] == "1001"
    assert a["route"] == b["route"] == "core"
    # One call at a time: 1001 took the second call only after the first had ended.
    assert datetime.fromisoformat(b["answered_at"]) >= datetime.fromisoformat(a["ended_at"])


async def test_ami_reconnects_after_asterisk_restarts(hotline: HotlineStack) -> None:
    assert hotline.asterisk is not None
    hotline.asterisk.stop()
    hotline.asterisk.start()
    # The core reconnects (backoff) and logs in again: health reports AMI up.
    health = await asyncio.to_thread(hotline.wait_healthy)
    assert health["components"]["asterisk_ami"]["ok"] is True
    hotline.login("1001")
    result = await hotline.call("12345", "13800138700", talk_ms=5000)
    assert result.ok, result.output[:1500]
    call = await hotline.wait_call(lambda c: c["caller"].endswith("8700") and c["ended_at"])
    assert call["agent_id"] == "1001"
    assert call["route"] == "core"
