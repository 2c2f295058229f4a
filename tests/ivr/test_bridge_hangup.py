"""What the AMI event bridge does when a caller hangs up (挂机), with a real Redis.

The distributor, not the call log, says who holds a call the bridge never saw answered
(another core saw the answer, or the resync adopted a fallback-queue conversation): a
hang-up costs one Redis read, never a read of the call log, which waits behind the log
writer's batch (issue 14 item 3: every hang-up did that read).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis

from hotline_core.acd import AgentState, DistributionConfig, Distributor, WaitingCall
from ivr.call_events import CallEventBridge
from ivr.live_calls import LiveCall, LiveCalls

NS = "bridgehangup"


class CallLogSpy:
    """The call log as the bridge sees it: writes recorded, reads counted."""

    def __init__(self) -> None:
        self.ended: list[str] = []
        self.reads = 0

    async def ended_call(self, call_id: str, cause: int | None) -> None:
        self.ended.append(call_id)

    async def get(self, call_id: str) -> Any:
        self.reads += 1
        return None


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.from_url(redis_url, socket_timeout=5, decode_responses=True)
    for key in await client.keys(f"{NS}*"):
        await client.delete(key)
    yield client
    await client.aclose()


def _bridge(redis: aioredis.Redis) -> tuple[CallEventBridge, Distributor, LiveCalls, CallLogSpy]:
    # wrap-up 60 s: an ended talk leaves the agent in WRAP_UP, visibly not ON_CALL
    distributor = Distributor(redis, DistributionConfig(wrapup_seconds=60.0), namespace=NS)
    live = LiveCalls(redis, namespace=NS)
    log = CallLogSpy()
    calls: Any = type("Calls", (), {"ended": log.ended_call, "get": log.get})()
    return CallEventBridge(ami=None, live=live, calls=calls,  # type: ignore[arg-type]
                           distributor=distributor), distributor, live, log


async def _caller(distributor: Distributor, live: LiveCalls, call_id: str) -> None:
    await live.add(LiveCall(call_id, f"PJSIP/carrier-{call_id}", "12345", "13800138000"))
    await distributor.enqueue(WaitingCall(call_id, "12345", ("general",), "13800138000"))


def hangup(call_id: str) -> dict[str, str]:
    return {"Event": "Hangup", "Uniqueid": call_id, "Cause": "16"}


@pytest.mark.timeout(60)
async def test_talk_answered_elsewhere_ends_with_its_agent(redis: aioredis.Redis) -> None:
    bridge, distributor, live, log = _bridge(redis)
    await distributor.agent_login("1001", {"general": 1})
    await _caller(distributor, live, "talk-1")            # rings 1001
    await distributor.agent_answered("talk-1", "1001")   # seen by another core, not here
    await asyncio.wait_for(bridge.handle(hangup("talk-1")), 10)
    status = await distributor.view.agent("1001")
    assert status is not None and status.state is AgentState.WRAP_UP
    assert await distributor.view.held_call("talk-1") is None
    assert await live.get("talk-1") is None
    assert log.ended == ["talk-1"] and log.reads == 0


@pytest.mark.timeout(60)
async def test_waiting_caller_who_hangs_up_is_abandoned(redis: aioredis.Redis) -> None:
    bridge, distributor, live, log = _bridge(redis)
    await _caller(distributor, live, "wait-1")            # nobody logged in: waits
    await asyncio.wait_for(bridge.handle(hangup("wait-1")), 10)
    assert await distributor.view.held_call("wait-1") is None
    figures = await distributor.view.figures()
    assert figures.lines["12345"].abandoned == 1
    assert log.ended == ["wait-1"] and log.reads == 0


@pytest.mark.timeout(60)
async def test_ringing_caller_who_hangs_up_frees_the_agent(redis: aioredis.Redis) -> None:
    bridge, distributor, live, log = _bridge(redis)
    await distributor.agent_login("1001", {"general": 1})
    await _caller(distributor, live, "ring-1")            # rings 1001, never answered
    await asyncio.wait_for(bridge.handle(hangup("ring-1")), 10)
    status = await distributor.view.agent("1001")
    assert status is not None and status.state is AgentState.READY
    figures = await distributor.view.figures()
    assert figures.lines["12345"].abandoned == 1
    assert log.reads == 0
