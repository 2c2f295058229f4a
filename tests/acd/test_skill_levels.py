"""Skill levels mean what config/agents.toml says: 1 is the best level.

On the starting main the Lua engine preferred the higher number: the shipped 1003
(人社专席, ``hrss = 1, general = 2``) took an older general call before a waiting 12333 call,
and the ``skill_level`` strategy rang the least experienced agent first. These tests read
the shipped configuration files, so they follow what a deployment actually runs.
"""

from __future__ import annotations

from hotline_core.acd import Strategy, WaitingCall, load_distribution_config
from hotline_core.agent_directory import load_agents
from hotline_core.lines import load_lines
from stack.settings import REPO_ROOT
from tests.acd.conftest import Clock, MakeDistributor

CONFIG = REPO_ROOT / "config"


def shipped() -> tuple[dict[str, dict[str, int]], dict[str, tuple[str, ...]]]:
    agents = {a.id: dict(a.skills) for a in load_agents(CONFIG / "agents.toml")}
    lines = {ln.number: tuple(ln.skills) for ln in load_lines(CONFIG / "lines.toml").lines}
    return agents, lines


async def test_shipped_1003_takes_the_12333_call_before_an_older_general_call(
        make: MakeDistributor, clock: Clock) -> None:
    agents, lines = shipped()
    # Hand reading of the shipped files: 1003 holds hrss at 1 and general at 2; 96116
    # (water supply, dual) needs general, 12333 needs hrss; no overflow rule for either.
    assert agents["1003"] == {"hrss": 1, "general": 2}
    assert lines["96116"] == ("general",) and lines["12333"] == ("hrss",)
    config = load_distribution_config(CONFIG / "distribution.toml")
    d, rec = make(config)
    await d.enqueue(WaitingCall(call_id="general-older", line="96116", skills=lines["96116"],
                                caller="13900000001", department="water-supply"))
    clock.advance(5)
    await d.enqueue(WaitingCall(call_id="hrss-newer", line="12333", skills=lines["12333"],
                                caller="13900000002"))
    await d.agent_login("1003", agents["1003"])
    # Same priority (normal = 0); hrss is 1003's best level: the 12333 call first.
    assert rec.pairs() == [("hrss-newer", "1003")]
    await d.agent_answered("hrss-newer", "1003")
    await d.call_ended("hrss-newer", "1003")
    clock.advance(config.wrapup_seconds)
    await d.advance()
    assert rec.pairs() == [("hrss-newer", "1003"), ("general-older", "1003")]


async def test_skill_level_strategy_rings_the_level_1_agent_first(
        make: MakeDistributor, clock: Clock) -> None:
    agents, lines = shipped()
    config = load_distribution_config(CONFIG / "distribution.toml")
    # legal aid is the shipped skill_level queue
    assert config.strategy_for("legal-aid") is Strategy.SKILL_LEVEL
    d, rec = make(config)
    # A second-level legal-aid agent idle for longer than 1005 (legal-aid = 1, shipped).
    await d.agent_login("trainee", {"legal-aid": 2})
    clock.advance(30)
    await d.agent_login("1005", agents["1005"])
    await d.enqueue(WaitingCall(call_id="c1", line="12348", skills=lines["12348"],
                                caller="13900000003"))
    assert rec.pairs() == [("c1", "1005")]
