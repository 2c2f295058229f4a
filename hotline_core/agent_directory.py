"""The agent directory (话务员名册): who may log in, with which skills, from which phone."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hotline_core.config_errors import ConfigError, check_entry, read_toml

GROUPS = ("call-taking", "quality-check", "callback", "supervision")
_ID = re.compile(r"^[0-9]{2,10}$")
_SKILL = re.compile(r"^[a-z][a-z0-9-]{0,31}$")
_KEYS = {"id", "name", "group", "skills", "contact"}


@dataclass(frozen=True)
class AgentEntry:
    id: str
    name: str
    group: str
    skills: dict[str, int] = field(hash=False)
    contact: str = ""


def load_agents(path: Path) -> tuple[AgentEntry, ...]:
    data = read_toml(path, "agents_file")
    raw = data.get("agent", [])
    if not isinstance(raw, list):
        raise ConfigError(path, "agent", "must be an array of [[agent]] tables")
    agents = tuple(_parse(path, i, e) for i, e in enumerate(raw))
    ids = [a.id for a in agents]
    for agent_id in ids:
        if ids.count(agent_id) > 1:
            raise ConfigError(path, f"agent.id={agent_id}", "id configured twice")
    return agents


def _parse(path: Path, index: int, entry: Any) -> AgentEntry:
    where = f"agent[{index}]"
    entry = check_entry(path, where, entry, _KEYS)
    agent_id = entry.get("id")
    if not isinstance(agent_id, str) or not _ID.match(agent_id):
        raise ConfigError(path, f"{where}.id", "must be 2-10 digits (it is the SIP user name)")
    group = entry.get("group", "call-taking")
    if group not in GROUPS:
        raise ConfigError(path, f"{where}.group", f"must be one of {', '.join(GROUPS)}")
    skills = entry.get("skills")
    if not isinstance(skills, dict) or not skills:
        raise ConfigError(path, f"{where}.skills", "must be a table skill = level")
    for skill, level in skills.items():
        if not _SKILL.match(skill):
            raise ConfigError(path, f"{where}.skills.{skill}", "not a valid skill name")
        if not isinstance(level, int) or isinstance(level, bool) or not 1 <= level <= 9:
            raise ConfigError(path, f"{where}.skills.{skill}", "level must be an integer 1-9")
    contact = entry.get("contact", "")
    if not isinstance(contact, str) or (contact and not contact.startswith("sip:")):
        raise ConfigError(path, f"{where}.contact", "must be a sip: URI")
    name = entry.get("name", agent_id)
    if not isinstance(name, str):
        raise ConfigError(path, f"{where}.name", "must be a string")
    return AgentEntry(id=agent_id, name=name, group=group, skills=dict(skills), contact=contact)
