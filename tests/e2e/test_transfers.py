"""Transfers to an emergency centre on real Asterisk (R-EMERG, issue 11 items 1-2): a SIPp
"119" centre on its own loopback address, a SIPp citizen behind the carrier, SIPp agents.

The citizen's SIPp scenario fails on any BYE it did not send itself: ``result.ok`` is the
proof that the citizen was never dropped.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest

from testkit import processes
from testkit.stack import Agent, HotlineStack, free_udp_port

pytestmark = pytest.mark.e2e

CENTRE_IP = "127.0.0.119"
CARRIER_IP = "127.0.0.1"


def _centres(port: int, ip: str = CENTRE_IP) -> str:
    return f"""
line = "12345000"
ring_seconds = 6
[[centre]]
number = "119"
name = "119 test centre"
addresses = ["{ip}"]
uri = "sip:{ip}:{port}"
[[centre]]
number = "110"
name = "110 test centre"
addresses = ["127.0.0.110"]
uri = "sip:127.0.0.110:{port}"
reference_header = "X-Centre-Reference"
"""


# Agents of the module's one stack; only those a test logs in are offered calls.
AGENTS = ("1001", "1002")
REFER_AGENT = "1003"        # its phone answers, then presses its own transfer key (REFER)


@pytest.fixture(scope="module")
def centre_port() -> int:
    return free_udp_port()


@pytest.fixture(scope="module")
def shared(centre_port: int) -> Iterator[HotlineStack]:
    """One stack for the module (a stack per test cost ~7 s more each); ``hl`` resets it."""
    stack = HotlineStack(agents=[*(Agent(a, {"general": 1}) for a in AGENTS),
                                 Agent(REFER_AGENT, {"general": 1}, scenario="agent_refer.xml")],
                         centres=_centres(centre_port)).start()
    try:
        yield stack
    finally:
        stack.stop()


@pytest.fixture
def hl(shared: HotlineStack) -> Iterator[HotlineStack]:
    """The module's stack as a fresh one would be: no call up, nobody waiting, every agent
    logged out, no centre phone and no centre message log."""
    yield shared
    _reset(shared)


def _reset(hl: HotlineStack) -> None:
    processes.stop(hl.phones.pop("centre119", None))
    hl.reset_for_next_test()
    (hl.spec.host_dir / "sipp" / "phone-centre119-messages.log").unlink(missing_ok=True)


def _agent_list(hl: HotlineStack) -> list[dict[str, Any]]:
    return list(hl.api("GET", "/api/agents")["agents"])


async def _agents(hl: HotlineStack) -> dict[str, dict[str, Any]]:
    return {a["agent_id"]: a for a in await asyncio.to_thread(_agent_list, hl)}


def _centre(hl: HotlineStack, port: int, scenario: str) -> subprocess.Popen[bytes]:
    proc = hl.sipp.phone("centre119", port=port, media_port=hl._media_port(), ring_ms=300,
                         scenario=scenario, local_ip=CENTRE_IP, trace_messages=True)
    hl.phones["centre119"] = proc
    return proc


def _centre_messages(hl: HotlineStack) -> str:
    path = hl.spec.host_dir / "sipp" / "phone-centre119-messages.log"
    return path.read_text(errors="replace") if path.exists() else ""


async def _answered_call(hl: HotlineStack, caller_tail: str) -> dict[str, Any]:
    return await hl.wait_call(lambda c: c["caller"].endswith(caller_tail)
                              and c["answered_at"] is not None)


async def _transfers(hl: HotlineStack, call_id: str,
                     done: Any, timeout: float = 30.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    rows: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        rows = (await hl.aapi("GET", f"/api/calls/{call_id}/transfers"))["transfers"]
        if rows and done(rows[-1]):
            return rows
        await asyncio.sleep(0.2)
    raise AssertionError(f"transfer rows never matched: {rows}")


async def _waiting(hl: HotlineStack, count: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lines = (await hl.aapi("GET", "/api/queues"))["lines"]
        if sum(f["waiting"] for f in lines.values()) == count:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"never {count} calls waiting: {lines}")


def _invites(messages: str) -> list[str]:
    return [m for m in messages.split("----------------------------------------------")
            if "INVITE sip:" in m and "received" in m.lower()]


async def test_blind_transfer_reaches_the_centre_with_the_citizens_number(
        hl: HotlineStack, centre_port: int) -> None:
    _centre(hl, centre_port, "agent.xml")   # answers after 300 ms, waits for BYE
    hl.login("1001")
    citizen = asyncio.create_task(hl.call("12345", "13800138501", talk_ms=14000))
    call = await _answered_call(hl, "8501")

    res = await hl.aapi("POST", f"/api/calls/{call['id']}/transfer",
                        {"target": "119", "mode": "blind"}, as_="1001")
    assert res.get("outcome") == "requested", res
    assert res["target"] == "119" and res["mode"] == "blind" and res["requested_by"] == "1001"
    rows = await _transfers(hl, call["id"], lambda r: r["outcome"] == "connected")
    assert rows[-1]["answered_at"] is not None
    # The agent's part is over once the centre has the citizen.
    agents = await _agents(hl)
    assert agents["1001"]["state"] == "ready"

    result = await citizen
    assert result.ok, result.output[:1500]      # talked to the centre, hung up themselves
    rows = await _transfers(hl, call["id"], lambda r: r["outcome"] == "completed")
    assert rows[-1]["ended_at"] is not None
    invites = _invites(_centre_messages(hl))
    assert len(invites) == 1, _centre_messages(hl)[-3000:]
    # Caller ID to the centre = the citizen's number; dialled = the centre's number.
    assert "INVITE sip:119@" in invites[0]
    assert any(line.startswith("From:") and "13800138501" in line
               for line in invites[0].splitlines()), invites[0]


async def test_busy_centre_gives_the_citizen_back_to_the_agent(
        hl: HotlineStack, centre_port: int) -> None:
    _centre(hl, centre_port, "centre_busy.xml")
    hl.login("1001")
    citizen = asyncio.create_task(hl.call("12345", "13800138502", talk_ms=16000))
    call = await _answered_call(hl, "8502")

    res = await hl.aapi("POST", f"/api/calls/{call['id']}/transfer",
                        {"target": "119", "mode": "blind"}, as_="1001")
    assert res.get("outcome") == "requested", res
    rows = await _transfers(hl, call["id"], lambda r: r["outcome"] == "busy")
    assert rows[-1]["answered_at"] is None and rows[-1]["ended_at"] is not None
    # The citizen talks with agent 1001 again: its phone has a second call up.
    deadline = time.monotonic() + 20
    channels = ""
    while time.monotonic() < deadline:
        assert hl.asterisk is not None
        channels = hl.asterisk.cli("core show channels concise")
        if any(line.startswith("PJSIP/1001-") and "!Up!" in line
               for line in channels.splitlines()):
            break
        await asyncio.sleep(0.2)
    else:
        raise AssertionError(f"agent 1001 never had the citizen back: {channels}")
    agents = await _agents(hl)
    assert agents["1001"]["state"] == "on_call"
    assert agents["1001"]["current_call"] == call["id"]
    result = await citizen
    assert result.ok, result.output[:1500]       # never dropped
    assert len(_invites(_centre_messages(hl))) == 1


async def test_refer_from_the_agents_phone_does_not_drop_the_citizen(
        hl: HotlineStack, centre_port: int) -> None:
    _centre(hl, centre_port, "agent.xml")
    hl.login(REFER_AGENT)
    result = await hl.call("12345", "13800138503", talk_ms=6000)
    assert result.ok, result.output[:1500]       # the citizen hung up, not the platform
    call = await hl.wait_call(lambda c: c["caller"].endswith("8503") and c["ended_at"])
    assert call["disposition"] == "answered" and call["agent_id"] == REFER_AGENT
    # The REFER was refused, the phone said so in its log, nothing reached the centre.
    assert _invites(_centre_messages(hl)) == []
    phone_errors = hl.phone_log(REFER_AGENT)
    assert "Aborting" not in phone_errors, phone_errors[-2000:]


async def test_transfer_refuses_anonymous_other_roles_other_agents_and_bad_input(
        hl: HotlineStack) -> None:
    hl.login("1001")
    citizen = asyncio.create_task(hl.call("12345", "13800138504", talk_ms=8000))
    call = await _answered_call(hl, "8504")
    path = f"/api/calls/{call['id']}/transfer"
    body = {"target": "119", "mode": "blind"}
    assert (await asyncio.to_thread(hl._request, "POST", path, None, body))["status"] == 401
    other = await hl.aapi("POST", path, body, as_="1002")      # not 1002's call
    assert other["status"] == 403 and "1002" in other["error"]
    for bad, field in (({"target": "911", "mode": "blind"}, "target"),
                       ({"target": "119;Dial(PJSIP/x)", "mode": "blind"}, "target"),
                       ({"target": "119", "mode": "conference"}, "mode"),
                       ({"target": 119, "mode": "blind"}, "target")):
        res = await hl.aapi("POST", path, bad, as_="1001")
        assert res["status"] == 422 and res.get("field") == field, (bad, res)
    gone = await hl.aapi("POST", "/api/calls/1.2/transfer", body, as_="1001")
    assert gone["status"] == 404
    # Nothing was started by any refused request.
    assert (await hl.aapi("GET", f"/api/calls/{call['id']}/transfers"))["transfers"] == []
    result = await citizen
    assert result.ok, result.output[:1500]


async def test_centre_trunk_call_is_answered_before_earlier_callers_and_keeps_its_reference(
        hl: HotlineStack) -> None:
    hl.login("1001")
    first = asyncio.create_task(hl.call("12345", "13800138510", talk_ms=14000))
    await _answered_call(hl, "8510")
    # While the only agent talks: an earlier caller waits; then the carrier sends a call
    # carrying the centres' headers (no priority); then the 110 centre's trunk passes a
    # call in (top priority). Each caller stays (from the platform's answer) long enough to
    # outlast the ones served before it.
    waiting = asyncio.create_task(hl.call("12345", "13800138511", talk_ms=26000))
    await hl.wait_call(lambda c: c["caller"].endswith("8511"))
    spoofed = asyncio.create_task(hl.call("12345000", "13800138512", talk_ms=34000,
                                          scenario="caller_centre_header.xml"))
    await hl.wait_call(lambda c: c["caller"].endswith("8512"))
    from_110 = asyncio.create_task(hl.call("12345", "13800138513", talk_ms=16000,
                                           source_ip="127.0.0.110",
                                           scenario="caller_centre_header.xml"))
    # All three are in line before the agent is free (else the order proves nothing).
    await _waiting(hl, 3)
    assert not first.done()
    for task in (first, waiting, spoofed, from_110):
        result = await task
        assert result.ok, result.output[:1500]
    a = await hl.wait_call(lambda c: c["caller"].endswith("8511") and c["ended_at"])
    b = await hl.wait_call(lambda c: c["caller"].endswith("8512") and c["ended_at"])
    c = await hl.wait_call(lambda c: c["caller"].endswith("8513") and c["ended_at"])
    assert c["line"] == "12345000"       # the centres' own line, whatever the centre dialled
    assert None not in (a["answered_at"], b["answered_at"], c["answered_at"]), (a, b, c)
    assert c["answered_at"] < a["answered_at"] < b["answered_at"]
    assert c["offered_at"] > b["offered_at"] > a["offered_at"]
    centre_call = await asyncio.to_thread(_centre_call, hl, c["id"])
    assert centre_call == ("110", "JQ-2026-0042")
    assert await asyncio.to_thread(_centre_call, hl, b["id"]) is None


def _centre_call(hl: HotlineStack, call_id: str) -> tuple[str, str] | None:
    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session

    from hotline_core.transfers import CentreCall
    engine = create_engine(hl.settings.database_url)
    try:
        with Session(engine) as s:
            row = s.get(CentreCall, call_id)
            return (row.centre, row.reference) if row is not None else None
    finally:
        engine.dispose()


def _conference(hl: HotlineStack, call_id: str) -> list[str]:
    """The channels in the call's three-way conference (ConfBridge), as Asterisk lists them."""
    assert hl.asterisk is not None
    out = hl.asterisk.cli(f"confbridge list {call_id}")
    return sorted(word for line in out.splitlines() for word in line.split()[:1]
                  if word.startswith("PJSIP/"))


async def _conference_of(hl: HotlineStack, call_id: str, prefixes: list[str],
                         timeout: float = 20.0) -> list[str]:
    deadline = time.monotonic() + timeout
    members: list[str] = []
    while time.monotonic() < deadline:
        members = _conference(hl, call_id)
        if sorted(m.rsplit("-", 1)[0] for m in members) == sorted(prefixes):
            return members
        await asyncio.sleep(0.2)
    raise AssertionError(f"conference {call_id} holds {members}, expected {prefixes}")


async def test_three_way_call_keeps_citizen_and_centre_when_the_agent_leaves(
        hl: HotlineStack, centre_port: int) -> None:
    _centre(hl, centre_port, "agent.xml")
    hl.login("1001")
    citizen = asyncio.create_task(hl.call("12345", "13800138520", talk_ms=16000))
    call = await _answered_call(hl, "8520")

    res = await hl.aapi("POST", f"/api/calls/{call['id']}/transfer",
                        {"target": "119", "mode": "three-way"}, as_="1001")
    assert res.get("outcome") == "requested", res
    members = await _conference_of(hl, call["id"],
                                   ["PJSIP/carrier", "PJSIP/1001", "PJSIP/centre-119"])
    rows = await _transfers(hl, call["id"], lambda r: r["outcome"] == "connected")
    assert rows[-1]["mode"] == "three-way" and rows[-1]["answered_at"] is not None
    invites = _invites(_centre_messages(hl))
    assert len(invites) == 1 and any(
        line.startswith("From:") and "13800138520" in line for line in invites[0].splitlines())

    # The agent leaves (its leg hangs up): citizen and centre stay connected.
    agent_leg = next(m for m in members if m.startswith("PJSIP/1001-"))
    assert hl.asterisk is not None
    hl.asterisk.cli(f"channel request hangup {agent_leg}")
    await _conference_of(hl, call["id"], ["PJSIP/carrier", "PJSIP/centre-119"])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        agents = await _agents(hl)
        if agents["1001"]["state"] == "ready":
            break
        await asyncio.sleep(0.2)
    assert agents["1001"]["state"] == "ready"    # free for the next caller
    result = await citizen
    assert result.ok, result.output[:1500]       # the citizen hung up, talking to 119
    rows = await _transfers(hl, call["id"], lambda r: r["outcome"] == "completed")
    assert rows[-1]["ended_at"] is not None


async def test_attended_transfer_consults_then_cancels_then_completes(
        hl: HotlineStack, centre_port: int) -> None:
    _centre(hl, centre_port, "agent.xml")
    hl.login("1001")
    citizen = asyncio.create_task(hl.call("12345", "13800138530", talk_ms=30000))
    call = await _answered_call(hl, "8530")
    path = f"/api/calls/{call['id']}/transfer"

    # 1. Consult: agent and centre talk, the citizen is on hold (not in the conference).
    first = await hl.aapi("POST", path, {"target": "119", "mode": "attended"}, as_="1001")
    assert first.get("outcome") == "requested", first
    await _conference_of(hl, call["id"], ["PJSIP/1001", "PJSIP/centre-119"])
    await _transfers(hl, call["id"], lambda r: r["outcome"] == "consulting")
    assert not any(line.startswith("PJSIP/carrier-") and "hotline-conference" in line
                   for line in _channels(hl))
    # 2. Cancel: the centre's leg ends, the citizen is back with the agent.
    res = await hl.aapi("POST", f"/api/transfers/{first['id']}/cancel", {}, as_="1001")
    assert res["outcome"] == "cancelled", res
    await _conference_of(hl, call["id"], ["PJSIP/carrier", "PJSIP/1001"])

    # 3. Consult again and complete: citizen and centre stay, the agent is free.
    second = await hl.aapi("POST", path, {"target": "119", "mode": "attended"}, as_="1001")
    await _transfers(hl, call["id"], lambda r: r["id"] == second["id"]
                     and r["outcome"] == "consulting")
    early = await hl.aapi("POST", f"/api/transfers/{second['id']}/complete", {}, as_="1002")
    assert early["status"] == 403             # another agent may not complete it
    res = await hl.aapi("POST", f"/api/transfers/{second['id']}/complete", {}, as_="1001")
    assert res["outcome"] == "connected", res
    await _conference_of(hl, call["id"], ["PJSIP/carrier", "PJSIP/centre-119"])
    result = await citizen
    assert result.ok, result.output[:1500]
    rows = await _transfers(hl, call["id"], lambda r: r["id"] == second["id"]
                            and r["outcome"] == "completed")
    assert [r["outcome"] for r in rows] == ["cancelled", "completed"]
    assert len(_invites(_centre_messages(hl))) == 2


def _channels(hl: HotlineStack) -> list[str]:
    assert hl.asterisk is not None
    return hl.asterisk.cli("core show channels concise").splitlines()


async def test_unanswered_centre_and_agent_gone_sends_the_citizen_to_the_head_of_the_line(
        hl: HotlineStack, centre_port: int) -> None:
    _centre(hl, centre_port, "agent_no_answer.xml")     # rings, never answers (6 s here)
    hl.login("1001")
    citizen = asyncio.create_task(hl.call("12345", "13800138540", talk_ms=24000))
    call = await _answered_call(hl, "8540")
    hl.login("1002")

    res = await hl.aapi("POST", f"/api/calls/{call['id']}/transfer",
                        {"target": "119", "mode": "blind"}, as_="1001")
    assert res.get("outcome") == "requested", res
    # While 119 rings the agent logs out: nobody to come back to.
    out = await hl.aapi("POST", "/api/agents/1001/logout", {}, as_="1001")
    assert out.get("done") == "logout", out
    rows = await _transfers(hl, call["id"], lambda r: r["outcome"] == "no-answer")
    assert rows[-1]["answered_at"] is None
    deadline = time.monotonic() + 30
    agents: dict[str, Any] = {}
    while time.monotonic() < deadline:
        agents = await _agents(hl)
        if agents["1002"]["state"] == "on_call":
            break
        await asyncio.sleep(0.2)
    assert agents["1002"]["state"] == "on_call", agents
    assert agents["1002"]["current_call"] == call["id"]
    result = await citizen
    assert result.ok, result.output[:1500]       # never dropped
