"""Ganzhou's seats in the shipped configuration (issue 9, item 13).

The seed document 001_75f428eced220b62.txt (问题三) opens two seats on the hotline: "热线+医保"
专席 (medical insurance) and 好虔程人才服务专席 (talent service). REQUIREMENTS.md R-LINES:
"ganzhou adds medical-insurance and talent-service seats". The shipped configuration gives
them lines 12393 and 96885 (sample number), the agents 1006 医保专席 and 1007 人才服务专席,
greetings, and the special seats' overflow to the general pool after 30 s.

These tests read the shipped files (config/lines.toml, config/agents.toml,
config/distribution.toml, asterisk_conf/prompts.txt) and run them through the real
distributor on a real Redis and through the fallback-queue rendering. On 4b97079 neither
line existed: 12393 was not a line at all (``by_number`` gave None) and no agent had either
skill, so these tests failed at their first assertion. The real call through Asterisk is in
tests/e2e/test_registration.py (a registered 医保专席 phone rings for a call to 12393).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import AsyncIterator
from types import SimpleNamespace

import pytest
import redis.asyncio as aioredis

from hotline_core.acd import Distributor, WaitingCall
from hotline_core.acd.config import load_distribution_config
from hotline_core.agent_directory import load_agents
from hotline_core.lines import load_lines
from stack.asterisk import AgentPhone, _queues
from stack.prompts import read_prompts
from stack.settings import REPO_ROOT

CONFIG = REPO_ROOT / "config"
# By hand from the seed and the shipped files: dialled number → the seat's own agent.
SEATS = {"12393": "1006", "96885": "1007"}
GENERAL_POOL = {"1001", "1002", "1003", "1006", "1007"}   # agents with the general skill
T0 = 1_795_000_000.0
_seq = itertools.count()


class Clock:
    def __init__(self) -> None:
        self.t = T0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.from_url(redis_url, socket_timeout=5, decode_responses=True)
    yield client
    await client.aclose()


def test_the_seats_have_lines_agents_and_greetings() -> None:
    lines = load_lines(CONFIG / "lines.toml")
    agents = {a.id: a for a in load_agents(CONFIG / "agents.toml")}
    prompts = {p.name for p in read_prompts(REPO_ROOT / "asterisk_conf" / "prompts.txt")}
    for number, agent_id, words in (("12393", "1006", "医保"), ("96885", "1007", "人才服务")):
        line = lines.by_number(number)
        assert line is not None, f"no line {number}"
        assert line.kind.value == "special" and words in line.name
        assert line.greeting in prompts
        assert words in agents[agent_id].name
        assert agents[agent_id].skills[line.skills[0]] == 1   # the seat's own skill, level 1
        # Only the seat's own agent has that skill: nobody else takes its calls first.
        holders = {a.id for a in agents.values() if line.skills[0] in a.skills}
        assert holders == {agent_id}


def test_fallback_queues_put_the_seat_agents_first() -> None:
    """When the core is down, app_queue serves the line's first skill: the seat's queue
    holds its agent at penalty 0 (level 1 − 1)."""
    lines = load_lines(CONFIG / "lines.toml")
    phones = tuple(AgentPhone(a, "pw") for a in load_agents(CONFIG / "agents.toml"))
    rendered = _queues(SimpleNamespace(lines=lines, phones=phones))  # type: ignore[arg-type]
    members = {}
    for section in rendered.split("\n["):
        name = section.lstrip("[").split("]", 1)[0]
        members[name] = re.findall(r"^member => (\S+)$", section, re.M)
    assert members["fallback-medical-insurance"] == ["PJSIP/1006,0"]
    assert members["fallback-talent-service"] == ["PJSIP/1007,0"]


async def test_shipped_lines_route_to_the_seat_agents(redis: aioredis.Redis) -> None:
    """Every shipped agent logged in and ready: a call on 12393 goes to 1006 and one on
    96885 to 1007. A second call while the seat is busy waits for the seat and, after the
    shipped overflow of 30 s, goes to the general pool."""
    lines = load_lines(CONFIG / "lines.toml")
    agents = load_agents(CONFIG / "agents.toml")
    clock = Clock()
    distributor = Distributor(redis, load_distribution_config(CONFIG / "distribution.toml"),
                              namespace=f"seats{next(_seq)}-{id(clock)}", clock=clock)
    for agent in agents:
        await distributor.agent_login(agent.id, dict(agent.skills), agent.group)
    for number, seat_agent in SEATS.items():
        line = lines.by_number(number)
        assert line is not None
        first = await distributor.enqueue(WaitingCall(
            call_id=f"{number}-a", line=number, skills=line.skills, caller="13800138000"))
        assert first is not None and first.agent_id == seat_agent
        await distributor.agent_answered(first.call_id, seat_agent)
        second = await distributor.enqueue(WaitingCall(
            call_id=f"{number}-b", line=number, skills=line.skills, caller="13900139000"))
        assert second is None                     # the seat is busy: wait for it
        clock.t += 29
        assert [a.call_id for a in await distributor.advance()] == []
        clock.t += 2                              # past the 30 s overflow
        moved = await distributor.advance()
        assert [a.call_id for a in moved] == [f"{number}-b"]
        assert moved[0].agent_id in GENERAL_POOL - {seat_agent}
        await distributor.agent_answered(moved[0].call_id, moved[0].agent_id)
