"""The re-sync after a fault: agents the fallback queue connected count busy; Redis coming
back (after an outage, or restarted between two looks) triggers one re-sync."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from hotline_core.acd import LiveChannel
from ivr.resync import fallback_talks, watch_redis


def _ch(uid: str, channel: str, linkedid: str, state: str = "Up", app: str = "",
        context: str = "", number: str = "") -> dict[str, str]:
    return {"Uniqueid": uid, "Channel": channel, "Linkedid": linkedid,
            "ChannelStateDesc": state, "Application": app, "Context": context,
            "CallerIDNum": number}


def test_agents_on_fallback_calls_are_found_and_the_core_s_own_are_not() -> None:
    channels = [
        # app_queue connected this caller to 1002 (the core never held it)
        _ch("q1", "PJSIP/carrier-1", "q1", app="Queue", context="hotline-inbound",
            number="13900000001"),
        _ch("a1", "PJSIP/1002-00000001", "q1"),
        # app_queue is ringing 1003 for another caller
        _ch("q2", "PJSIP/carrier-2", "q2", app="Queue", context="hotline-inbound",
            number="13900000002"),
        _ch("a2", "PJSIP/1003-00000002", "q2", state="Ringing"),
        # the core's own conversation: in the snapshot already
        _ch("c3", "PJSIP/carrier-3", "c3", app="Dial", context="hotline-connect"),
        _ch("a3", "PJSIP/1001-00000003", "c3"),
        # a dialer leg (not an inbound caller): the campaign engine's business
        _ch("at-7", "PJSIP/carrier-4", "at-7", app="AGI", context="hotline-campaign"),
        _ch("a4", "PJSIP/1004-00000004", "at-7"),
    ]
    held = [LiveChannel(call_id="c3", line="12345", caller="13900000003",
                        skills=("general",), agent_id="1001", answered=True)]
    assert fallback_talks(channels, held) == {
        "q1": ("1002", True, "PJSIP/carrier-1", "13900000001"),
        "q2": ("1003", False, "PJSIP/carrier-2", "13900000002"),
    }


class _Redis:
    """``INFO server`` answers in turn: an exception is raised, a string is the run_id."""

    def __init__(self, answers: list[Any]) -> None:
        self.answers = answers
        self.looks = 0

    async def info(self, section: str) -> dict[str, str]:
        assert section == "server"
        self.looks += 1
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return {"run_id": answer}


@pytest.mark.parametrize(("answers", "resyncs"), [
    (["r1", "r1", "r1", "r1"], 0),                                  # nothing happened
    (["r1", RedisConnectionError("refused"), RedisConnectionError("refused"), "r2"], 1),
    (["r1", "r1", "r2", "r2"], 1),                   # restarted between two looks
])
async def test_redis_back_resyncs_once(answers: list[Any], resyncs: int) -> None:
    calls: list[int] = []

    async def on_back() -> None:
        calls.append(1)

    redis = _Redis(list(answers))
    task = asyncio.create_task(watch_redis(redis, on_back, every=0.01))  # type: ignore[arg-type]
    for _ in range(1000):       # every answer seen, then two more looks (bounded)
        if redis.looks >= len(answers) + 2:
            break
        await asyncio.sleep(0.01)
    task.cancel()
    assert redis.looks >= len(answers) + 2
    assert len(calls) == resyncs
