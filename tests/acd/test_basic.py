"""The core cycle: login, enqueue, longest-idle assignment, answer, wrap-up, abandon, RNA."""

from __future__ import annotations

import json

import pytest
import redis.asyncio as aioredis

from hotline_core.acd import (
    AgentState,
    CallMatch,
    DistributionConfig,
    DistributionError,
    Distributor,
    WaitingCall,
)
from tests.acd.conftest import Clock, MakeDistributor


def call(cid: str, skill: str = "general", line: str = "12345") -> WaitingCall:
    return WaitingCall(call_id=cid, line=line, skills=(skill,), caller=f"138{cid}")


async def state_of(d: Distributor, agent_id: str) -> AgentState:
    return next(a.state for a in await d.view.agents() if a.agent_id == agent_id)


async def test_free_agent_gets_call_at_once_longest_idle_by_sub_second(
    make: MakeDistributor, clock: Clock
) -> None:
    d, rec = make()
    await d.agent_login("a1", {"general": 1})
    clock.advance(0.3)  # a2 idle 0.3 s less than a1: whole-second leastrecent would tie
    await d.agent_login("a2", {"general": 1})
    clock.advance(0.2)
    got = await d.enqueue(call("c1"))
    assert got == CallMatch("c1", "a1", "12345", "138c1")
    assert rec.seen == [got]
    assert await state_of(d, "a1") == AgentState.RINGING
    assert await state_of(d, "a2") == AgentState.READY
    assert await d.view.waiting() == []


async def test_call_waits_when_nobody_has_the_skill_then_goes_to_agent_who_logs_in(
    make: MakeDistributor, clock: Clock
) -> None:
    d, rec = make()
    await d.agent_login("tax1", {"12366": 5})
    assert await d.enqueue(call("c1", "general")) is None
    waiting = await d.view.waiting()
    assert [c.call_id for c in waiting] == ["c1"]
    assert waiting[0].enqueued_at == clock.t
    clock.advance(4)
    await d.agent_login("g1", {"general": 1})
    assert rec.pairs() == [("c1", "g1")]
    assert await d.view.waiting() == []


async def test_answer_end_wrapup_then_next_caller(make: MakeDistributor, clock: Clock) -> None:
    d, rec = make(DistributionConfig(wrapup_seconds=20))
    await d.agent_login("a1", {"general": 1})
    await d.enqueue(call("c1"))
    await d.enqueue(call("c2"))  # nobody free: waits
    await d.agent_answered("c1", "a1")
    a1 = (await d.view.agents())[0]
    assert (a1.state, a1.current_call, a1.calls_taken) == (AgentState.ON_CALL, "c1", 1)
    clock.advance(100)
    await d.call_ended("c1", "a1")
    assert await state_of(d, "a1") == AgentState.WRAP_UP
    assert await d.next_wakeup() == clock.t + 20
    clock.advance(19.9)
    assert await d.advance() == []
    clock.advance(0.1)
    made = await d.advance()
    assert made == [CallMatch("c2", "a1", "12345", "138c2")]
    assert rec.pairs() == [("c1", "a1"), ("c2", "a1")]
    # only the stuck-ring deadline of c2 is left: 20 s timeout + 10 s grace
    assert await d.next_wakeup() == clock.t + 30


async def test_zero_wrapup_takes_next_call_immediately(make: MakeDistributor) -> None:
    d, rec = make(DistributionConfig(wrapup_seconds=0))
    await d.agent_login("a1", {"general": 1})
    await d.enqueue(call("c1"))
    await d.enqueue(call("c2"))
    await d.agent_answered("c1", "a1")
    await d.call_ended("c1", "a1")
    assert rec.pairs() == [("c1", "a1"), ("c2", "a1")]
    assert await state_of(d, "a1") == AgentState.RINGING


async def test_abandon_while_waiting_removes_the_call(make: MakeDistributor) -> None:
    d, rec = make()
    await d.enqueue(call("c1"))
    await d.enqueue(call("c2"))
    await d.abandon("c1")
    assert [c.call_id for c in await d.view.waiting()] == ["c2"]
    await d.agent_login("a1", {"general": 1})
    assert rec.pairs() == [("c2", "a1")]


async def test_abandon_while_ringing_frees_agent_keeping_its_idle_place(
    make: MakeDistributor, clock: Clock
) -> None:
    d, rec = make()
    await d.agent_login("a1", {"general": 1})
    clock.advance(1)
    await d.agent_login("a2", {"general": 1})
    await d.enqueue(call("c1"))  # a1 rings
    await d.abandon("c1")
    assert await state_of(d, "a1") == AgentState.READY
    await d.enqueue(call("c2"))  # a1 still idle longest: it rings again
    assert rec.pairs() == [("c1", "a1"), ("c2", "a1")]


async def test_ring_no_answer_pauses_agent_and_caller_goes_first_to_next_agent(
    make: MakeDistributor, clock: Clock
) -> None:
    d, rec = make()
    await d.agent_login("a1", {"general": 1})
    await d.enqueue(call("c1"))  # a1 rings
    clock.advance(1)
    await d.enqueue(call("c2"))  # waits
    clock.advance(20)
    await d.ring_no_answer("c1", "a1")
    a1 = (await d.view.agents())[0]
    assert (a1.state, a1.pause_reason) == (AgentState.PAUSED, "no answer")
    # c1 is back at the head, before c2 which came later
    assert [c.call_id for c in await d.view.waiting()] == ["c1", "c2"]
    await d.agent_login("a2", {"general": 1})
    assert rec.pairs() == [("c1", "a1"), ("c1", "a2")]
    await d.agent_unpause("a1")
    assert rec.pairs()[-1] == ("c2", "a1")


async def test_ring_no_answer_goes_to_the_next_ready_agent_at_once(
    make: MakeDistributor, clock: Clock
) -> None:
    d, rec = make()
    await d.agent_login("a1", {"general": 1})
    clock.advance(1)
    await d.agent_login("a2", {"general": 1})
    await d.enqueue(call("c1"))
    await d.ring_no_answer("c1", "a1", cause="phone offline")
    assert rec.pairs() == [("c1", "a1"), ("c1", "a2")]
    a1 = next(a for a in await d.view.agents() if a.agent_id == "a1")
    assert a1.pause_reason == "phone offline"


async def test_stale_events_are_ignored(make: MakeDistributor) -> None:
    d, rec = make()
    await d.agent_login("a1", {"general": 1})
    await d.enqueue(call("c1"))
    await d.abandon("c1")
    # the ring-no-answer / answer for the abandoned call arrive late: nothing changes
    await d.ring_no_answer("c1", "a1")
    await d.agent_answered("c1", "a1")
    assert await state_of(d, "a1") == AgentState.READY


async def test_pause_and_logout_take_agent_out_of_distribution(make: MakeDistributor) -> None:
    d, rec = make()
    await d.agent_login("a1", {"general": 1})
    await d.agent_login("a2", {"general": 1})
    await d.agent_pause("a1", "meal")
    await d.agent_logout("a2")
    assert await d.enqueue(call("c1")) is None
    statuses = {a.agent_id: a for a in await d.view.agents()}
    assert statuses["a1"].state == AgentState.PAUSED
    assert statuses["a1"].pause_reason == "meal"
    assert statuses["a2"].state == AgentState.LOGGED_OUT
    await d.agent_unpause("a1")
    assert rec.pairs() == [("c1", "a1")]


async def test_pause_during_call_applies_after_wrap_up(
    make: MakeDistributor, clock: Clock
) -> None:
    d, rec = make(DistributionConfig(wrapup_seconds=10))
    await d.agent_login("a1", {"general": 1})
    await d.enqueue(call("c1"))
    await d.agent_answered("c1", "a1")
    await d.agent_pause("a1", "training")
    await d.enqueue(call("c2"))
    await d.call_ended("c1", "a1")
    clock.advance(10)
    assert await d.advance() == []
    a1 = (await d.view.agents())[0]
    assert (a1.state, a1.pause_reason) == (AgentState.PAUSED, "training")
    assert [c.call_id for c in await d.view.waiting()] == ["c2"]


async def test_every_change_is_published_on_the_events_channel(
    make: MakeDistributor, redis: aioredis.Redis, namespace: str
) -> None:
    d, _ = make()
    pubsub = redis.pubsub()
    await pubsub.subscribe(f"{namespace}:events")
    await pubsub.get_message(timeout=1)  # subscribe confirmation
    await d.agent_login("a1", {"general": 1})
    await d.enqueue(call("c1"))
    ops = []
    for _ in range(2):
        msg = await pubsub.get_message(ignore_subscribe_messages=True, timeout=5)
        assert msg is not None
        ops.append(json.loads(msg["data"])["op"])
    assert ops == ["login", "enqueue"]
    await pubsub.aclose()  # type: ignore[no-untyped-call]


async def test_duplicate_call_id_is_refused(make: MakeDistributor) -> None:
    d, _ = make()
    await d.enqueue(call("c1"))
    with pytest.raises(DistributionError) as e:
        await d.enqueue(call("c1"))
    assert e.value.code == "duplicate_call"


async def test_phone_ringing_far_too_long_is_treated_as_no_answer(
    make: MakeDistributor, clock: Clock
) -> None:
    # the telephony side lost the event: 20 s timeout + 10 s grace later dispatch acts
    d, rec = make(DistributionConfig(no_answer_timeout=20, stuck_ring_grace_seconds=10))
    await d.agent_login("a1", {"general": 1})
    clock.advance(1)
    await d.agent_login("a2", {"general": 1})
    await d.agent_pause("a2", "meal")
    start = clock.t
    await d.enqueue(call("c1"))
    assert await d.next_wakeup() == start + 30
    clock.advance(29)
    assert await d.advance() == []
    await d.agent_unpause("a2")
    clock.advance(1)
    made = await d.advance()
    assert [(a.call_id, a.agent_id) for a in made] == [("c1", "a2")]
    a1 = next(a for a in await d.view.agents() if a.agent_id == "a1")
    assert (a1.state, a1.pause_reason) == (AgentState.PAUSED, "no answer")
    await d.agent_answered("c1", "a2")
    assert await d.next_wakeup() is None  # answered: no deadline left


async def test_groups_are_kept_and_counted_for_logged_in_agents(
    make: MakeDistributor,
) -> None:
    d, _ = make()
    await d.agent_login("t1", {"general": 1})
    await d.agent_login("q1", {"general": 1}, group="quality-check")
    await d.agent_login("v1", {"callback": 1}, group="callback")
    await d.agent_login("s1", {"supervision": 1}, group="supervision")
    await d.agent_logout("s1")
    groups = {a.agent_id: a.group for a in await d.view.agents()}
    assert groups == {"q1": "quality-check", "s1": "supervision", "t1": "call-taking",
                      "v1": "callback"}
    f = await d.view.figures()
    assert f.agents_by_group == {"call-taking": 1, "quality-check": 1, "callback": 1}


async def test_logging_in_again_changes_skills_and_keeps_idle_place(
    make: MakeDistributor, clock: Clock
) -> None:
    d, rec = make()
    await d.agent_login("a1", {"general": 1})
    clock.advance(1)
    await d.agent_login("a2", {"general": 1, "12366": 3})
    await d.enqueue(call("tax", "12366", line="12366"))  # only a2 has the skill
    assert rec.pairs() == [("tax", "a2")]
    clock.advance(1)
    await d.agent_login("a1", {"general": 1, "12348": 2})  # a1 adds legal aid, still idle
    await d.enqueue(call("law", "12348", line="12348"))
    assert rec.pairs()[-1] == ("law", "a1")
    a1 = next(a for a in await d.view.agents() if a.agent_id == "a1")
    assert a1.skills == {"general": 1, "12348": 2}


async def test_login_refuses_bad_input(make: MakeDistributor) -> None:
    d, _ = make()
    with pytest.raises(ValueError, match="at least one skill"):
        await d.agent_login("a1", {})
    with pytest.raises(ValueError, match="level must be an int"):
        await d.agent_login("a1", {"general": "high"})  # type: ignore[dict-item]
    with pytest.raises(DistributionError) as e:
        await d.agent_pause("nobody", "meal")
    assert e.value.code == "not_logged_in"


async def test_pause_during_call_with_no_wrap_up_applies_when_call_ends(
    make: MakeDistributor,
) -> None:
    d, rec = make(DistributionConfig(wrapup_seconds=0))
    await d.agent_login("a1", {"general": 1})
    await d.enqueue(call("c1"))
    await d.enqueue(call("c2"))
    await d.agent_answered("c1", "a1")
    await d.agent_pause("a1", "toilet")
    await d.call_ended("c1", "a1")
    a1 = (await d.view.agents())[0]
    assert (a1.state, a1.pause_reason) == (AgentState.PAUSED, "toilet")
    assert rec.pairs() == [("c1", "a1")]  # c2 still waits
