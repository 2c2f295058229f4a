"""After a restart or AMI reconnect the distributor is reconciled with Asterisk's channels."""

from __future__ import annotations

from hotline_core.acd import AgentState, DistributionConfig, LiveChannel, WaitingCall
from tests.acd.conftest import Clock, MakeDistributor


def call(cid: str) -> WaitingCall:
    return WaitingCall(call_id=cid, line="12345", skills=("general",), caller="1")


async def test_rebuild_matches_asterisk_and_frees_stuck_agents(
    make: MakeDistributor, clock: Clock
) -> None:
    d, rec = make(DistributionConfig(wrapup_seconds=10))
    await d.agent_login("a1", {"general": 1})
    await d.agent_login("a2", {"general": 1})
    await d.agent_login("a3", {"general": 1})
    await d.agent_pause("a3", "break")
    await d.enqueue(call("c1"))  # a1 rings
    await d.agent_answered("c1", "a1")
    await d.enqueue(call("c2"))  # a2 rings
    await d.enqueue(call("c3"))  # waits
    await d.enqueue(call("c4"))  # waits
    await d.agent_unpause("a3")  # takes c3
    await d.agent_pause("a3", "break")  # c3 back to the head
    rec.seen.clear()
    clock.advance(30)
    # what Asterisk shows after the core restarted: c1's caller is gone (a1 idle), a2
    # answered c2, c4's caller hung up, c3 still waits, c5 is a caller we never saw and
    # a3 talks with c6, a call the distributor never knew.
    live = [
        LiveChannel("c2", "12345", "1", agent_id="a2", answered=True),
        LiveChannel("c3", "12345", "1", skills=("general",)),
        LiveChannel("c5", "12345", "1", skills=("general",), waiting_since=clock.t - 5),
        LiveChannel("c6", "12345", "1", skills=("general",), agent_id="a3", answered=True),
    ]
    made = await d.rebuild(live)
    assert made == []  # nobody is free: a1 is in wrap-up after c1
    s = {a.agent_id: a for a in await d.view.agents()}
    assert (s["a1"].state, s["a1"].current_call) == (AgentState.WRAP_UP, None)
    assert (s["a2"].state, s["a2"].current_call) == (AgentState.ON_CALL, "c2")
    assert (s["a3"].state, s["a3"].current_call) == (AgentState.ON_CALL, "c6")
    assert [c.call_id for c in await d.view.waiting()] == ["c3", "c5"]
    f = await d.view.figures()
    assert f.lines["12345"].abandoned == 0  # reconciled calls are not counted
    clock.advance(10)
    await d.advance()
    assert rec.pairs() == [("c3", "a1")]
    await d.call_ended("c6", "a3")  # the reconciled call ends normally
    assert next(a for a in await d.view.agents() if a.agent_id == "a3").state == \
        AgentState.WRAP_UP


async def test_rebuild_frees_agent_whose_ringing_call_never_reached_it(
    make: MakeDistributor, clock: Clock
) -> None:
    d, rec = make()
    await d.agent_login("a1", {"general": 1})
    await d.enqueue(call("c1"))  # a1 'rings', but the redirect was lost in the restart
    clock.advance(3)
    await d.agent_login("a2", {"general": 1})
    made = await d.rebuild([LiveChannel("c1", "12345", "1", skills=("general",))])
    # a1 keeps its longest-idle place, so c1 rings at a1 again — and only once
    assert [(a.call_id, a.agent_id) for a in made] == [("c1", "a1")]
    assert rec.pairs() == [("c1", "a1"), ("c1", "a1")]


async def test_rebuild_with_an_empty_snapshot_clears_everything(
    make: MakeDistributor,
) -> None:
    d, _ = make()
    await d.agent_login("a1", {"general": 1})
    await d.enqueue(call("c1"))
    await d.agent_answered("c1", "a1")
    await d.enqueue(call("c2"))
    await d.rebuild([])
    assert await d.view.waiting() == []
    assert [a.state for a in await d.view.agents()] == [AgentState.WRAP_UP]
