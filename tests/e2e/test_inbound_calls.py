"""A citizen's call goes from a SIP caller through Asterisk, FastAGI and AMI to the agent
with the line's skill; the call record tells what happened."""

from __future__ import annotations

import asyncio
from datetime import datetime

import pytest

from testkit.audio import wav_stats
from testkit.stack import HotlineStack

pytestmark = pytest.mark.e2e


def _t(value: str) -> datetime:
    return datetime.fromisoformat(value)


@pytest.fixture(scope="module", autouse=True)
def _logged_in(hotline: HotlineStack) -> None:
    for agent in ("1001", "1003", "1004"):
        hotline.login(agent)


@pytest.mark.parametrize(("number", "caller", "agent"), [
    ("12345", "13800138001", "1001"),   # the public line: the general agent
    ("12333", "13800138002", "1003"),   # merged HR line: only the hrss agent
    ("12366", "13800138003", "1004"),   # special tax seat: only the tax agent
])
async def test_call_reaches_the_agent_with_the_lines_skill(
        hotline: HotlineStack, number: str, caller: str, agent: str) -> None:
    # Every other agent is free too, so only skills decide who rings.
    result = await hotline.call(number, caller, talk_ms=6000)
    assert result.ok, result.output[:1500]

    call = await hotline.wait_call(lambda c: c["line"] == number and c["ended_at"] is not None)
    assert call["agent_id"] == agent
    assert call["disposition"] == "answered"
    assert call["route"] == "core"
    assert _t(call["offered_at"]) < _t(call["answered_at"]) < _t(call["ended_at"])
    # The number is masked for a supervisor (only callback staff see it whole).
    assert call["caller"] == caller[:3] + "****" + caller[-4:]

    # The recording exists and carries sound after the agent answered: the caller's
    # audio (and the agent phone's echo of it) flowed through the bridge.
    path = hotline.spec.recordings_dir / call["recording"]
    offset = (_t(call["answered_at"]) - _t(call["offered_at"])).total_seconds()
    duration, rms = wav_stats(path, start_s=offset + 0.2)
    assert duration > offset + 1.0
    assert rms > 200, f"recording is silent after the answer (rms {rms:.0f})"


async def test_caller_who_hangs_up_while_waiting_is_abandoned(hotline: HotlineStack) -> None:
    # The tax seat's only agent is on a break: the caller waits, then gives up.
    await hotline.aapi("POST", "/api/agents/1004/pause", {"reason": "break"})
    try:
        result = await hotline.call("12366", "13900139000", talk_ms=5000)
        assert result.ok, result.output[:1500]
        call = await hotline.wait_call(lambda c: c["caller"].endswith("9000") and c["ended_at"])
    finally:
        await hotline.aapi("POST", "/api/agents/1004/ready", {})
    assert call["disposition"] == "abandoned"
    assert call["agent_id"] is None
    assert call["answered_at"] is None


async def test_caller_leaves_a_voice_message_when_nobody_can_answer(
        hotline: HotlineStack) -> None:
    # No agent with the fire-hazard skill is logged in (and 96119 has no overflow): the
    # caller is invited to leave a message, talks for a while and hangs up.
    result = await hotline.call("96119", "13900139100", scenario="caller_message.xml")
    assert result.ok, result.output[:1500]
    call = await hotline.wait_call(lambda c: c["caller"].endswith("9100") and c["ended_at"])
    assert call["disposition"] == "voice-message"
    assert call["agent_id"] is None
    listed = await hotline.aapi("GET", "/api/calls?disposition=voice-message")
    assert [c["id"] for c in listed["calls"]] == [call["id"]]
    # The message holds the caller's voice (the prompt is not in it: recorded after the beep).
    duration, rms = wav_stats(hotline.spec.recordings_dir / call["message"])
    assert duration > 1.0
    assert rms > 200


async def test_number_not_in_service_is_told_and_refused(hotline: HotlineStack) -> None:
    # Hangup(1) = unallocated number → SIP 404 after the spoken notice (early media).
    result = await hotline.sipp.refused("12399", "13800000000", 404,
                                        local_port=_port(), media_port=_port())
    assert result.ok, result.output[:1500]


async def test_unknown_sip_peer_cannot_place_calls(hotline: HotlineStack) -> None:
    # 127.0.0.3 is not a carrier address and has no credentials: challenged, never routed.
    result = await hotline.sipp.refused("12345", "13800000001", 401, local_port=_port(),
                                        media_port=_port(), source_ip="127.0.0.3")
    assert result.ok, result.output[:1500]
    calls = (await hotline.aapi("GET", "/api/calls?limit=1000"))["calls"]
    assert not any(c["caller"].endswith("0001") for c in calls)


async def test_api_requires_a_token(hotline: HotlineStack) -> None:
    res = await asyncio.to_thread(hotline._request, "GET", "/api/calls", None)
    assert res["status"] == 401


def _port() -> int:
    from testkit.stack import free_udp_port
    return free_udp_port()
