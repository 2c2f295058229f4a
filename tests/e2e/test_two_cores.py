"""Two core instances on one Asterisk, both active (issue 14, item 5), under a modest load:
four SIPp agents' phones, callers talking and callers waiting in line.

* FastAGI spread: the dialplan's ``[hotline-agi]`` starts the calls at the instances in
  turn; the calls' owners in Redis (``LiveCall.owner``, written by the instance whose ``inbound``
  flow took the call) name both instances.
* The leader (the instance holding the leader lock) is SIGKILLed with four callers talking
  and four waiting, then four more callers ring in at once:
  - FastAGI failover: every later call reaches the survivor (Asterisk tries the dead
    instance's port, is refused, tries the next) — route ``core``, none in the fallback
    queue (taking turns, every other call first tries the dead instance: without failover
    those end in the fallback queue);
  - nothing lost: every caller is answered by an agent and every record is complete
    (answered, ended, agent, recording), also the dead instance's calls, whose hang-ups the
    survivor handled after taking them over (ownership moved);
  - no call assigned twice: the phones' own SIP traces show each phone in one conversation
    at a time and exactly one conversation per call;
  - the periodic jobs' leader moved: the lock names the survivor, and the CDR
    reconciliation — a leader-only job — reads the rows Asterisk wrote after the kill (its
    offset in the database reaches the CDR file's end).
* The killed instance is started again: it rejoins as a follower and takes calls again.

One stack for the module.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import Callable, Iterator

import pytest
import redis

from hotline_core.redis_keys import RedisKeys
from stack.cluster import core_name
from testkit.faults import (
    answered,
    assert_one_call_per_phone_at_a_time,
    ended,
    phone_conversations,
    place,
    trace_phones,
    wait_in_line,
    wait_records,
)
from testkit.stack import Agent, HotlineStack

pytestmark = pytest.mark.e2e

AGENTS = ("1001", "1002", "1003", "1004")


@pytest.fixture(scope="module")
def hotline() -> Iterator[HotlineStack]:
    stack = HotlineStack(agents=[Agent(a, {"general": 1}) for a in AGENTS], cores=2,
                         calls_settings="announce_seconds = 120").start()
    trace_phones(stack, AGENTS)
    try:
        yield stack
    finally:
        stack.stop()


def _redis(hotline: HotlineStack) -> redis.Redis:
    return redis.Redis.from_url(hotline.settings.redis_url, socket_timeout=5)


def _owners(hotline: HotlineStack, tails: set[str]) -> dict[str, str]:
    """Caller tail -> the instance owning its live call, read from Redis."""
    keys = RedisKeys(hotline.settings.redis_namespace)
    with _redis(hotline) as r:
        raw = r.hgetall(keys.live_calls)
    out = {}
    for value in raw.values():
        call = json.loads(value)
        if call["caller"][-4:] in tails:
            out[call["caller"][-4:]] = call.get("owner", "")
    return out


def _leader(hotline: HotlineStack) -> str | None:
    with _redis(hotline) as r:
        raw = r.get(RedisKeys(hotline.settings.redis_namespace).core_leader)
    return raw.decode().split("/", 1)[0] if raw else None


def _cdr_offset(hotline: HotlineStack) -> int:
    db = hotline.settings.state_dir / "hotline.db"
    with sqlite3.connect(db, timeout=5) as conn:
        row = conn.execute("SELECT \"offset\" FROM cdr_offsets WHERE cdr_file = ?",
                           (str(hotline.spec.cdr_file),)).fetchone()
    return int(row[0]) if row else 0


async def _wait(what: str, check: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await asyncio.to_thread(check):
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"{what}: not within {timeout:.0f} s")


async def test_leader_killed_under_load_nothing_lost_no_call_twice(
        hotline: HotlineStack) -> None:
    for a in AGENTS:
        hotline.login(a)
    # Both instances run; one of them leads.
    await _wait("a leader", lambda: _leader(hotline) in (core_name(0), core_name(1)))
    leader = _leader(hotline)
    assert leader is not None
    dead = int(leader.rsplit("-", 1)[1])
    survivor = core_name(1 - dead)

    # A caller's SIPp talk time starts at the dialplan's Answer, so it covers the wait.
    talking = place(hotline, [f"1394000100{i}" for i in range(4)], talk_ms=12000)
    await wait_records(hotline, talking, "answered", answered)
    waiting = place(hotline, [f"1394000200{i}" for i in range(4)], talk_ms=26000)
    await wait_in_line(hotline, "12345", 4)
    before = talking + waiting
    owners = _owners(hotline, {c.tail for c in before})
    assert set(owners) == {c.tail for c in before}, owners
    # Spread: both instances took calls (they take turns).
    assert set(owners.values()) == {core_name(0), core_name(1)}, owners
    orphans = {t for t, o in owners.items() if o == leader}

    cdr_at_kill = hotline.spec.cdr_file.stat().st_size if hotline.spec.cdr_file.exists() else 0
    hotline.kill_core(dead)
    later = place(hotline, [f"1394000300{i}" for i in range(4)], talk_ms=40000)
    await wait_in_line(hotline, "12345", 8)
    later_owners = _owners(hotline, {c.tail for c in later})
    assert later_owners == {c.tail: survivor for c in later}, later_owners

    everyone = before + later
    for c in everyone:
        result = await c.result()
        assert result.ok, (c.number, result.output[-1500:])
    records = await wait_records(hotline, everyone, "answered and ended",
                                 lambda r: answered(r) and ended(r), timeout=60)
    for number, r in records.items():
        assert r["disposition"] == "answered", (number, r)
        assert r["agent_id"] in AGENTS, (number, r)
        # Served by the core all along: none fell back to app_queue (FastAGI failover).
        assert r["route"] == "core", (number, r)
        assert r["reason"] in (None, ""), (number, r)
        assert (hotline.spec.recordings_dir / r["recording"]).stat().st_size > 44, r
    assert orphans, "the killed leader owned none of the calls"  # 4 of 8 on average

    # Each call's events handled once: the line's figures count every answer once (12
    # calls, all answered, none abandoned — a second instance acting on the same DialEnd
    # or Hangup would count it again or count the end as abandoned).
    figures = (await hotline.aapi("GET", "/api/queues"))["lines"]["12345"]
    assert (figures["answered"], figures["abandoned"]) == (len(everyone), 0), figures

    # No call assigned twice: one conversation per call over all phones, none overlapping.
    assert_one_call_per_phone_at_a_time(hotline, AGENTS, least=len(everyone))
    conversations = sum(len(phone_conversations(hotline, a)) for a in AGENTS)
    assert conversations == len(everyone), conversations

    # The leader moved to the survivor: the lock names it, and the leader-only CDR
    # reconciliation has read every row Asterisk wrote after the kill.
    assert _leader(hotline) == survivor
    cdr_end = hotline.spec.cdr_file.stat().st_size
    assert cdr_end > cdr_at_kill      # 12 calls' rows were written since
    await _wait("the CDR reconciliation reaches the file's end",
                lambda: _cdr_offset(hotline) == hotline.spec.cdr_file.stat().st_size)
    # The survivor took the dead instance's calls over (its own log, not the test's).
    taken = [line for line in hotline.core_log(1 - dead).splitlines() if "took over" in line]
    assert taken, hotline.core_log(1 - dead)[-3000:]

    # The killed instance comes back (as `hotline up` restarts a child): it rejoins as a
    # follower — the survivor keeps the lock — and takes its turn of the calls again.
    await asyncio.to_thread(hotline.start_core, dead)
    assert _leader(hotline) == survivor
    again = place(hotline, [f"1394000400{i}" for i in range(2)], talk_ms=6000)
    await wait_records(hotline, again, "answered", answered)
    assert set(_owners(hotline, {c.tail for c in again}).values()) == {core_name(0),
                                                                        core_name(1)}
    for c in again:
        result = await c.result()
        assert result.ok, (c.number, result.output[-1500:])
