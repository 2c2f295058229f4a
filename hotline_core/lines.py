"""Lines (热线号码): which dialled number is which line, and what it needs to be answered.

The list is configuration (R-LINES): the public number 12345, merged department lines
(12333, 96119), special seats (专席) and dual-number department lines (双号并行).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from hotline_core.config_errors import ConfigError, check_entry, read_toml

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


_KEYS = {"number", "name", "kind", "skills", "greeting", "department"}


def load_lines(path: Path) -> LinePlan:
    data = read_toml(path, "lines_file")
    raw = data.get("line")
    if not isinstance(raw, list) or not raw:
        raise ConfigError(path, "line", "at least one [[line]] table is required")
    lines = tuple(_parse_line(path, i, entry) for i, entry in enumerate(raw))
    numbers = [line.number for line in lines]
    for number in numbers:
        if numbers.count(number) > 1:
            raise ConfigError(path, f"line.number={number}", "number configured twice")
    return LinePlan(lines)


def _parse_line(path: Path, index: int, entry: Any) -> Line:
    where = f"line[{index}]"
    entry = check_entry(path, where, entry, _KEYS)
    number = _require_str(path, entry, where, "number")
    if not _NUMBER.match(number):
        raise ConfigError(path, f"{where}.number", f"{number!r} is not a phone number (digits)")
    try:
        kind = LineKind(entry.get("kind", "public"))
    except ValueError as exc:
        choices = ", ".join(k.value for k in LineKind)
        raise ConfigError(path, f"{where}.kind", f"must be one of {choices}") from exc
    skills = entry.get("skills")
    if (not isinstance(skills, list) or not skills
            or not all(isinstance(s, str) and _SKILL.match(s) for s in skills)):
        raise ConfigError(path, f"{where}.skills",
                          "must be a non-empty list of skill names (a-z, 0-9, -)")
    greeting = _require_str(path, entry, where, "greeting")
    if not _PROMPT.match(greeting):
        raise ConfigError(path, f"{where}.greeting", f"{greeting!r} is not a prompt name")
    department = entry.get("department", "")
    if not isinstance(department, str):
        raise ConfigError(path, f"{where}.department", "must be a string")
    if kind is LineKind.DUAL and not department:
        raise ConfigError(path, f"{where}.department", "a dual-number line names its department")
    return Line(number=number, name=_require_str(path, entry, where, "name"), kind=kind,
                skills=tuple(skills), greeting=greeting, department=department)


def _require_str(path: Path, entry: dict[str, Any], where: str, key: str) -> str:
    value = entry.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(path, f"{where}.{key}", "is required (a non-empty string)")
    return value
