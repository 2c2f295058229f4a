"""Configuration as declared models: one schema library (pydantic v2) for every file.

Every configuration file is read into a :class:`ConfigModel` subclass; unknown keys are
refused (``extra="forbid"``), values are taken as TOML writes them (``strict``: no "15"
for 15) and the first problem becomes one :class:`ConfigError` that names the file, the
dotted setting and, where the text shows it, the line.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic_core import ErrorDetails

from hotline_core.config_errors import ConfigError, read_config_text, setting_line


class ConfigModel(BaseModel):
    """Base of every configuration model: unknown keys refused, TOML types as written,
    values immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


M = TypeVar("M", bound=BaseModel)


def validate_data(path: str | Path, text: str, data: Any, model: type[M]) -> M:
    """``data`` (parsed from ``text`` of ``path``) as ``model``; the first problem raises
    :class:`ConfigError` naming the setting's dotted path and its line."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        # A misspelt key also leaves its right spelling missing: name the misspelling.
        first = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
        loc = _written_loc(data, first)
        raise setting_error(path, text, loc, _problem(first)) from None


def setting_error(path: str | Path, text: str, loc: Sequence[str | int],
                  problem: str) -> ConfigError:
    """A :class:`ConfigError` on setting ``loc`` of ``path``, with the line ``text`` shows
    it on — for the checks a reader makes after the model (duplicates, cross-file)."""
    setting = setting_name(loc)
    yaml_text = str(path).endswith((".yaml", ".yml"))
    return ConfigError(path, setting, problem,
                       setting_line(text, loc, yaml_text) if loc and text else None)


def setting_name(loc: Sequence[str | int]) -> str:
    """``("agent", 0, "skills", "tax")`` → ``agent[0].skills.tax`` (an entry of an array
    by its index, as an operator counts ``[[agent]]`` tables from the top, from 0)."""
    name = ""
    for part in loc:
        name += f"[{part}]" if isinstance(part, int) else (f".{part}" if name else part)
    return name or "(file)"


def parse_toml(path: Path, file_setting: str) -> tuple[str, dict[str, Any]]:
    """A TOML file's text and data; a missing, unreadable or unparsable file names
    ``file_setting`` (the setting that points at it)."""
    text = read_config_text(path, file_setting)
    try:
        return text, tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        at = re.search(r"at line (\d+)", str(exc))
        raise ConfigError(path, file_setting, f"not valid TOML: {exc}",
                          int(at.group(1)) if at else None) from exc


def load_toml(path: Path, model: type[M], file_setting: str) -> M:
    """A TOML file validated as ``model`` (see :func:`parse_toml`)."""
    text, data = parse_toml(path, file_setting)
    return validate_data(path, text, data, model)


def _written_loc(data: Any, error: ErrorDetails) -> list[str | int]:
    """The error's location as the file writes it: pydantic's union-branch and validator
    tags (``Amount``, ``literal['x']``) dropped, only keys and indexes kept."""
    loc = list(error["loc"])
    out: list[str | int] = []
    node = data
    for i, part in enumerate(loc):
        last = i == len(loc) - 1
        if isinstance(node, dict) and part in node:
            out.append(part)
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            out.append(part)
            node = node[part]
        elif last and isinstance(node, dict) and isinstance(part, str):
            out.append(part)        # a key the table lacks (missing, or checked by default)
    return out


def _problem(error: ErrorDetails) -> str:
    """A short operator-facing text for one pydantic error."""
    kind = error["type"]
    if kind == "extra_forbidden":
        return "unknown setting"
    if kind == "missing":
        return "missing (required)"
    message = str(error["msg"]).removeprefix("Value error, ")
    if kind.endswith("_type") or kind in ("literal_error", "enum", "finite_number"):
        return f"{message}, got {error['input']!r}"
    return message
