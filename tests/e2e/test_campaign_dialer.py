"""The outbound dialer on real Asterisk, SIPp as the citizen's phone behind the carrier:
retries after the spacing, calling hours, a core SIGKILLed mid-campaign — no attempt lost,
none dialled twice. (The AMI connection cut mid-originate, through a real TCP proxy, is in
tests/e2e/test_fault_ami.py.)

An answered attempt runs a one-second test flow (``testkit/campaign_core.py``); the order
IVRs on top of the engine have their own tests.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.orm import Session, sessionmaker

from hotline_core.call_records import CallRecord
from hotline_core.campaigns.model import AttemptOutcome, CampaignKind, TargetState
from hotline_core.campaigns.store import CampaignStore, Destination
from testkit import processes
from testkit.stack import Agent, HotlineStack
from tests.e2e.campaign_helpers import attempts, invites, sessions_of, targets, wait_for

pytestmark = pytest.mark.e2e

SHANGHAI = ZoneInfo("Asia/Shanghai")
ANSWERED = r"callback INVITE to (\d+) from (\d+)"
UNANSWERED = r"unanswered INVITE to (\d+) from (\d+)"


def _campaigns(hours: str = '["00:00-24:00"]', spacing: int = 4, attempts_: int = 2,
               channels: int = 2) -> str:
    return f"""
tick_seconds = 0.5
max_channels = {channels}
[kinds.satisfaction_callback]
hours = {hours}
max_attempts = {attempts_}
retry_spacing_seconds = {spacing}
max_channels = {channels}
ring_seconds = 5
[missed_call]
enabled = false
"""


def _stack(campaigns: str) -> HotlineStack:
    return HotlineStack(agents=[Agent("1001", {"general": 1})], citizen_phone=True,
                        campaigns=campaigns, core_module="testkit.campaign_core")


@pytest.fixture
def stacks() -> Iterator[list[HotlineStack]]:
    made: list[HotlineStack] = []
    yield made
    for stack in made:
        stack.stop()


def _start(stacks: list[HotlineStack], stack: HotlineStack) -> HotlineStack:
    stacks.append(stack)
    return stack.start()


def _called_before(db: sessionmaker[Session], number: str) -> None:
    """The number called the hotline an hour ago (the policy dials only such numbers)."""
    at = datetime.now(UTC) - timedelta(hours=1)
    with db() as s, s.begin():
        s.add(CallRecord(id=f"history-{number}", linkedid=f"history-{number}", line="12345",
                         caller=number, offered_at=at, answered_at=at, ended_at=at,
                         agent_id="1001", disposition="answered", route="core"))


def _enqueue(db: sessionmaker[Session], number: str) -> int:
    _called_before(db, number)
    target_id, created = CampaignStore(db).enqueue(
        CampaignKind.SATISFACTION_CALLBACK, "12345", [Destination(number, "citizen")],
        f"test:{number}")
    assert created
    return target_id


def _closed(db: sessionmaker[Session]) -> list[int] | None:
    all_ = targets(db)
    return [t.id for t in all_] if all_ and not any(
        TargetState(t.state).open for t in all_) else None


async def test_no_answer_is_retried_after_the_spacing_then_goes_to_the_worklist(
        stacks: list[HotlineStack]) -> None:
    hl = _start(stacks, _stack(_campaigns(spacing=4, attempts_=2)))
    # The citizen's phone rings and is never picked up.
    processes.stop(hl.phones["citizen"])
    hl.phones["citizen"] = hl.sipp.phone("citizen", port=hl.citizen_port,
                                         media_port=hl._media_port(),
                                         scenario="citizen_no_answer.xml")
    db = sessions_of(hl)
    target_id = _enqueue(db, "13800138700")

    await wait_for("the target reaches the worklist", lambda: [
        t for t in targets(db) if t.state == TargetState.WORKLIST.value], timeout=90)
    first, second = attempts(db, target_id)
    assert (first.outcome, second.outcome) == (AttemptOutcome.NO_ANSWER.value,
                                               AttemptOutcome.NO_ANSWER.value)
    assert first.ended_at is not None
    # The second dial waited the spacing (4 s) after the first one ended.
    assert second.created_at - first.ended_at >= timedelta(seconds=4)
    # Two dials reached the phone, each showing the line's number.
    assert invites(hl, UNANSWERED) == [("13800138700", "12345")] * 2
    # The human callback list (supervisors' API) shows it.
    worklist = hl.api("GET", "/api/campaigns/worklist")
    assert [t["id"] for t in worklist["targets"]] == [target_id], worklist


async def test_outside_calling_hours_nothing_is_dialled(stacks: list[HotlineStack]) -> None:
    # One minute of calling hours, twelve hours from now (Shanghai wall time).
    opens = (datetime.now(SHANGHAI) + timedelta(hours=12)).replace(second=0, microsecond=0)
    closes = opens + timedelta(minutes=1)
    hours = f'["{opens:%H:%M}-{closes:%H:%M}"]'
    hl = _start(stacks, _stack(_campaigns(hours=hours)))
    db = sessions_of(hl)
    target_id = _enqueue(db, "13800138701")

    # The dialer looks at it and moves it to the opening instead of dialling.
    [target] = await wait_for("the target waits for the calling hours", lambda: [
        t for t in targets(db) if t.next_at is not None
        and t.next_at.replace(tzinfo=UTC) > datetime.now(UTC) + timedelta(hours=11)])
    assert target.id == target_id
    assert target.next_at is not None
    assert target.next_at.replace(tzinfo=UTC) == opens.astimezone(UTC)
    assert target.state == TargetState.PENDING.value
    assert attempts(db) == []
    assert invites(hl, ANSWERED) == []


async def test_core_killed_mid_campaign_loses_no_attempt_and_dials_none_twice(
        stacks: list[HotlineStack]) -> None:
    hl = _start(stacks, _stack(_campaigns(spacing=1, attempts_=3, channels=2)))
    db = sessions_of(hl)
    numbers = [f"1380013871{i}" for i in range(5)]
    for number in numbers:
        _enqueue(db, number)
    # Two channels at most: kill the core while attempts are in flight.
    await wait_for("attempts in flight", lambda: [
        a for a in attempts(db) if a.state in ("originating", "up")])
    hl.kill_core()
    hl.start_core()

    closed = await wait_for("every target closed", lambda: _closed(db), timeout=120)
    assert len(closed) == len(numbers)
    every = attempts(db)
    assert all(a.state == "ended" for a in every)
    assert all(t.state == TargetState.DONE.value for t in targets(db))
    # Each dial that left the core reached the phone exactly once: INVITEs per number ==
    # attempts per number that were placed (a "lost" one never left the core).
    placed = Counter(a.number for a in every if a.outcome != AttemptOutcome.LOST.value)
    assert Counter(n for n, _ in invites(hl, ANSWERED)) == placed
    assert set(placed) == set(numbers)


async def test_existing_virtual_hold_rides_the_engine(stacks: list[HotlineStack]) -> None:
    """Virtual hold through the engine: the accepted callback is an attempt row, and the
    conversation's recording is linked to the call record."""
    hl = _start(stacks, HotlineStack(
        agents=[Agent("1001", {"general": 1})], citizen_phone=True,
        calls_settings="announce_seconds = 3\ncallback_offer_seconds = 1"))
    hl.login("1001")
    db = sessions_of(hl)
    busy = asyncio.create_task(hl.call("12345", "13800138730", talk_ms=20000))
    await hl.wait_call(lambda c: c["caller"].endswith("8730") and c["answered_at"])
    waiting = await hl.call("12345", "13800138731", scenario="caller_virtual_hold.xml")
    assert waiting.ok, waiting.output[:1500]
    assert (await busy).ok
    [target] = await wait_for("the virtual-hold target is done", lambda: [
        t for t in targets(db, CampaignKind.VIRTUAL_HOLD.value)
        if t.state == TargetState.DONE.value], timeout=60)
    [attempt] = attempts(db, target.id)
    assert attempt.outcome == AttemptOutcome.COMPLETED.value
    assert attempt.channel == f"cb-{attempt.id}-{target.call_id}"
    record = await hl.wait_call(lambda c: c["id"] == target.call_id and c["ended_at"])
    assert record["disposition"] == "answered" and record["route"] == "callback"
    with db() as s:
        row = s.get(CallRecord, target.call_id)
        assert row is not None
        assert row.callback_recording == attempt.recording
        assert row.callback_recording == (
            f"{attempt.created_at:%Y%m%d}/{target.call_id}-callback.wav")


def _peak(rows: list[Any]) -> int:
    """The most attempts holding a channel at once, from their Originate and end times."""
    edges = sorted([(a.originated_at, 1) for a in rows] + [(a.ended_at, -1) for a in rows],
                   key=lambda e: (e[0], e[1]))
    held = peak = 0
    for _, step in edges:
        held += step
        peak = max(peak, held)
    return peak


async def test_the_channel_caps_hold_per_campaign_and_in_all(
        stacks: list[HotlineStack], monkeypatch: pytest.MonkeyPatch) -> None:
    """Two campaigns (lines 12345 and 12333) of 4 targets each, each campaign capped at 1
    channel, 2 in all: never more, and both caps are reached."""
    monkeypatch.setenv("HOTLINE_TEST_HOLD_MS", "1500")
    text = _campaigns(attempts_=1, channels=2).replace(
        "max_channels = 2\nring_seconds", "max_channels = 1\nring_seconds")
    hl = _start(stacks, _stack(text))
    db = sessions_of(hl)
    store = CampaignStore(db)
    for i in range(8):
        number = f"1380013874{i}"
        _called_before(db, number)
        store.enqueue(CampaignKind.SATISFACTION_CALLBACK, "12345" if i < 4 else "12333",
                      [Destination(number)], f"cap:{i}")
    await wait_for("every target closed", lambda: _closed(db), timeout=120)
    rows = attempts(db)
    assert len(rows) == 8 and all(a.outcome == "completed" for a in rows)
    by_campaign: dict[int, list[Any]] = {}
    for a in rows:
        by_campaign.setdefault(a.campaign_id, []).append(a)
    assert sorted(len(v) for v in by_campaign.values()) == [4, 4]
    assert [_peak(v) for v in by_campaign.values()] == [1, 1]
    assert _peak(rows) == 2
    shown = {n: line for n, line in invites(hl, ANSWERED)}
    assert shown == {f"1380013874{i}": "12345" if i < 4 else "12333" for i in range(8)}
