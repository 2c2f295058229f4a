"""Skills routing, special seats and overflow, strategies, priorities, virtual hold, leader."""

from __future__ import annotations

import datetime as dt

from hotline_core.acd import (
    DistributionConfig,
    LeaderSeat,
    OverflowRule,
    Priorities,
    Strategy,
    WaitingCall,
)
from tests.acd.conftest import Clock, MakeDistributor


def call(cid: str, *skills: str, line: str = "12345", priority: int = 0,
         department: str = "") -> WaitingCall:
    return WaitingCall(call_id=cid, line=line, skills=skills or ("general",),
                       caller=f"139{cid}", priority=priority, department=department)


SEATS = DistributionConfig(
    wrapup_seconds=0,
    overflow={"12351": OverflowRule(30, "general"), "12366": OverflowRule(45, "general")},
)


async def test_special_seat_waits_for_its_agents_then_overflows_to_general_pool(
    make: MakeDistributor, clock: Clock
) -> None:
    d, rec = make(SEATS)
    await d.agent_login("g1", {"general": 1})
    start = clock.t
    assert await d.enqueue(call("c1", "12351", line="12351")) is None
    assert await d.next_wakeup() == start + 30
    clock.advance(29.9)
    assert await d.advance() == []
    clock.advance(0.1)
    made = await d.advance()
    assert [(a.call_id, a.agent_id, a.line) for a in made] == [("c1", "g1", "12351")]
    assert rec.pairs() == [("c1", "g1")]


async def test_overflowed_call_still_prefers_a_dedicated_agent(
    make: MakeDistributor, clock: Clock
) -> None:
    d, rec = make(SEATS)
    await d.agent_login("u1", {"12351": 5})
    await d.agent_pause("u1", "meeting")
    await d.enqueue(call("c1", "12351", line="12351"))
    clock.advance(31)
    await d.advance()  # overflowed, but no general agent either
    await d.agent_login("g1", {"general": 1})
    clock.advance(1)
    await d.agent_unpause("u1")  # both now free at once for the next call
    await d.enqueue(call("c2", "12351", line="12351"))
    # c1 went to g1 (first free after overflow); c2 goes to dedicated u1, not to general
    assert rec.pairs() == [("c1", "g1"), ("c2", "u1")]


async def test_seat_call_not_answered_after_its_overflow_time_goes_to_general_at_once(
    make: MakeDistributor, clock: Clock
) -> None:
    d, rec = make(SEATS)
    await d.agent_login("u1", {"12351": 5})
    await d.agent_login("g1", {"general": 1})
    await d.enqueue(call("c1", "12351", line="12351"))  # rings dedicated u1
    clock.advance(40)  # past the 30 s overflow while ringing
    await d.ring_no_answer("c1", "u1")
    assert rec.pairs() == [("c1", "u1"), ("c1", "g1")]


async def test_dedicated_agent_takes_its_seat_call_before_an_older_general_call(
    make: MakeDistributor, clock: Clock
) -> None:
    d, rec = make(SEATS)
    await d.enqueue(call("old-general"))
    clock.advance(5)
    await d.enqueue(call("tax", "12366", line="12366"))
    # a tax seat agent: tax at the best level (1), general as a second skill
    await d.agent_login("t1", {"12366": 1, "general": 2})
    await d.agent_login("g1", {"general": 1})
    assert rec.pairs() == [("tax", "t1"), ("old-general", "g1")]


async def test_call_needing_two_skills_waits_for_an_agent_with_both(
    make: MakeDistributor,
) -> None:
    d, rec = make()
    await d.agent_login("g1", {"general": 1})
    await d.agent_login("m1", {"minnan": 1})
    assert await d.enqueue(call("c1", "general", "minnan")) is None
    await d.agent_login("gm", {"general": 1, "minnan": 3})
    assert rec.pairs() == [("c1", "gm")]


async def test_fewest_calls_strategy(make: MakeDistributor, clock: Clock) -> None:
    d, rec = make(DistributionConfig(wrapup_seconds=0,
                                     strategy={"general": Strategy.FEWEST_CALLS}))
    await d.agent_login("busy", {"general": 1})
    clock.advance(1)
    await d.agent_login("fresh", {"general": 1})
    await d.agent_pause("fresh", "briefing")
    for cid in ("c1", "c2"):  # 'busy' answers two calls while 'fresh' is paused
        await d.enqueue(call(cid))
        await d.agent_answered(cid, "busy")
        await d.call_ended(cid, "busy")
    clock.advance(10)
    await d.agent_unpause("fresh")  # now 'busy' has been idle longer but took 2 calls
    await d.enqueue(call("c3"))
    assert rec.pairs()[-1] == ("c3", "fresh")


async def test_skill_level_strategy_then_longest_idle(make: MakeDistributor,
                                                      clock: Clock) -> None:
    # Level 1 is the best (config/agents.toml); equal levels: the longest idle first.
    # On the starting main the higher number won: second-b, second-a, then best.
    d, rec = make(DistributionConfig(strategy={"12328": Strategy.SKILL_LEVEL}))
    await d.agent_login("second-b", {"12328": 2})
    clock.advance(1)
    await d.agent_login("best", {"12328": 1})
    clock.advance(1)
    await d.agent_login("second-a", {"12328": 2})
    await d.enqueue(call("c1", "12328", line="12328"))
    await d.enqueue(call("c2", "12328", line="12328"))
    await d.enqueue(call("c3", "12328", line="12328"))
    assert rec.pairs() == [("c1", "best"), ("c2", "second-b"), ("c3", "second-a")]


async def test_priorities_then_first_come_first_served(make: MakeDistributor,
                                                       clock: Clock) -> None:
    p = Priorities()
    d, rec = make()
    await d.enqueue(call("normal-1"))
    clock.advance(1)
    await d.enqueue(call("help", priority=p.for_caller(needs_help=True)))
    clock.advance(1)
    await d.enqueue(call("emergency-120", priority=p.for_caller(emergency_transfer=True)))
    clock.advance(1)
    await d.enqueue(call("overdue", priority=p.for_caller(overdue_order=True,
                                                          needs_help=True)))
    clock.advance(1)
    await d.enqueue(call("normal-2"))
    assert [c.call_id for c in await d.view.waiting()] == [
        "emergency-120", "overdue", "help", "normal-1", "normal-2"]
    for n in range(5):
        await d.agent_login(f"a{n}", {"general": 1})
    assert [c for c, _ in rec.pairs()] == [
        "emergency-120", "overdue", "help", "normal-1", "normal-2"]


async def test_starvation_bound_lifts_a_long_waiting_normal_call(
    make: MakeDistributor, clock: Clock
) -> None:
    d, rec = make(DistributionConfig(
        priorities=Priorities(starvation_seconds=60, starved_priority=10)))
    start = clock.t
    await d.enqueue(call("n1"))  # normal, at start
    clock.advance(1)
    await d.enqueue(call("n2"))  # normal, at start+1
    clock.advance(29)
    await d.enqueue(call("h1", priority=10))  # needs help, at start+30
    clock.t = start + 59
    await d.advance()
    assert [c.call_id for c in await d.view.waiting()] == ["h1", "n1", "n2"]
    clock.t = start + 60  # n1 has waited 60 s: treated as priority 10, and came first
    assert [c.call_id for c in await d.view.waiting()] == ["n1", "h1", "n2"]
    await d.advance()
    assert [c.call_id for c in await d.view.waiting()] == ["n1", "h1", "n2"]
    clock.t = start + 61  # n2 too
    await d.agent_login("a1", {"general": 1})
    await d.agent_login("a2", {"general": 1})
    await d.agent_login("a3", {"general": 1})
    assert [c for c, _ in rec.pairs()] == ["n1", "n2", "h1"]


async def test_virtual_hold_keeps_place_and_assignment_says_callback(
    make: MakeDistributor, clock: Clock
) -> None:
    d, rec = make()
    await d.enqueue(call("c1"))
    clock.advance(1)
    await d.enqueue(call("c2"))
    clock.advance(1)
    await d.enqueue(call("c3"))
    await d.request_callback("c2")
    assert [(c.call_id, c.callback) for c in await d.view.waiting()] == [
        ("c1", False), ("c2", True), ("c3", False)]
    for n in range(3):
        await d.agent_login(f"a{n}", {"general": 1})
    assert [(a.call_id, a.callback) for a in rec.seen] == [
        ("c1", False), ("c2", True), ("c3", False)]


async def test_dual_number_department_is_carried_to_the_agent(make: MakeDistributor) -> None:
    d, rec = make()
    await d.agent_login("a1", {"general": 1})
    got = await d.enqueue(call("c1", line="dept-water", department="自来水公司"))
    assert got is not None and got.department == "自来水公司" and got.line == "dept-water"


LEADER = DistributionConfig(
    leader_seats=(LeaderSeat(line="12345", skill="leader", weekdays=(3,),
                             dates=(dt.date(2026, 11, 20),)),),
    overflow={"leader": OverflowRule(20, "general")},
)


async def test_leader_seat_takes_its_line_on_scheduled_days_only(
    make: MakeDistributor, clock: Clock
) -> None:
    d, rec = make(LEADER)
    await d.agent_login("mayor", {"leader": 1})
    await d.agent_login("g1", {"general": 1})
    await d.agent_pause("g1", "break")
    # Wednesday 2026-11-18 (weekday 3 is scheduled): the leader takes the 12345 call
    await d.enqueue(call("wed"))
    assert rec.pairs() == [("wed", "mayor")]
    await d.agent_answered("wed", "mayor")  # and talks on until Friday
    await d.agent_unpause("g1")
    clock.advance(86_400)  # Thursday 2026-11-19: not scheduled, general pool
    await d.enqueue(call("thu"))
    assert rec.pairs()[-1] == ("thu", "g1")
    await d.agent_answered("thu", "g1")
    clock.advance(86_400)  # Friday 2026-11-20: a scheduled date, leader busy → overflow
    await d.enqueue(call("fri"))
    assert [c.skills for c in await d.view.waiting()] == [("leader",)]
    await d.call_ended("thu", "g1")  # g1 free (wrap-up 15 s) but fri needs the leader
    clock.advance(20)
    await d.advance()
    assert rec.pairs()[-1] == ("fri", "g1")
