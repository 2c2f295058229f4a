"""A call whose Redirect to the agent failed goes back to the head of its line.

On the starting main the connector called ``abandon`` instead: the call left the line while
the caller kept hearing music, and nobody would ever take it (the e2e counterpart is in
tests/e2e/test_distribution_rules.py). This has no ``connect_failed`` operation there.
"""

from __future__ import annotations

from hotline_core.acd import AgentState, DistributionConfig, WaitingCall
from tests.acd.conftest import Clock, MakeDistributor


def call(cid: str) -> WaitingCall:
    return WaitingCall(call_id=cid, line="12345", skills=("general",), caller=f"139{cid}")


async def test_failed_connect_puts_the_call_first_and_rests_the_agent(
        make: MakeDistributor, clock: Clock) -> None:
    d, rec = make(DistributionConfig(wrapup_seconds=0))
    await d.agent_login("a1", {"general": 1})
    await d.enqueue(call("first"))            # rings a1
    clock.advance(1)
    await d.enqueue(call("second"))           # waits behind it
    await d.connect_failed("first", "a1", 2.0)
    # first is back in line, ahead of the call that came later
    assert [c.call_id for c in await d.view.waiting()] == ["first", "second"]
    status = {a.agent_id: a for a in await d.view.agents()}["a1"]
    assert status.state is AgentState.WRAP_UP
    clock.advance(1.9)
    assert await d.advance() == []
    clock.advance(0.1)                        # the 2 s rest is over: a1 takes first again
    await d.advance()
    assert rec.pairs() == [("first", "a1"), ("first", "a1")]


async def test_failed_connect_rings_another_free_agent_at_once(
        make: MakeDistributor, clock: Clock) -> None:
    d, rec = make(DistributionConfig(wrapup_seconds=0))
    await d.agent_login("a1", {"general": 1})
    await d.enqueue(call("c1"))               # rings a1
    await d.agent_login("a2", {"general": 1})
    await d.connect_failed("c1", "a1", 1.0)
    assert rec.pairs() == [("c1", "a1"), ("c1", "a2")]


async def test_a_redirect_that_arrived_late_is_answered_by_the_resting_agent(
        make: MakeDistributor, clock: Clock) -> None:
    """A Redirect reported as timed out may still have reached Asterisk: the agent answers
    while resting and the call waits in line again. The answer counts; the call leaves the
    line and nobody else is offered it."""
    d, rec = make(DistributionConfig(wrapup_seconds=0))
    await d.agent_login("a1", {"general": 1})
    await d.enqueue(call("c1"))
    await d.connect_failed("c1", "a1", 5.0)
    clock.advance(1)
    await d.agent_answered("c1", "a1")
    assert await d.view.waiting() == []
    status = {a.agent_id: a for a in await d.view.agents()}["a1"]
    assert status.state is AgentState.ON_CALL and status.current_call == "c1"
    await d.agent_login("a2", {"general": 1})
    clock.advance(10)                         # past the rest: nothing is offered again
    await d.advance()
    assert rec.pairs() == [("c1", "a1")]
    figures = (await d.view.figures()).lines["12345"]
    assert figures.answered == 1
