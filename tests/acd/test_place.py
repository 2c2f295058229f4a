"""A waiting caller's place in line and estimated wait (排队位置与预计等待), issue 14 item 2.

The announcement "n callers ahead, about m minutes" must say what it said before, for the
same line, while its cost no longer grows with the line: before, every read took the whole
waiting line (``ZRANGE`` + one ``HGETALL`` per call) twice and every agent — 400 waiting
callers took the core down.

- A known line (two priorities, two skills, a call needing both, agents on call, one
  paused, one logging in and pausing while ringing): every position and estimate worked
  out by hand. (This module passes on main 72bc7d0 as well, before the change, except the
  command count: the numbers are the same as before.)
- A starvation bound that fell due while no script ran is applied by the read as the next
  run will apply it.
- The Redis commands of one read (``INFO commandstats`` of a real redis-server) are the
  same with 50 and with 400 callers waiting (on 72bc7d0 they grow: 2 × (1 + 50) … reads).
"""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis

from hotline_core.acd import DistributionConfig, Distributor, WaitingCall
from hotline_core.acd.config import Priorities
from tests.acd.conftest import Clock, MakeDistributor


def call(cid: str, skills: tuple[str, ...] = ("general",), priority: int = 0) -> WaitingCall:
    return WaitingCall(call_id=cid, line="12345", skills=skills, caller="13700000000",
                       priority=priority)


async def readings(d: Distributor, ids: list[str]) -> dict[str, tuple[int | None, Any]]:
    return {c: (await d.view.position(c), await d.view.estimated_wait(c)) for c in ids}


async def test_a_known_line_worked_out_by_hand(make: MakeDistributor, clock: Clock,
                                               redis: aioredis.Redis) -> None:
    # handle time before any measured call: 120 s talk + 30 s wrap-up = 150 s
    d, rec = make(DistributionConfig(wrapup_seconds=30, default_handle_seconds=120))
    t0 = clock.t
    await d.agent_login("a1", {"general": 1})
    clock.t = t0 + 1
    await d.agent_login("a2", {"general": 1, "tax": 1})
    clock.t = t0 + 2
    await d.agent_login("a3", {"tax": 1})
    await d.agent_login("a4", {"general": 1})
    await d.agent_pause("a4", "break")           # paused: does not serve
    for i, (cid, skill, agent) in enumerate((("g1", "general", "a1"), ("g2", "general", "a2"),
                                             ("t1", "tax", "a3"))):
        clock.t = t0 + 3 + i
        await d.enqueue(call(cid, (skill,)))
        await d.agent_answered(cid, agent)
    assert rec.pairs() == [("g1", "a1"), ("g2", "a2"), ("t1", "a3")]
    # the line: general, by priority then arrival: w3 (10), w1, w4, w6; tax: w5 (10), w2
    for i, (cid, skills, prio) in enumerate((
            ("w1", ("general",), 0), ("w2", ("tax",), 0), ("w3", ("general",), 10),
            ("w4", ("general",), 0), ("w5", ("tax",), 10), ("w6", ("general", "tax"), 0))):
        clock.t = t0 + 10 + i
        await d.enqueue(call(cid, skills, prio))
    ids = ["w1", "w2", "w3", "w4", "w5", "w6"]
    # EWT = (ahead + 1) × 150 / serving; general: a1, a2 serve (a4 paused); tax: a2, a3
    assert await readings(d, ids) == {
        "w3": (1, 75.0), "w1": (2, 150.0), "w4": (3, 225.0), "w6": (4, 300.0),
        "w5": (1, 75.0), "w2": (2, 150.0)}
    assert await readings(d, ["g1", "nobody"]) == {"g1": (None, None), "nobody": (None, None)}

    # t1 talked 90 s: tax's handle time is 90 + 30; a3 wraps up (still serving)
    clock.t = t0 + 3 + 2 + 90
    await d.call_ended("t1", "a3")
    assert await readings(d, ["w5", "w2"]) == {"w5": (1, 60.0), "w2": (2, 120.0)}

    # a5 logs in: takes the head of general (w3); 3 serve general
    clock.t += 1
    await d.agent_login("a5", {"general": 1})
    assert rec.pairs()[-1] == ("w3", "a5")
    assert await readings(d, ["w1", "w4", "w6", "w3"]) == {
        "w1": (1, 50.0), "w4": (2, 100.0), "w6": (3, 150.0), "w3": (None, None)}
    # a5 pauses while ringing: w3 goes back to the head of its priority, 2 serve again
    await d.agent_pause("a5", "break")
    assert await readings(d, ["w3", "w1", "w4", "w6"]) == {
        "w3": (1, 75.0), "w1": (2, 150.0), "w4": (3, 225.0), "w6": (4, 300.0)}
    # a4 comes back from its pause and takes w3; a1 logs out (on call: no longer serves)
    await d.agent_unpause("a4")
    await d.agent_logout("a1")
    assert rec.pairs()[-1] == ("w3", "a4")
    # general serving: a2 (on call), a4 (ringing) = 2
    assert await readings(d, ["w1", "w4", "w6"]) == {
        "w1": (1, 75.0), "w4": (2, 150.0), "w6": (3, 225.0)}
    # a caller hangs up: the ones behind move up
    await d.abandon("w1")
    assert await readings(d, ["w4", "w6", "w1"]) == {
        "w4": (1, 75.0), "w6": (2, 150.0), "w1": (None, None)}
    # the keys the read counts, as hotline_core/redis_keys.py names them
    keys = d.names.acd
    assert await redis.smembers(keys.serving("general")) == {"a2", "a4"}
    assert await redis.smembers(keys.serving("tax")) == {"a2", "a3"}
    assert await redis.zrange(keys.first_skill_queue("general", 0), 0, -1) == ["w4", "w6"]
    assert await redis.zrange(keys.first_skill_priorities("tax"), 0, -1) == ["0", "10"]
    # logged in, paused or not (the inbound flow's "anyone there?"): a1 left, a5 paused
    assert await redis.smembers(keys.logged_in("general")) == {"a2", "a4", "a5"}
    assert await d.view.anyone_logged_in(["nobody-has-this", "tax"]) is True
    assert await d.view.anyone_logged_in(["nobody-has-this"]) is False


async def test_the_agent_sets_are_rebuilt_on_reconciliation(
        make: MakeDistributor, redis: aioredis.Redis) -> None:
    """State written before these sets existed (or lost) is counted again when the core
    reconciles with Asterisk (``rebuild`` ends with ``rematch``, run at every AMI connect)."""
    d, _ = make()
    await d.agent_login("a1", {"general": 1, "tax": 1})
    await d.agent_login("a2", {"general": 1})
    await d.agent_pause("a2", "break")
    await d.agent_login("a3", {"tax": 1})
    await d.agent_logout("a3")
    keys = d.names.acd
    lost = [keys.serving(s) for s in ("general", "tax")] + [
        keys.logged_in(s) for s in ("general", "tax")]
    await redis.delete(*lost)
    assert await d.view.anyone_logged_in(["general"]) is False   # what was lost
    await d.rebuild([])
    assert [await redis.smembers(k) for k in lost] == [
        {"a1"}, {"a1"}, {"a1", "a2"}, {"a1"}]


async def test_a_bound_fallen_due_since_the_last_run_is_applied(
        make: MakeDistributor, clock: Clock) -> None:
    """Starvation: a call of priority 0 waiting 60 s counts as priority 10 (placed by its
    arrival among them); s2's bound falls due at t0+100 and no script runs after it."""
    d, _ = make(DistributionConfig(
        priorities=Priorities(starvation_seconds=60, starved_priority=10)))
    t0 = clock.t
    for at, cid, prio in ((0, "s1", 0), (30, "h1", 10), (40, "s2", 0), (70, "h2", 10)):
        clock.t = t0 + at
        await d.enqueue(call(cid, priority=prio))
    # at t0+70 (the last run): s1 starved (10, arrived 0); s2 still 0
    assert [await d.view.position(c) for c in ("s1", "h1", "h2", "s2")] == [1, 2, 3, 4]
    clock.t = t0 + 105   # s2 now counts as 10, arrived 40: before h2 (70)
    assert [await d.view.position(c) for c in ("s1", "h1", "s2", "h2")] == [1, 2, 3, 4]
    assert await d.view.estimated_wait("s2") is None   # nobody serves general


def _calls(stats: dict[str, Any]) -> int:
    return sum(int(v["calls"]) for k, v in stats.items() if k.startswith("cmdstat_"))


async def _commands_of_one_read(redis_url: str, namespace: str, waiting: int,
                                clock: Clock) -> int:
    """Redis commands served while one caller's position and estimate are read, with
    ``waiting`` callers in line and one agent on a call."""
    client = aioredis.from_url(redis_url, socket_timeout=5, decode_responses=True)
    try:
        d = Distributor(client, DistributionConfig(), namespace=namespace, clock=clock)
        await d.agent_login("a1", {"general": 1})
        await d.enqueue(call("talking"))
        await d.agent_answered("talking", "a1")
        for i in range(waiting):
            clock.advance(0.01)
            await d.enqueue(call(f"c{i}"))
        last = f"c{waiting - 1}"
        await d.view.position(last)   # the script loaded, the connection made
        before = _calls(await client.info("commandstats"))
        position = await d.view.position(last)
        wait = await d.view.estimated_wait(last)
        after = _calls(await client.info("commandstats"))
        # last in line, one agent, default 240 s + 15 s wrap-up
        assert (position, wait) == (waiting, waiting * 255.0)
        return after - before
    finally:
        await client.aclose()


async def test_one_read_costs_the_same_with_50_and_400_callers_waiting(
        redis_url: str, namespace: str, clock: Clock) -> None:
    fifty = await _commands_of_one_read(redis_url, namespace + "-50", 50, clock)
    four_hundred = await _commands_of_one_read(redis_url, namespace + "-400", 400, clock)
    assert fifty > 1            # the INFO and the reads were counted
    assert four_hundred == fifty, (fifty, four_hundred)
    assert fifty < 30, fifty    # two reads of about ten commands each (measured: 20)
