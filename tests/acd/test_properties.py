"""Random sequences of agent and call events keep the distributor consistent.

After every event: no READY agent could serve a waiting call (it would have been given it),
an agent rings/talks with at most one call and that call points back at it, and a call is
never with two agents. Overflow and wrap-up timing are exercised through the clock.
"""

from __future__ import annotations

import itertools

import redis.asyncio as aioredis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hotline_core.acd import (
    AgentState,
    DistributionConfig,
    Distributor,
    LiveChannel,
    OverflowRule,
    Priorities,
    WaitingCall,
)
from hotline_core.acd.contract import AgentField, CallField, CallState
from tests.acd.conftest import Clock

CONFIG = DistributionConfig(
    wrapup_seconds=5,
    overflow={"12351": OverflowRule(10, "general")},
    priorities=Priorities(starvation_seconds=30, starved_priority=10),
)
SKILLS = ["general", "12351", "minnan"]
_run = itertools.count()

skill_sets = st.sets(st.sampled_from(SKILLS), min_size=1, max_size=2)
event = st.one_of(
    st.tuples(st.just("login"), st.integers(0, 4), skill_sets),
    st.tuples(st.just("logout"), st.integers(0, 4)),
    st.tuples(st.just("pause"), st.integers(0, 4)),
    st.tuples(st.just("unpause"), st.integers(0, 4)),
    st.tuples(st.just("enqueue"), st.lists(st.sampled_from(SKILLS), min_size=1, max_size=2,
                                           unique=True), st.sampled_from([0, 10, 30])),
    st.tuples(st.just("abandon"), st.integers(0, 30)),
    st.tuples(st.just("answer"), st.integers(0, 10)),
    st.tuples(st.just("end"), st.integers(0, 10)),
    st.tuples(st.just("rna"), st.integers(0, 10)),
    st.tuples(st.just("callback"), st.integers(0, 30)),
    st.tuples(st.just("time"), st.sampled_from([0.5, 3, 6, 11, 40])),
    st.tuples(st.just("rebuild"), st.just(0)),
    st.tuples(st.just("rebuild-lost"), st.integers(0, 10)),
)


async def check(d: Distributor, r: aioredis.Redis, ns: str) -> None:
    agents = await d.view.agents()
    waiting = await d.view.waiting()
    ready = [a for a in agents if a.state is AgentState.READY]
    for c in waiting:
        raw = await r.hgetall(f"{ns}:acd:c:{c.call_id}")
        fallback = raw.get(CallField.FALLBACK, "")
        for a in ready:
            can = all(s in a.skills for s in c.skills) or bool(fallback and fallback in a.skills)
            assert not can, f"{a.agent_id} is READY but {c.call_id} waits"
    owners: dict[str, str] = {}
    for a in agents:
        if a.state in (AgentState.RINGING, AgentState.ON_CALL):
            assert a.current_call, a
            assert a.current_call not in owners, f"{a.current_call} with two agents"
            owners[a.current_call] = a.agent_id
            raw = await r.hgetall(f"{ns}:acd:c:{a.current_call}")
            want = CallState.RINGING if a.state is AgentState.RINGING else CallState.TALKING
            assert (raw.get(CallField.STATE), raw.get(CallField.AGENT)) == (want, a.agent_id)
    assert not {c.call_id for c in waiting} & set(owners)
    # the indexes the script searches agree with the states
    for a in agents:
        raw = await r.hgetall(f"{ns}:acd:a:{a.agent_id}")
        for skill in a.skills:
            member = raw.get(AgentField.READY_MEMBER, "")
            in_ready = await r.zscore(f"{ns}:acd:r:{skill}", member) is not None
            assert in_ready == (a.state is AgentState.READY), (a, skill)
    for c in waiting:
        raw = await r.hgetall(f"{ns}:acd:c:{c.call_id}")
        fallback = str(raw.get(CallField.FALLBACK, ""))
        queues = [c.skills[0]] + ([fallback] if fallback else [])
        for q in queues:
            score = await r.zscore(f"{ns}:acd:w:{q}:{c.effective_priority}", c.call_id)
            assert score is not None, (c, q)


async def snapshot(d: Distributor) -> list[LiveChannel]:
    """What Asterisk would show if it agreed with the distributor."""
    live = [LiveChannel(a.current_call or "", "12345", "1", agent_id=a.agent_id,
                        answered=a.state is AgentState.ON_CALL)
            for a in await d.view.agents()
            if a.state in (AgentState.RINGING, AgentState.ON_CALL)]
    return live + [LiveChannel(c.call_id, c.line, c.caller, skills=c.skills)
                   for c in await d.view.waiting()]


async def same_after_rebuild(d: Distributor) -> None:
    """A rebuild from a snapshot that matches our state changes nothing."""
    agents = await d.view.agents()
    waiting = await d.view.waiting()
    assert await d.rebuild(await snapshot(d)) == []
    assert await d.view.agents() == agents
    assert await d.view.waiting() == waiting


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(events=st.lists(event, max_size=40))
async def test_random_events_keep_state_consistent(
    redis: aioredis.Redis, events: list[tuple[object, ...]]
) -> None:
    ns = f"prop{next(_run)}"
    clock = Clock()
    d = Distributor(redis, CONFIG, namespace=ns, clock=clock)
    calls = itertools.count()
    for ev in events:
        kind, arg = ev[0], ev[1]
        agents = await d.view.agents()
        ringing = [a for a in agents if a.state is AgentState.RINGING]
        talking = [a for a in agents if a.state is AgentState.ON_CALL]
        if kind == "login":
            await d.agent_login(f"a{arg}", dict.fromkeys(ev[2], 1))  # type: ignore[call-overload]
        elif kind in ("logout", "pause", "unpause"):
            if any(a.agent_id == f"a{arg}" and a.state is not AgentState.LOGGED_OUT
                   for a in agents):
                if kind == "logout":
                    await d.agent_logout(f"a{arg}")
                elif kind == "pause":
                    await d.agent_pause(f"a{arg}", "break")
                else:
                    await d.agent_unpause(f"a{arg}")
        elif kind == "enqueue":
            skills = tuple(str(s) for s in arg)  # type: ignore[attr-defined]
            await d.enqueue(WaitingCall(f"c{next(calls)}", "12345", skills, "1",
                                        priority=int(ev[2])))  # type: ignore[call-overload]
        elif kind == "abandon":
            await d.abandon(f"c{arg}")
        elif kind == "callback":
            if any(c.call_id == f"c{arg}" for c in await d.view.waiting()):
                await d.request_callback(f"c{arg}")
        elif kind == "answer" and ringing:
            a = ringing[int(arg) % len(ringing)]  # type: ignore[call-overload]
            await d.agent_answered(a.current_call or "", a.agent_id)
        elif kind == "rna" and ringing:
            a = ringing[int(arg) % len(ringing)]  # type: ignore[call-overload]
            await d.ring_no_answer(a.current_call or "", a.agent_id)
        elif kind == "end" and talking:
            a = talking[int(arg) % len(talking)]  # type: ignore[call-overload]
            await d.call_ended(a.current_call or "", a.agent_id)
        elif kind == "rebuild":
            await same_after_rebuild(d)
        elif kind == "rebuild-lost":  # one call vanished while we were away
            live = await snapshot(d)
            if live:
                lost = live.pop(int(arg) % len(live))  # type: ignore[call-overload]
                await d.rebuild(live)
                assert lost.call_id not in {c.call_id for c in await d.view.waiting()}
                assert lost.call_id not in {a.current_call for a in await d.view.agents()}
        elif kind == "time":
            clock.advance(float(arg))  # type: ignore[arg-type]
            await d.advance()
        await check(d, redis, ns)
    # waiting calls are shown once each, in priority order
    w = await d.view.waiting()
    assert len({c.call_id for c in w}) == len(w)
    assert [c.effective_priority for c in w] == sorted((c.effective_priority for c in w),
                                                       reverse=True)
