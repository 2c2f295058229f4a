"""ivr/transfer.py before anything reaches Asterisk: a transfer the number policy refuses, of
a call not answered, or asked by another agent starts nothing — no AMI action, no row. Real
redis-server (live calls), real SQLite (call records, transfer rows); AMI is a recorder."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from hotline_core.call_records import CallLog
from hotline_core.db import make_engine, make_sessionmaker
from hotline_core.dial_policy import DialPolicy, DialPolicySettings
from hotline_core.lines import load_lines
from hotline_core.migrate import upgrade
from hotline_core.transfers import (
    Centre,
    Centres,
    TransferError,
    TransferMode,
    TransferStore,
)
from ivr.live_calls import LiveCall, LiveCalls
from ivr.records import AsyncCallLog
from ivr.transfer import TransferService
from stack.settings import REPO_ROOT

CALL = "1764000000.1"
CENTRES = Centres(line="12345000", ring_seconds=10, centres=tuple(
    Centre(n, n, (f"127.0.0.{n[-2:]}",), f"sip:127.0.0.{n[-2:]}:5060")
    for n in ("110", "119")))


class RecordingAmi:
    def __init__(self) -> None:
        self.actions: list[dict[str, str]] = []

    async def action(self, fields: dict[str, str], **_: Any) -> Any:
        self.actions.append(fields)
        return {"Response": "Success"}


@pytest.fixture
async def setup(tmp_path: Path, redis_url: str) -> AsyncIterator[dict[str, Any]]:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    upgrade(url)
    sessions = make_sessionmaker(make_engine(url))
    redis = aioredis.from_url(redis_url)
    ns = f"xfer-{tmp_path.name}"
    live = LiveCalls(redis, namespace=ns)
    calls = AsyncCallLog(CallLog(sessions))
    await live.add(LiveCall(call_id=CALL, channel="PJSIP/carrier-00000001", line="12345",
                            caller="13800138000"))
    await calls.offered(CALL, line="12345", caller="13800138000", linkedid=CALL)
    store = TransferStore(sessions)
    ami = RecordingAmi()
    # Only 110 is an emergency number this hotline may dial ([dialing] emergency_numbers).
    policy = DialPolicy(DialPolicySettings(emergency_numbers=("110",)), redis, namespace=ns)
    service = TransferService(ami, live, calls, None, store, CENTRES,  # type: ignore[arg-type]
                              load_lines(REPO_ROOT / "config" / "lines.toml"), policy)
    yield {"service": service, "ami": ami, "store": store, "calls": calls}
    await asyncio_close(calls, redis)


async def asyncio_close(calls: AsyncCallLog, redis: aioredis.Redis) -> None:
    import asyncio
    await asyncio.to_thread(calls.close)
    await redis.aclose()


async def _refused(setup: dict[str, Any], target: str, requester: str,
                   status: int) -> TransferError:
    with pytest.raises(TransferError) as err:
        await setup["service"].request(CALL, target, TransferMode.BLIND, requester, False)
    assert err.value.status == status, err.value
    assert setup["ami"].actions == []
    assert setup["store"].of_call(CALL) == []
    return err.value


async def test_nothing_starts_for_an_unanswered_call(setup: dict[str, Any]) -> None:
    await _refused(setup, "110", "1001", 409)


async def test_nothing_starts_for_another_agents_call_or_a_refused_number(
        setup: dict[str, Any]) -> None:
    await setup["calls"].answered(CALL, "1001")
    assert (await _refused(setup, "110", "1002", 403)).field is None
    refused = await _refused(setup, "119", "1001", 403)     # configured, but not allowed
    assert refused.field == "target" and "emergency" in str(refused)
    unknown = await _refused(setup, "120", "1001", 422)     # no such centre configured
    assert unknown.field == "target"


async def test_an_allowed_transfer_sets_the_agent_then_redirects_to_the_centre(
        setup: dict[str, Any]) -> None:
    await setup["calls"].answered(CALL, "1001")
    tid = await setup["service"].start(CALL, "110", TransferMode.BLIND, "1001", False)
    assert [a["Action"] for a in setup["ami"].actions] == ["Setvar", "Redirect"]
    setvar, redirect = setup["ami"].actions
    assert (setvar["Channel"], setvar["Value"]) == ("PJSIP/carrier-00000001", "1001")
    assert (redirect["Context"], redirect["Exten"]) == ("hotline-transfer", "110")
    [row] = setup["store"].of_call(CALL)
    assert (row.id, row.target, row.mode, row.requested_by, row.outcome) == (
        tid, "110", "blind", "1001", "requested")
    assert row.requested_at.replace(tzinfo=UTC) <= datetime.now(UTC)  # stored in UTC
    again = await _again(setup)
    assert again.status == 409


async def _again(setup: dict[str, Any]) -> TransferError:
    with pytest.raises(TransferError) as err:
        await setup["service"].request(CALL, "110", TransferMode.BLIND, "1001", False)
    return err.value
