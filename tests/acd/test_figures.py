"""Live figures: a scenario driven by the clock, every number worked out by hand."""

from __future__ import annotations

import redis.asyncio as aioredis

from hotline_core.acd import AgentState, DistributionConfig, Distributor, WaitingCall
from tests.acd.conftest import Clock, MakeDistributor


def call(cid: str, line: str = "12345", skill: str = "general") -> WaitingCall:
    return WaitingCall(call_id=cid, line=line, skills=(skill,), caller="13700000000")


async def test_hand_computed_scenario(make: MakeDistributor, clock: Clock) -> None:
    d, rec = make(DistributionConfig(wrapup_seconds=0, service_level_seconds=15))
    t0 = clock.t
    await d.agent_login("a1", {"general": 1})
    await d.agent_login("a2", {"general": 1})
    await d.agent_login("a3", {"12366": 1})
    await d.enqueue(call("c1"))  # t0: rings a1
    clock.t = t0 + 1
    await d.enqueue(call("c2"))  # rings a2
    clock.t = t0 + 2
    await d.enqueue(call("c3"))  # waits
    clock.t = t0 + 3
    await d.enqueue(call("c4", line="12366", skill="12366"))  # rings a3
    clock.t = t0 + 4
    await d.agent_answered("c4", "a3")  # waited 1 s
    await d.enqueue(call("c5"))  # waits
    clock.t = t0 + 5
    await d.agent_answered("c1", "a1")  # waited 5 s
    clock.t = t0 + 10
    await d.abandon("c5")  # gave up after 6 s: within 15 s
    clock.t = t0 + 21
    await d.ring_no_answer("c2", "a2")  # a2 paused, c2 back at the head
    clock.t = t0 + 40
    await d.abandon("c3")  # gave up after 38 s: after 15 s
    clock.t = t0 + 60
    await d.call_ended("c1", "a1")  # talked 55 s; a1 takes c2
    clock.t = t0 + 62
    await d.agent_answered("c2", "a1")  # c2 waited 61 s in all
    clock.t = t0 + 65
    await d.enqueue(call("c6"))  # waits: a1 busy, a2 paused
    clock.t = t0 + 70

    assert rec.pairs() == [("c1", "a1"), ("c2", "a2"), ("c4", "a3"), ("c2", "a1")]
    f = await d.view.figures()
    assert f.at == t0 + 70
    line = f.lines["12345"]
    assert (line.waiting, line.longest_wait) == (1, 5.0)
    assert (line.answered, line.abandoned) == (2, 2)
    assert (line.answered_within_target, line.abandoned_after_target) == (1, 1)
    assert line.service_level == 1 / 3  # 1 within 15 s / (2 answered + 1 abandoned late)
    assert line.average_speed_of_answer == 33.0  # (5 + 61) / 2
    tax = f.lines["12366"]
    assert (tax.waiting, tax.answered, tax.abandoned) == (0, 1, 0)
    assert (tax.service_level, tax.average_speed_of_answer) == (1.0, 1.0)
    general = f.skills["general"]
    assert (general.answered, general.abandoned, general.service_level) == (2, 2, 1 / 3)
    assert general.agents_by_state == {AgentState.ON_CALL: 1, AgentState.PAUSED: 1}
    assert f.skills["12366"].agents_by_state == {AgentState.ON_CALL: 1}
    assert f.agents_by_state == {AgentState.ON_CALL: 2, AgentState.PAUSED: 1}
    assert f.agents_by_group == {"call-taking": 3}
    # c6: nobody ahead, one general agent serving (a1; a2 is paused), talk 55 s, wrap-up 0
    assert await d.view.estimated_wait("c6") == 55.0

    await d.reset_figures()
    f = await d.view.figures()
    assert (f.lines["12345"].answered, f.lines["12345"].waiting) == (0, 1)
    assert f.lines["12345"].service_level is None


async def test_estimated_wait_before_any_measured_call_uses_the_default(
    make: MakeDistributor,
) -> None:
    d, _ = make(DistributionConfig(wrapup_seconds=30, default_handle_seconds=150))
    await d.agent_login("a1", {"general": 1})
    await d.agent_login("a2", {"general": 1})
    for cid in ("c1", "c2", "c3", "c4", "c5"):
        await d.enqueue(call(cid))  # c1, c2 ring; c3..c5 wait
    # c5 has 2 calls ahead (c3, c4), 2 agents, handle 150 + 30: (2 + 1) * 180 / 2
    assert await d.view.estimated_wait("c5") == 270.0
    assert [await d.view.position(c) for c in ("c1", "c3", "c4", "c5")] == [None, 1, 2, 3]
    assert await d.view.estimated_wait("c1") is None  # not waiting any more


async def _bytes_of_one_read(d: Distributor, redis: aioredis.Redis) -> int:
    """What Redis sent for one figures read (its ``total_net_output_bytes``; the INFO
    answers themselves are measured by a read with no figures call between)."""
    async def sent() -> int:
        return int((await redis.info("stats"))["total_net_output_bytes"])
    before = await sent()
    idle = await sent() - before          # the INFO answer alone
    start = await sent()
    await d.view.figures()
    return await sent() - start - idle


async def test_a_long_line_costs_the_reader_no_more(make: MakeDistributor, clock: Clock,
                                                     redis: aioredis.Redis) -> None:
    """200 agents paused and 50, then 400 callers waiting (issue 12's console with 100
    waiting): the counts are the hand-computed ones, and what one read brings back from
    Redis stays the same size (the counting is done in ``figures.lua``). Before, every
    agent's and every waiting call's whole hash came back on every read (~350 × 200
    bytes more for 350 more callers)."""
    d, _ = make(DistributionConfig(wrapup_seconds=0))
    t0 = clock.t
    for i in range(200):
        await d.agent_login(f"a{i:03d}", {"general": 1, "tax": 1} if i < 50 else {"general": 1})
        await d.agent_pause(f"a{i:03d}", "meeting")
    sizes, placed = {}, 0
    for total in (50, 400):
        for n in range(placed, total):    # caller n arrives at t0 + n, nobody takes it
            clock.t = t0 + n
            await d.enqueue(call(f"c{n}", line="12366" if n % 4 == 0 else "12345"))
        placed = total
        clock.t = t0 + 1000
        f = await d.view.figures()
        # lines: every 4th caller (0, 4, 8 …) on 12366, the rest on 12345, all skill general
        on_12366 = len(range(0, total, 4))
        assert (f.lines["12366"].waiting, f.lines["12345"].waiting) == (
            on_12366, total - on_12366)
        assert (f.lines["12366"].longest_wait, f.lines["12345"].longest_wait) == (1000, 999)
        assert f.skills["general"].waiting == total
        assert f.skills["general"].agents_by_state == {AgentState.PAUSED: 200}
        assert f.skills["tax"].agents_by_state == {AgentState.PAUSED: 50}
        assert (f.skills["tax"].waiting, f.skills["tax"].longest_wait) == (0, 0.0)
        assert f.agents_by_group == {"call-taking": 200}   # the default group
        sizes[total] = await _bytes_of_one_read(d, redis)
    # the counts' digits grow (50 → 400 is one more digit per count), nothing else
    assert abs(sizes[400] - sizes[50]) < 40, sizes
