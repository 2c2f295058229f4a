"""Which core instance handles a call's AMI events (stack/cluster.py), with a real Redis.

Two instances each run an event bridge and both receive every event, as two AMI
connections to one Asterisk do:

* each call's events are handled once, by the instance that registered it (its owner);
* an event of a call whose owner stopped running (presence expired) is handled by the
  instance that sees it, which takes the call over first;
* two survivors adopting one call at once: exactly one wins;
* the leader's sweep adopts the dead owner's calls and settles them from Asterisk's
  channels: a caller gone → a Hangup for the bridge, an agent leg up on an unanswered
  record → a DialEnd ANSWER, a caller still waiting → nothing.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
import redis.asyncio as aioredis

from hotline_core.acd import DistributionConfig, Distributor, WaitingCall
from hotline_core.redis_keys import RedisKeys
from ivr.call_events import CallEventBridge
from ivr.live_calls import LiveCall, LiveCalls
from stack.cluster import Cluster, core_name, settle_adopted


class CallLogSpy:
    """The call log as the bridge sees it: which calls this instance ended."""

    def __init__(self, answered: set[str] | None = None) -> None:
        self.ended: list[str] = []
        self._answered = answered or set()

    async def ended_call(self, call_id: str, cause: int | None) -> None:
        self.ended.append(call_id)

    async def get(self, call_id: str) -> Any:
        answered_at = "yes" if call_id in self._answered else None
        return type("Record", (), {"answered_at": answered_at, "agent_id": None})()


class Instance:
    def __init__(self, redis: aioredis.Redis, ns: str, index: int) -> None:
        self.cluster = Cluster(redis, RedisKeys(ns), index, 2, ttl=30.0, every=1.0)
        self.live = LiveCalls(redis, namespace=ns, owner=self.cluster.name)
        self.distributor = Distributor(redis, DistributionConfig(), namespace=ns)
        self.log = CallLogSpy()
        calls: Any = type("Calls", (), {"ended": self.log.ended_call, "get": self.log.get})()
        self.bridge = CallEventBridge(
            ami=None, live=self.live, calls=calls,  # type: ignore[arg-type]
            distributor=self.distributor, owns=self.cluster.owner_check(self.live))

    async def register(self, call_id: str) -> None:
        """What the ``inbound`` flow does on this instance: the call is live and waiting."""
        await self.live.add(LiveCall(call_id, f"PJSIP/carrier-{call_id}", "12345",
                                     "13800138000"))
        await self.distributor.enqueue(WaitingCall(call_id, "12345", ("general",),
                                                   "13800138000"))


@pytest.fixture
async def pair(redis: aioredis.Redis) -> list[Instance]:
    ns = f"owners{uuid.uuid4().hex[:8]}"
    instances = [Instance(redis, ns, i) for i in range(2)]
    for x in instances:
        await x.cluster.leadership.step()      # presence written (and one leads)
    return instances


def hangup(call_id: str) -> dict[str, str]:
    return {"Event": "Hangup", "Uniqueid": call_id, "Cause": "16"}


@pytest.mark.timeout(60)
async def test_each_call_is_handled_by_its_owner_only(pair: list[Instance]) -> None:
    zero, one = pair
    await zero.register("c-0")
    await one.register("c-1")
    assert (await zero.live.get("c-0"), await one.live.get("c-1")) != (None, None)
    assert (await one.live.get("c-0")).owner == core_name(0)  # type: ignore[union-attr]
    # Both bridges see both hang-ups; the non-owner first, so it cannot win by being late.
    for event in (hangup("c-0"), hangup("c-1")):
        for x in (one, zero) if event["Uniqueid"] == "c-0" else (zero, one):
            await asyncio.wait_for(x.bridge.handle(event), 10)
    assert zero.log.ended == ["c-0"]
    assert one.log.ended == ["c-1"]
    figures = await zero.distributor.view.figures()
    assert figures.lines["12345"].abandoned == 2          # once per call, not twice
    assert zero.cluster.adopted == one.cluster.adopted == 0


@pytest.mark.timeout(60)
async def test_a_dead_owners_call_is_taken_over_by_the_instance_that_sees_its_event(
        pair: list[Instance]) -> None:
    zero, one = pair
    await zero.register("c-2")
    await asyncio.wait_for(one.bridge.handle(hangup("c-2")), 10)   # owner alive: skipped
    assert one.log.ended == [] and await one.live.get("c-2") is not None
    # core-0 dies: its presence goes (here at once; a killed one's expires after ttl).
    assert zero.cluster.leadership.presence is not None
    await zero.cluster.leadership.presence.leave()
    one.cluster._alive_seen.clear()     # the next look asks Redis (cached one round)
    await asyncio.wait_for(one.bridge.handle(hangup("c-2")), 10)
    assert one.log.ended == ["c-2"]
    assert one.cluster.adopted == 1
    assert await one.live.get("c-2") is None


@pytest.mark.timeout(60)
async def test_two_survivors_adopting_one_call_one_wins(pair: list[Instance]) -> None:
    zero, one = pair
    await zero.register("c-3")
    results = await asyncio.gather(*(one.live.adopt("c-3", core_name(0), name)
                                     for name in ("core-1", "core-2", "core-3")))
    assert sorted(results) == [False, False, True]
    owner = (await one.live.get("c-3")).owner  # type: ignore[union-attr]
    assert owner == ("core-1", "core-2", "core-3")[results.index(True)]


class FakeAmi:
    """CoreShowChannels as Asterisk answers it; the bridge's event queue."""

    def __init__(self, channels: list[dict[str, str]]) -> None:
        self.channels = channels
        self.events: asyncio.Queue[Any] = asyncio.Queue()

    async def action(self, action: dict[str, str], **_: Any) -> list[dict[str, str]]:
        assert action["Action"] == "CoreShowChannels"
        return [{"Event": "CoreShowChannel", **ch} for ch in self.channels]


@pytest.mark.timeout(60)
async def test_the_sweep_adopts_and_settles_what_nobody_handled(pair: list[Instance]) -> None:
    zero, one = pair
    for call_id in ("gone", "talking", "waiting", "answered"):
        await zero.register(call_id)
    await one.register("mine")
    # What an instance settles after its own AMI connection was away: its calls only.
    assert await one.cluster.own_calls(one.live) == ["mine"]
    assert zero.cluster.leadership.presence is not None
    await zero.cluster.leadership.presence.leave()
    one.cluster._alive_seen.clear()
    taken = await one.cluster.adopt_orphans(one.live)
    assert sorted(taken) == ["answered", "gone", "talking", "waiting"]

    ami = FakeAmi([
        # "gone" has no channel any more: its caller hung up while nobody listened.
        {"Channel": "PJSIP/carrier-1", "Uniqueid": "talking", "Linkedid": "talking",
         "ChannelStateDesc": "Up", "Context": "hotline-connect"},
        {"Channel": "PJSIP/1001-0001", "Uniqueid": "leg-1", "Linkedid": "talking",
         "ChannelStateDesc": "Up", "Context": "agents"},
        {"Channel": "PJSIP/carrier-2", "Uniqueid": "waiting", "Linkedid": "waiting",
         "ChannelStateDesc": "Up", "Context": "hotline-wait"},
        {"Channel": "PJSIP/carrier-3", "Uniqueid": "answered", "Linkedid": "answered",
         "ChannelStateDesc": "Up", "Context": "hotline-connect"},
        {"Channel": "PJSIP/1002-0002", "Uniqueid": "leg-2", "Linkedid": "answered",
         "ChannelStateDesc": "Up", "Context": "agents"},
        {"Channel": "PJSIP/carrier-4", "Uniqueid": "mine", "Linkedid": "mine",
         "ChannelStateDesc": "Up", "Context": "hotline-wait"},
    ])
    calls: Any = CallLogSpy(answered={"answered"})    # its answer was handled in time
    queued = await settle_adopted(ami, one.live, calls, one.cluster.name,  # type: ignore[arg-type]
                                  taken)
    events = [ami.events.get_nowait() for _ in range(ami.events.qsize())]
    assert queued == len(events) == 2
    assert {"Event": "Hangup", "Uniqueid": "gone", "Cause": ""} in events
    assert {"Event": "DialEnd", "Uniqueid": "talking", "DialStatus": "ANSWER",
            "DestChannel": "PJSIP/1001-0001"} in events
