"""Call distribution on real Asterisk with SIPp phones: ring-no-answer, special-seat
overflow, priority callers, the restriction list and live figures."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import datetime

import aiohttp
import pytest

from testkit.stack import Agent, HotlineStack

pytestmark = pytest.mark.e2e


def _t(value: str) -> datetime:
    return datetime.fromisoformat(value)


# The tax seat (12366) overflows to "general" after 4 s in this deployment.
def _four_seconds(text: str) -> str:
    head, _, tail = text.partition('[overflow."tax"]')
    return head + '[overflow."tax"]' + tail.replace("after_seconds = 45", "after_seconds = 4", 1)


NO_ANSWER = "1002"      # its phone rings and is never picked up


@pytest.fixture(scope="module")
def shared() -> Iterator[HotlineStack]:
    """One stack for the module's tests that need no settings of their own (a stack per
    test cost ~7 s each); only the agents a test logs in are offered calls."""
    stack = HotlineStack(agents=[
        Agent("1001", {"general": 1}), Agent(NO_ANSWER, {"general": 1},
                                             scenario="agent_no_answer.xml"),
        Agent("1004", {"tax": 1}), Agent("1005", {"union": 1}),
    ], distribution_edit=_four_seconds).start()
    try:
        yield stack
    finally:
        stack.stop()


@pytest.fixture
def hl(shared: HotlineStack) -> Iterator[HotlineStack]:
    yield shared
    shared.reset_for_next_test()


@pytest.fixture
def stack_factory() -> Iterator[list[HotlineStack]]:
    stacks: list[HotlineStack] = []
    yield stacks
    for stack in stacks:
        stack.stop()


def _start(stacks: list[HotlineStack], stack: HotlineStack) -> HotlineStack:
    stacks.append(stack)
    return stack.start()


async def test_agent_who_does_not_answer_is_paused_and_the_next_agent_rings(
        hl: HotlineStack) -> None:
    hl.login(NO_ANSWER)   # logged in first: idle longest, so rings first
    hl.login("1001")
    # ring timeout is 8 s in the test stack: the caller stays long enough for both rings.
    result = await hl.call("12345", "13800138100", talk_ms=16000)
    assert result.ok, result.output[:1500]

    call = await hl.wait_call(lambda c: c["caller"].endswith("8100") and c["ended_at"])
    assert call["disposition"] == "answered"
    assert call["agent_id"] == "1001"
    agents = {a["agent_id"]: a for a in (await hl.aapi("GET", "/api/agents"))["agents"]}
    assert agents[NO_ANSWER]["state"] == "paused"
    assert agents[NO_ANSWER]["pause_reason"] == "no answer"


async def test_special_seat_call_overflows_to_the_general_pool(hl: HotlineStack) -> None:
    hl.login("1004")
    hl.login("1001")
    # The tax agent is on a break: the call waits for the seat, then overflows.
    res = await hl.aapi("POST", "/api/agents/1004/pause", {"reason": "break"})
    assert res["state"] == "paused"

    result = await hl.call("12366", "13800138200", talk_ms=14000)
    assert result.ok, result.output[:1500]
    call = await hl.wait_call(lambda c: c["caller"].endswith("8200") and c["ended_at"])
    assert call["agent_id"] == "1001"
    assert call["disposition"] == "answered"
    # Not before the configured wait: the seat had its chance first.
    assert (_t(call["answered_at"]) - _t(call["offered_at"])).total_seconds() >= 4


async def test_priority_caller_who_arrives_later_is_answered_first(hl: HotlineStack) -> None:
    hl.login("1001")
    flagged = await hl.aapi("PUT", "/api/callers/13900139300/needs-help", {"reason": "elderly"})
    assert flagged["needs_help"] is True

    # The only agent is busy with a first call; A waits, then B (needs help) arrives.
    first = asyncio.create_task(hl.call("12345", "13800138300", talk_ms=12000))
    await hl.wait_call(lambda c: c["caller"].endswith("8300") and c["answered_at"])
    normal = asyncio.create_task(hl.call("12345", "13800138301", talk_ms=32000))
    await hl.wait_call(lambda c: c["caller"].endswith("8301"))
    helped = asyncio.create_task(hl.call("12345", "13900139300", talk_ms=18000))
    for task in (first, normal, helped):
        result = await task
        assert result.ok, result.output[:1500]

    a = await hl.wait_call(lambda c: c["caller"].endswith("8301") and c["ended_at"])
    b = await hl.wait_call(lambda c: c["caller"].endswith("9300") and c["ended_at"])
    assert _t(a["offered_at"]) < _t(b["offered_at"])
    assert b["answered_at"] is not None and a["answered_at"] is not None
    assert _t(b["answered_at"]) < _t(a["answered_at"])


async def test_restricted_number_hears_the_notice_and_is_disconnected(hl: HotlineStack) -> None:
    hl.login("1001")
    res = await hl.aapi("POST", "/api/restrictions",
                        {"number": "13500135000", "reason": "threatened an agent"})
    assert res["number"] == "135****5000"  # masked for supervisors too (脱敏)
    # R-RESTRICT: 30 natural days by default.
    assert round((res["until"] - res["since"]) / 86400) == 30

    result = await hl.call("12345", "13500135000", scenario="caller_released.xml")
    assert result.ok, result.output[:1500]   # the platform hung up on the caller
    call = await hl.wait_call(lambda c: c["caller"].endswith("5000") and c["ended_at"])
    assert call["disposition"] == "restricted"
    assert "threatened an agent" in call["reason"]
    assert call["agent_id"] is None
    audit = await hl.aapi("GET", "/api/restrictions/audit")
    assert [h["number"] for h in audit["hits"]] == ["135****5000"]

    # Lifting early is audited, and the number gets through again.
    lifted = await hl.aapi("POST", "/api/restrictions/13500135000/lift",
                           {"reason": "apologised in writing"})
    assert lifted["lifted"] is True
    audit = await hl.aapi("GET", "/api/restrictions/audit")
    assert [(e["action"], e["reason"]) for e in audit["audit"]] == [
        ("restrict", "threatened an agent"), ("lift", "apologised in writing")]
    result = await hl.call("12345", "13500135000", talk_ms=6000)
    assert result.ok, result.output[:1500]
    again = await hl.wait_call(lambda c: c["caller"].endswith("5000")
                               and c["disposition"] == "answered" and c["ended_at"])
    assert again["agent_id"] == "1001"


async def test_live_figures_are_pushed_to_a_web_socket(hl: HotlineStack) -> None:
    hl.login("1005")
    await hl.aapi("POST", "/api/agents/1005/pause", {"reason": "meeting"})
    url = f"http://127.0.0.1:{hl.http_port}/api/live?token={hl.token('supervisor')}"
    async with aiohttp.ClientSession() as http, http.ws_connect(url) as ws:
        first = json.loads((await ws.receive(timeout=10)).data)
        assert first["type"] == "figures"
        # The union seat's agent is in a meeting: the caller waits, then gives up.
        call = asyncio.create_task(hl.call("12351", "13800138400", talk_ms=6000))
        seen_waiting = False
        while True:
            msg = json.loads((await ws.receive(timeout=30)).data)
            if msg["type"] != "figures":
                continue
            line = msg["figures"]["lines"].get("12351")
            if line and line["waiting"] == 1:
                seen_waiting = True
            if line and line["abandoned"] == 1:
                assert line["waiting"] == 0
                break
        assert seen_waiting
        assert (await call).ok


async def test_virtual_hold_calls_the_citizen_back_with_an_agent_on_the_line(
        stack_factory: list[HotlineStack]) -> None:
    hl = _start(stack_factory, HotlineStack(
        agents=[Agent("1001", {"general": 1})], citizen_phone=True,
        calls_settings="announce_seconds = 3\ncallback_offer_seconds = 1"))
    hl.login("1001")
    # The only agent is busy, so the next caller waits and is offered a callback.
    busy = asyncio.create_task(hl.call("12345", "13800138500", talk_ms=30000))
    await hl.wait_call(lambda c: c["caller"].endswith("8500") and c["answered_at"])

    waiting = await hl.call("12345", "13800138501", scenario="caller_virtual_hold.xml")
    assert waiting.ok, waiting.output[:1500]   # pressed 1, heard the confirmation, released
    pending = await hl.wait_call(lambda c: c["caller"].endswith("8501") and c["ended_at"])
    assert pending["disposition"] == "callback"
    assert pending["answered_at"] is None

    assert (await busy).ok
    # When 1001 is free the dialer rings 1001 first, then the citizen, who talks and hangs up.
    done = await hl.wait_call(lambda c: c["caller"].endswith("8501")
                              and c["route"] == "callback" and c["ended_at"], timeout=60)
    assert done["disposition"] == "answered"
    assert done["agent_id"] == "1001"
    # The citizen saw the hotline's number, and the call went to the number that called.
    assert "callback INVITE to 13800138501 from 12345" in hl.phone_log("citizen")
