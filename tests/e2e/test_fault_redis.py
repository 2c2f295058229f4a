"""Redis SIGKILLed under load and restarted by the stack (issue 14, item 4).

Two agents talk, two callers wait in the core's line; redis-server is SIGKILLed and kept
dead (the supervisor held) while the two conversations end and a new caller rings in; then
the supervisor — :class:`stack.services.Supervised`, as ``hotline up`` runs it — starts it
again. Expected, from what the test placed:

* health and ``hotline status`` show Redis down while it is down and up afterwards;
* the two talking calls run their full length (Redis is not on the media path);
* the caller who rang in meanwhile is answered (the inbound flow fails without Redis, the
  dialplan's fallback queue takes it and connects it to an agent as soon as one is free);
  the re-sync counts that agent busy, so it is not rung for a waiting caller on top;
* the two waiting callers are answered once Redis is back: the hang-ups the core could not
  write to Redis left both agents "on call"; the core sees Redis come back and re-syncs
  from Asterisk's channels (read in the code: without it the agents stay "on call");
* five calls placed → five records, each answered by 1001 or 1002 and ended; no agent
  took a call while on another; both agents ready at the end.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from testkit.faults import (
    RedisSupervision,
    answered,
    assert_one_call_per_phone_at_a_time,
    ended,
    hotline_status,
    place,
    trace_phones,
    wait_agent_legs,
    wait_agents,
    wait_component,
    wait_in_line,
    wait_records,
)
from testkit.stack import Agent, HotlineStack

pytestmark = pytest.mark.e2e

AGENTS = ("1001", "1002")


@pytest.fixture(scope="module")
def hotline() -> Iterator[HotlineStack]:
    stack = HotlineStack(agents=[Agent(a, {"general": 1}) for a in AGENTS]).start()
    trace_phones(stack, AGENTS)
    try:
        yield stack
    finally:
        stack.stop()


async def test_redis_killed_and_restarted_under_load(hotline: HotlineStack) -> None:
    supervision = RedisSupervision(hotline).start()
    try:
        await _run(hotline, supervision)
    finally:
        supervision.stop()


async def _run(hotline: HotlineStack, supervision: RedisSupervision) -> None:
    for a in AGENTS:
        hotline.login(a)
    # SIPp's talk time starts at the dialplan's Answer (before the caller is in line): a
    # waiting caller's time covers its wait and then its conversation. The waiting callers'
    # 60 s leave room for a slow `hotline status` on a loaded machine.
    talking = place(hotline, ["13910001001", "13910001002"], talk_ms=15000)
    await wait_records(hotline, talking, "answered", answered)
    waiting = place(hotline, ["13910002001", "13910002002"], talk_ms=60000)
    # Both agents are busy: the two wait in the core's line.
    await wait_in_line(hotline, "12345", 2)

    supervision.hold()
    supervision.kill()
    await wait_component(hotline, "redis", ok=False)
    status = asyncio.create_task(asyncio.to_thread(hotline_status, hotline))
    # Rings in while Redis is dead; the talking calls end while it is dead.
    newcomer = place(hotline, ["13910003001"], talk_ms=30000)
    for c in talking:
        result = await c.result()
        assert result.ok, result.output[-1500:]        # talked to the end, hung up cleanly
    # app_queue connects the newcomer to a free agent while Redis is still away.
    await wait_agent_legs(hotline, 1)
    code, out = await status
    assert code == 1 and "health redis" in out and "DOWN" in out.split("health redis")[1], out

    supervision.release()
    await wait_component(hotline, "redis", ok=True)
    await supervision.wait_report("redis-server running again")
    status = asyncio.create_task(asyncio.to_thread(hotline_status, hotline))
    for c in waiting + newcomer:
        result = await c.result()
        assert result.ok, result.output[-1500:]
    code, out = await status
    assert code == 0, out

    everyone = talking + waiting + newcomer
    records = await wait_records(hotline, everyone, "answered and ended",
                                 lambda r: answered(r) and ended(r), timeout=60)
    assert len(records) == 5
    for number, r in records.items():
        assert r["disposition"] == "answered", (number, r)
        assert r["agent_id"] in AGENTS, (number, r)
        assert r["line"] == "12345"
    assert_one_call_per_phone_at_a_time(hotline, AGENTS, least=5)
    await wait_agents(hotline, AGENTS, "ready")
