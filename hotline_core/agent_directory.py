"""The agent directory (话务员名册): who may log in, with which skills, from which phone."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from hotline_core.config_schema import ConfigModel, parse_toml, setting_error, validate_data

GROUPS = ("call-taking", "quality-check", "callback", "supervision")
_ID = re.compile(r"^[0-9]{2,10}$")
_SKILL = re.compile(r"^[a-z][a-z0-9-]{0,31}$")


@dataclass(frozen=True)
class AgentEntry:
    id: str
    name: str
    group: str
    skills: dict[str, int] = field(hash=False)
    contact: str = ""


SkillName = Annotated[str, StringConstraints(pattern=_SKILL.pattern)]


class AgentFileEntry(ConfigModel):
    """One ``[[agent]]`` of ``agents.toml``."""

    id: Annotated[str, StringConstraints(pattern=_ID.pattern)] = Field(
        description="2-10 digits; also the SIP user name of the agent's phone")
    name: str | None = Field(default=None, description="shown name; default: the id")
    group: Literal["call-taking", "quality-check", "callback", "supervision"] = "call-taking"
    skills: dict[SkillName, Annotated[int, Field(ge=1, le=9)]] = Field(
        min_length=1, description="skill = level (1 = best)")
    contact: Annotated[str, StringConstraints(pattern=r"^(sip:.*)?$")] = Field(default="",
        description="a fixed sip: URI for a phone that does not register")


class AgentsFile(ConfigModel):
    """``agents.toml``: the agent directory (话务员名册)."""

    agent: list[AgentFileEntry] = []


def load_agents(path: Path) -> tuple[AgentEntry, ...]:
    text, data = parse_toml(path, "paths.agents_file")
    parsed = validate_data(path, text, data, AgentsFile)
    seen: set[str] = set()
    for index, entry in enumerate(parsed.agent):
        if entry.id in seen:
            raise setting_error(path, text, ["agent", index, "id"],
                                f"{entry.id} configured twice")
        seen.add(entry.id)
    return tuple(AgentEntry(id=e.id, name=e.id if e.name is None else e.name, group=e.group,
                            skills=dict(e.skills), contact=e.contact) for e in parsed.agent)
