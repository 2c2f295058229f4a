"""Lines (热线号码): which dialled number is which line, and what it needs to be answered.

The list is configuration (R-LINES): the public number 12345, merged department lines
(12333, 96119), special seats (专席) and dual-number department lines (双号并行).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, StringConstraints, ValidationInfo, field_validator

from hotline_core.config_schema import ConfigModel, parse_toml, setting_error, validate_data

_NUMBER = re.compile(r"^[0-9]{3,20}$")
_SKILL = re.compile(r"^[a-z][a-z0-9-]{0,31}$")
_PROMPT = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class LineKind(StrEnum):
    PUBLIC = "public"
    MERGED = "merged"
    SPECIAL = "special"
    DUAL = "dual"


@dataclass(frozen=True)
class Line:
    number: str
    name: str
    kind: LineKind
    skills: tuple[str, ...]
    greeting: str
    department: str = ""


@dataclass(frozen=True)
class LinePlan:
    """All configured lines, looked up by the dialled number."""

    lines: tuple[Line, ...]

    def by_number(self, number: str) -> Line | None:
        for line in self.lines:
            if line.number == number:
                return line
        return None

    def skills(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for line in self.lines:
            for skill in line.skills:
                seen.setdefault(skill)
        return tuple(seen)


SkillName = Annotated[str, StringConstraints(pattern=_SKILL.pattern)]
NonEmpty = Annotated[str, StringConstraints(min_length=1, pattern=r"\S")]


class LineEntry(ConfigModel):
    """One ``[[line]]`` of ``lines.toml``."""

    number: Annotated[str, StringConstraints(pattern=_NUMBER.pattern)] = Field(
        description="the number the citizen dials (digits)")
    name: NonEmpty
    kind: Literal["public", "merged", "special", "dual"] = "public"
    skills: list[SkillName] = Field(min_length=1, description="skills needed to take the call")
    greeting: Annotated[str, StringConstraints(pattern=_PROMPT.pattern)] = Field(
        description="a prompt name (asterisk_conf/prompts.txt or a recorded WAV)")
    department: str = Field(default="", validate_default=True,
                            description="required for a dual-number line (双号并行)")

    @field_validator("department")
    @classmethod
    def _dual_names_department(cls, value: str, info: ValidationInfo) -> str:
        if info.data.get("kind") == LineKind.DUAL and not value:
            raise ValueError("a dual-number line names its department")
        return value


class LinesFile(ConfigModel):
    """``lines.toml``: the lines (热线号码) that land on this platform."""

    line: list[LineEntry] = Field(min_length=1, description="at least one [[line]] table")


def load_lines(path: Path) -> LinePlan:
    text, data = parse_toml(path, "paths.lines_file")
    parsed = validate_data(path, text, data, LinesFile)
    seen: set[str] = set()
    for index, entry in enumerate(parsed.line):
        if entry.number in seen:
            raise setting_error(path, text, ["line", index, "number"],
                                f"{entry.number} configured twice")
        seen.add(entry.number)
    return LinePlan(tuple(
        Line(number=e.number, name=e.name, kind=LineKind(e.kind), skills=tuple(e.skills),
             greeting=e.greeting, department=e.department) for e in parsed.line))
