"""Redis round trips of one inbound call, with a real redis-server (issue 14 item 3).

Every round trip costs the core a connection check-out, a write, a read and a timeout (about
65 µs of CPU each on these machines), on a path that runs once per call. Counted where
redis-py sends: every command sent alone and every pipeline is one ``send_packed_command``
on a pool connection (a connection class that counts them; the commands themselves run on
the real server, whose state the tests check).

Before the arrival batch (main of 2026-12-01 01:32): the flow sent the restriction GET, the
live-call HSET, the needs-help HEXISTS, the logged-in SCARDs (one pipeline) and the enqueue
script one by one (5 round trips), and the bridge's hang-up the live-call HGET, HDEL, the
held-call HGETALL and the abandon script (4).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from hotline_core.acd import Distributor, load_distribution_config
from hotline_core.acd.caller_flags import CallerFlags, CallerPriority
from hotline_core.acd.restriction import RestrictionList
from hotline_core.call_records import CallLog
from hotline_core.db import Base, make_engine, make_sessionmaker
from hotline_core.lines import load_lines
from ivr.call_events import CallEventBridge
from ivr.flows.inbound import InboundContext, InboundFlow
from ivr.live_calls import LiveCalls
from ivr.records import AsyncCallLog
from stack.settings import REPO_ROOT
from testkit.fake_asterisk import FakeAsterisk, serve

NS = "roundtrips"


class Parts:
    def __init__(self, redis: aioredis.Redis, calls: AsyncCallLog) -> None:
        config = load_distribution_config(REPO_ROOT / "config" / "distribution.toml")
        self.distributor = Distributor(redis, config, namespace=NS)
        self.live = LiveCalls(redis, namespace=NS)
        self.restrictions = RestrictionList(redis, namespace=NS)
        self.flags = CallerFlags(redis, namespace=NS)
        self.calls = calls
        self.flow = InboundFlow(InboundContext(
            lines=load_lines(REPO_ROOT / "config" / "lines.toml"), calls=calls,
            distributor=self.distributor, live=self.live, sounds_dir="/s",
            recordings_dir="/r", restrictions=self.restrictions,
            priority=CallerPriority(config.priorities, self.flags)))


@pytest.fixture
async def parts(tmp_path: Path, redis_url: str) -> AsyncIterator[Parts]:
    engine = make_engine(f"sqlite:///{tmp_path / 'h.db'}")
    Base.metadata.create_all(engine)
    calls = AsyncCallLog(CallLog(make_sessionmaker(engine)))
    redis = aioredis.Redis.from_url(redis_url, socket_timeout=5, connection_class=Sends)
    for key in await redis.keys(f"{NS}*"):
        await redis.delete(key)
    yield Parts(redis, calls)
    calls.close()
    await redis.aclose()


class Sends(aioredis.Connection):
    """A pool connection that counts what it sends (one count per round trip)."""

    count = 0

    async def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        Sends.count += 1
        await super().send_packed_command(command, check_health)


async def _call(parts: Parts, call_id: str, caller: str) -> list[str]:
    async with serve({"inbound": parts.flow}) as server:
        result = await FakeAsterisk(server.port, script="inbound", callerid=caller,
                                    params={"line": "12345", "rec": f"{call_id}.wav",
                                            "linkedid": call_id},
                                    uniqueid=call_id).auto_reply().run()
    return result.commands


@pytest.mark.timeout(60)
async def test_an_inbound_call_costs_three_round_trips(parts: Parts) -> None:
    await parts.distributor.agent_login("1001", {"general": 1})
    await parts.distributor.agent_pause("1001", "bench")     # logged in, takes no call
    before = Sends.count
    commands = await _call(parts, "rt-1.1", "13800138001")
    after = Sends.count
    # The flow ran to the waiting line: the greeting, then HOTLINE_NEXT=wait.
    assert commands[-1] == 'SET VARIABLE HOTLINE_NEXT "wait"', commands
    assert (await parts.distributor.view.held_call("rt-1.1")) is not None
    # By hand: the arrival batch (live-call HSET + restriction GET + needs-help HEXISTS),
    # the logged-in counts (SCARD pipeline), the enqueue script.
    assert after - before == 3


@pytest.mark.timeout(60)
async def test_a_waiting_callers_hang_up_costs_three_round_trips(parts: Parts) -> None:
    await parts.distributor.agent_login("1001", {"general": 1})
    await parts.distributor.agent_pause("1001", "bench")
    await _call(parts, "rt-2.1", "13800138002")
    bridge = CallEventBridge(ami=None, live=parts.live,  # type: ignore[arg-type]
                             calls=parts.calls, distributor=parts.distributor)
    event: Any = {"Event": "Hangup", "Uniqueid": "rt-2.1", "Cause": "16"}
    before = Sends.count
    await bridge.handle(event)
    after = Sends.count
    assert await parts.live.get("rt-2.1") is None
    assert await parts.distributor.view.held_call("rt-2.1") is None     # abandoned
    # By hand: the live-call HGET, the batch (HDEL + held-call HGETALL), the abandon
    # script.
    assert after - before == 3


@pytest.mark.timeout(60)
async def test_a_restricted_caller_is_registered_and_taken_back(parts: Parts) -> None:
    await parts.restrictions.restrict("13800138003", "insults staff", by="sup1", days=30)
    commands = await _call(parts, "rt-3.1", "13800138003")
    assert commands[-1] == 'SET VARIABLE HOTLINE_NEXT "done"', commands
    assert any("restricted" in c for c in commands if c.startswith("STREAM FILE")), commands
    assert await parts.live.get("rt-3.1") is None          # the batch's entry taken back
    assert await parts.distributor.view.held_call("rt-3.1") is None
    hits = await parts.restrictions.hits()
    assert [h.number for h in hits] == ["13800138003"]
    record = await parts.calls.get("rt-3.1")
    assert record is not None and record.disposition == "restricted", record
