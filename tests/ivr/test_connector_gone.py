"""The connector and a caller who hung up just before the Redirect (ivr/connector.py), with a
real Redis distributor.

Asterisk 22 (the chroot's) answers a Redirect of a channel that no longer exists with
``Channel does not exist: <channel>`` (the text below is copied from a real core's log,
tests/e2e/test_fault_ami_two_cores.py). The call is gone: it leaves the line and the agent
is free at once, counted once as abandoned. A Redirect that failed for another reason
(a timeout, AMI reconnecting) still puts the call back at the head of the line and rests
the agent (tests/acd/test_connect_failed.py).
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import redis.asyncio as aioredis

from hotline_core.acd import AgentState, DistributionConfig, Distributor, WaitingCall
from ivr.ami import AmiError
from ivr.connector import AgentConnector
from ivr.live_calls import LiveCall, LiveCalls

GONE_REPLY = "AMI action Redirect failed: Channel does not exist: PJSIP/carrier-00000008"


class RefusingAmi:
    """AMI as the connector sees it: every action fails with ``reply``."""

    def __init__(self, reply: str) -> None:
        self.reply = reply
        self.sent: list[dict[str, str]] = []

    async def action(self, fields: dict[str, str], **_: Any) -> Any:
        self.sent.append(fields)
        raise AmiError(self.reply)


async def _one_ringing(redis: aioredis.Redis, reply: str
                       ) -> tuple[Distributor, RefusingAmi]:
    ns = f"gone{uuid.uuid4().hex[:8]}"
    live = LiveCalls(redis, namespace=ns)
    d = Distributor(redis, DistributionConfig(wrapup_seconds=0), namespace=ns)
    ami = RefusingAmi(reply)
    d.on_assignment = AgentConnector(ami, live, d)  # type: ignore[arg-type]
    await d.agent_login("1001", {"general": 1})
    await live.add(LiveCall("c1", "PJSIP/carrier-00000008", "12345", "13800138000"))
    await d.enqueue(WaitingCall("c1", "12345", ("general",), "13800138000"))
    return d, ami


@pytest.mark.parametrize("reply", [GONE_REPLY, "AMI action Redirect failed: No such channel"])
async def test_a_gone_caller_leaves_the_line_and_frees_the_agent(
        redis: aioredis.Redis, reply: str) -> None:
    d, ami = await _one_ringing(redis, reply)
    assert [f["Action"] for f in ami.sent] == ["Redirect"]      # tried once, not again
    assert await d.view.waiting() == []
    [agent] = await d.view.agents()
    assert (agent.state, agent.current_call) == (AgentState.READY, None)
    line = (await d.view.figures()).lines["12345"]
    assert line.abandoned == 1, line


async def test_another_failure_puts_the_call_back_first_and_rests_the_agent(
        redis: aioredis.Redis) -> None:
    d, ami = await _one_ringing(redis, "AMI action Redirect got no answer in 5.0 s")
    assert [c.call_id for c in await d.view.waiting()] == ["c1"]
    [agent] = await d.view.agents()
    assert agent.state is AgentState.WRAP_UP
