"""An agent's phone that REGISTERs with its password, on the real stack.

Every other e2e phone has a fixed contact in agents.toml; here agent 1006 (医保专席, skills
as shipped in config/agents.toml) has none: its phone (SIPp) registers from 127.0.0.2, an
address that is not the carrier's (127.0.0.1 is; SIP identification is by address first,
so a phone must not share the carrier's address). The call goes to 12393, the shipped
medical-insurance line (issue 9, item 13), whose only agent with the skill is 1006.

On 4b97079 no test phone registered at all (HotlineStack wrote a contact for every agent),
and line 12393 did not exist: the call to it got "not in service". These tests show the
password is what decides: the wrong one gets 401 and the phone is never rung, the right one
registers it and the next call to its line rings it and is answered there.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from hotline_core.agent_directory import load_agents
from stack.settings import REPO_ROOT
from testkit import processes
from testkit.stack import Agent, HotlineStack

pytestmark = pytest.mark.e2e

PHONE_IP = "127.0.0.2"
SHIPPED = {a.id: dict(a.skills) for a in load_agents(REPO_ROOT / "config" / "agents.toml")}


@pytest.fixture(scope="module")
def hotline() -> Iterator[HotlineStack]:
    stack = HotlineStack(agents=[Agent("1006", SHIPPED["1006"], registers=True)]).start()
    try:
        yield stack
    finally:
        stack.stop()


def _password(stack: HotlineStack, agent_id: str) -> str:
    return next(p.password for p in stack.spec.phones if p.agent.id == agent_id)


def _contacts(stack: HotlineStack, agent_id: str) -> str:
    assert stack.asterisk is not None
    return stack.asterisk.cli(f"pjsip show aor {agent_id}")


def _invites(stack: HotlineStack, agent_id: str) -> int:
    """INVITEs the phone received (its SIPp message trace)."""
    trace = stack.spec.host_dir / "sipp" / f"phone-{agent_id}-messages.log"
    return trace.read_text(errors="replace").count("INVITE sip:") if trace.exists() else 0


def _agent(stack: HotlineStack, agent_id: str) -> dict[str, Any]:
    agents = stack.api("GET", "/api/agents")["agents"]
    return next(a for a in agents if a["agent_id"] == agent_id)


async def test_wrong_password_gets_401_and_the_phone_never_rings(
        hotline: HotlineStack) -> None:
    phone = next(a for a in hotline.agents if a.id == "1006")
    result = await hotline.sipp.register("1006", _password(hotline, "1006") + "x",
                                         local_ip=PHONE_IP, port=phone.port, expect=401)
    assert result.ok, result.output[-1500:]
    assert PHONE_IP not in _contacts(hotline, "1006")          # nothing registered
    # The phone listens where it would have registered; the agent is logged in and ready.
    hotline.phones["1006"] = hotline.sipp.phone("1006", port=phone.port,
                                                media_port=phone.media_port,
                                                local_ip=PHONE_IP, trace_messages=True)
    hotline.login("1006")
    result = await hotline.call("12393", "13800138061", talk_ms=6000)
    assert result.ok, result.output[-1500:]
    record = await hotline.wait_call(lambda c: c["caller"].endswith("8061") and c["ended_at"])
    assert record["line"] == "12393"
    assert record["agent_id"] in (None, "")
    assert record["disposition"] != "answered", record
    assert _invites(hotline, "1006") == 0


async def test_right_password_registers_and_a_call_to_its_line_rings_it(
        hotline: HotlineStack) -> None:
    phone = next(a for a in hotline.agents if a.id == "1006")
    if "1006" in hotline.phones:        # the listening phone of the previous test
        processes.stop(hotline.phones.pop("1006"))
    result = await hotline.sipp.register("1006", _password(hotline, "1006"),
                                         local_ip=PHONE_IP, port=phone.port, expect=200)
    assert result.ok, result.output[-1500:]
    assert f"{PHONE_IP}:{phone.port}" in _contacts(hotline, "1006")
    hotline.phones["1006"] = hotline.sipp.phone("1006", port=phone.port,
                                                media_port=phone.media_port,
                                                local_ip=PHONE_IP, trace_messages=True)
    hotline.login("1006")
    if _agent(hotline, "1006")["state"] != "ready":   # paused by the previous test's ring
        hotline.api("POST", "/api/agents/1006/ready", {}, as_="1006")
    result = await hotline.call("12393", "13800138062", talk_ms=3000)
    assert result.ok, result.output[-1500:]
    record = await hotline.wait_call(lambda c: c["caller"].endswith("8062") and c["ended_at"])
    assert (record["line"], record["agent_id"], record["disposition"]) == (
        "12393", "1006", "answered"), record
    assert _invites(hotline, "1006") == 1
