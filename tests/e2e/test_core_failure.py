"""No call is lost because the core or Asterisk went away (issue 14, item 4), under a
modest load: callers talking with agents' SIPp phones and callers waiting in line.

* The core dead: a new call goes to the dialplan's fallback queue; the records are
  reconciled from Asterisk's CDR file when the core comes back.
* The core SIGKILLed with three callers talking and three waiting: the talking calls run
  their full length with the same agents; every waiting caller reaches an agent (the
  restarted core, or the fallback queue once the heartbeat is stale); no agent takes a call
  while on another (the restarted core re-syncs who talks from Asterisk's channels); every
  record complete.
* Asterisk SIGKILLed with calls up and started again: the core reconnects and re-syncs,
  every cut call's record is closed with the reason (no CDR row will ever come for them),
  the agents are ready again and a phone that had REGISTERed is rung for the next call.

One stack for the module (each test leaves every agent ready and no call up).
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Iterator

import pytest

from ivr.resync import GONE_REASON
from testkit.faults import (
    answered,
    assert_one_call_per_phone_at_a_time,
    ended,
    place,
    trace_phones,
    wait_agents,
    wait_in_line,
    wait_records,
)
from testkit.stack import Agent, HotlineStack

pytestmark = pytest.mark.e2e

AGENTS = ("1001", "1002", "1003")
PHONE = "1009"            # REGISTERs from 127.0.0.2 instead of a fixed contact
PHONE_IP = "127.0.0.2"


@pytest.fixture(scope="module")
def hotline() -> Iterator[HotlineStack]:
    stack = HotlineStack(agents=[*(Agent(a, {"general": 1}) for a in AGENTS),
                                 Agent(PHONE, {"general": 1}, registers=True)]).start()
    trace_phones(stack, AGENTS)
    try:
        yield stack
    finally:
        stack.stop()


def _login(hotline: HotlineStack, ids: tuple[str, ...] = AGENTS) -> None:
    for a in ids:
        hotline.login(a)


async def test_new_call_reaches_an_agent_while_the_core_is_dead(hotline: HotlineStack) -> None:
    _login(hotline)
    hotline.kill_core()

    result = await hotline.call("12345", "13700137000", talk_ms=4000)
    assert result.ok, result.output[:1500]   # answered by an agent's phone via app_queue

    hotline.start_core()
    call = await hotline.wait_call(lambda c: c["caller"].endswith("7000")
                                   and c["ended_at"] is not None)
    assert call["route"] == "fallback"
    assert call["reconciled"] is True
    assert call["disposition"] == "answered"
    assert call["agent_id"] in AGENTS
    assert call["line"] == "12345"
    assert (hotline.spec.recordings_dir / call["recording"]).stat().st_size > 44
    await wait_agents(hotline, AGENTS, "ready")


async def test_core_sigkilled_with_callers_talking_and_waiting(hotline: HotlineStack) -> None:
    _login(hotline)
    # SIPp's talk time starts at the dialplan's Answer: a waiting caller's 40 s cover its
    # wait (until a talking call ends, 15 s) and then its conversation.
    talking = place(hotline, [f"1392000100{i}" for i in range(3)], talk_ms=15000)
    before = await wait_records(hotline, talking, "answered", answered)
    waiting = place(hotline, [f"1392000200{i}" for i in range(3)], talk_ms=40000)
    await wait_in_line(hotline, "12345", 3)

    hotline.kill_core()
    hotline.start_core()

    for c in talking:
        result = await c.result()
        assert result.ok, result.output[-1500:]   # untouched: full length, clean hang-up
    for c in waiting:
        result = await c.result()
        assert result.ok, result.output[-1500:]
    records = await wait_records(hotline, talking + waiting, "answered and ended",
                                 lambda r: answered(r) and ended(r), timeout=60)
    assert len(records) == 6
    for c in talking:
        r = records[c.number]
        # The same conversation: same agent as before the kill, connected by the core.
        assert (r["agent_id"], r["route"]) == (before[c.number]["agent_id"], "core"), r
    for number, r in records.items():
        assert r["disposition"] == "answered", (number, r)
        assert r["agent_id"] in AGENTS, (number, r)
        assert r["route"] in ("core", "fallback"), r
        if r["route"] == "fallback":      # completed from the CDR file
            assert r["reconciled"] is True, r
    assert_one_call_per_phone_at_a_time(hotline, AGENTS, least=6)
    await wait_agents(hotline, AGENTS, "ready")


def _contacts(hotline: HotlineStack) -> str:
    assert hotline.asterisk is not None
    return hotline.asterisk.cli(f"pjsip show aor {PHONE}")


async def test_asterisk_crashes_and_restarts_with_calls_up(hotline: HotlineStack) -> None:
    phone = next(a for a in hotline.agents if a.id == PHONE)
    password = next(p.password for p in hotline.spec.phones if p.agent.id == PHONE)
    result = await hotline.sipp.register(PHONE, password, local_ip=PHONE_IP, port=phone.port,
                                         expect=200)
    assert result.ok, result.output[-1500:]
    hotline.phones[PHONE] = hotline.sipp.phone(PHONE, port=phone.port,
                                               media_port=phone.media_port,
                                               local_ip=PHONE_IP)
    everyone = (*AGENTS, PHONE)
    _login(hotline, everyone)
    talking = place(hotline, [f"1393000300{i}" for i in range(4)], talk_ms=20000)
    await wait_records(hotline, talking, "answered", answered)
    waiting = place(hotline, ["13930004000"], talk_ms=20000)
    await wait_in_line(hotline, "12345", 1)

    # Asterisk dies without hanging anything up (no BYE, no CDR row, no AMI event) and is
    # started again, as `hotline up` restarts a child that exited.
    assert hotline.asterisk is not None and hotline.asterisk.proc is not None
    hotline.asterisk.proc.send_signal(signal.SIGKILL)
    hotline.asterisk.proc.wait(10)
    hotline.asterisk.start()
    for c in talking + waiting:
        await c.result()      # their BYE finds no dialog any more: not asserted

    # The core logs in again and re-syncs: every cut call's record is closed with the
    # reason, no agent stays "on call" for a call that is gone.
    records = await wait_records(hotline, talking + waiting, "ended", ended, timeout=60)
    for c in talking:
        r = records[c.number]
        assert (r["disposition"], r["reason"]) == ("answered", GONE_REASON), r
        assert r["agent_id"] in everyone, r
    r = records[waiting[0].number]
    assert (r["disposition"], r["reason"], r["agent_id"]) == ("abandoned", GONE_REASON, None)
    await wait_agents(hotline, everyone, "ready")

    # The phone that had REGISTERed is rung for the next call once it registers again (a
    # phone re-registers when its registration is refreshed); the others are paused.
    if PHONE_IP not in await asyncio.to_thread(_contacts, hotline):
        result = await hotline.sipp.register(PHONE, password, local_ip=PHONE_IP,
                                             port=phone.port + 1, expect=200)
        assert result.ok, result.output[-1500:]
    for a in AGENTS:
        hotline.api("POST", f"/api/agents/{a}/pause", {"reason": "rest"}, as_=a)
    result = await hotline.call("12345", "13930005000", talk_ms=4000)
    assert result.ok, result.output[-1500:]
    call = await hotline.wait_call(lambda c: c["caller"].endswith("5000") and c["ended_at"])
    assert (call["agent_id"], call["route"], call["disposition"]) == (PHONE, "core", "answered")
