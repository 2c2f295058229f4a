"""Missed-call callback (未接来电回拨) on real Asterisk with SIPp phones: a caller who hung up
after waiting long enough, and did not call again, is called back once when an agent is
free — the agent's phone first, then the citizen's, showing the line's number."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from hotline_core.call_records import CallRecord
from hotline_core.campaigns.model import AttemptOutcome, TargetState
from testkit.stack import Agent, HotlineStack
from tests.e2e.campaign_helpers import (
    attempts,
    invites,
    sessions_of,
    targets,
    wait_for,
)

pytestmark = pytest.mark.e2e

CAMPAIGNS = """
tick_seconds = 0.5
[kinds.missed_call]
hours = ["00:00-24:00"]
max_attempts = 1
[missed_call]
min_wait_seconds = 3
lookback_hours = 1
"""


@pytest.fixture
def hotline() -> Iterator[HotlineStack]:
    stack = HotlineStack(agents=[Agent("1001", {"general": 1})], citizen_phone=True,
                         campaigns=CAMPAIGNS)
    stack.start()
    try:
        yield stack
    finally:
        stack.stop()


async def test_a_missed_caller_is_called_back_once_and_one_who_called_again_is_not(
        hotline: HotlineStack) -> None:
    hotline.login("1001")
    db = sessions_of(hotline)
    # The only agent is busy for a while: the next callers wait in line.
    busy = asyncio.create_task(hotline.call("12345", "13800138600", talk_ms=25000))
    await hotline.wait_call(lambda c: c["caller"].endswith("8600") and c["answered_at"])

    # 8601 waits 6 s (over min_wait_seconds = 3) and hangs up: a missed call.
    missed = asyncio.create_task(hotline.call("12345", "13800138601", talk_ms=6000))
    # 8602 waits 6 s too, but calls again while the first call still waits (the second
    # call hangs up after 1 s, under the threshold): it called again, no callback.
    first = asyncio.create_task(hotline.call("12345", "13800138602", talk_ms=6000))
    await hotline.wait_call(lambda c: c["caller"].endswith("8602"))
    again = await hotline.call("12345", "13800138602", talk_ms=1000)
    assert again.ok, again.output[:1500]
    assert (await missed).ok and (await first).ok

    target = (await wait_for("the missed call of 8601 is a target",
                             lambda: targets(db, "missed_call")))[0]
    assert target.destinations == [{"number": "13800138601", "role": "citizen"}]

    assert (await busy).ok
    # When 1001 is free the dialer rings 1001, then the citizen, who talks and hangs up.
    done = await wait_for("the callback ended", lambda: [
        t for t in targets(db, "missed_call") if t.state == TargetState.DONE.value],
        timeout=90)
    assert [t.id for t in done] == [target.id]
    [attempt] = attempts(db, target.id)
    assert attempt.outcome == AttemptOutcome.COMPLETED.value
    assert attempt.agent_id == "1001"
    assert attempt.number == "13800138601"
    # Once, to the number that called, showing the line's number; never to 8602.
    assert invites(hotline) == [("13800138601", "12345")]
    # Only 8601's call ever became a target (8602 called again).
    assert [t.call_id for t in targets(db, "missed_call")] == [target.call_id]
    # The abandoned call stays abandoned (呼损 counts it) and links the callback recording.
    with db() as s:
        record = s.get(CallRecord, target.call_id)
        assert record is not None
        assert record.disposition == "abandoned"
        assert record.callback_recording == attempt.recording
        assert attempt.recording is not None
        assert attempt.recording.endswith(f"/mc-{target.call_id}-callback.wav")
    # Asterisk wrote it (the SIPp phones send no audio, so it may hold a header only).
    assert (hotline.spec.recordings_dir / attempt.recording).read_bytes()[:4] == b"RIFF"

    # Later passes of the dialer (it looks every 0.5 s) change nothing: an answered call
    # of 3 s lasts several passes.
    later = await hotline.call("12345", "13800138603", talk_ms=3000)
    assert later.ok, later.output[:1500]
    assert len(attempts(db)) == 1
    assert invites(hotline) == [("13800138601", "12345")]
