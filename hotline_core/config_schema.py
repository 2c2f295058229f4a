"""Configuration as declared models: one schema library (pydantic v2) for every file.

Every configuration file is read into a :class:`ConfigModel` subclass; unknown keys are
refused (``extra="forbid"``) and the first problem becomes one :class:`ConfigError` that
names the file, the setting and, where the text shows it, the line.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from hotline_core.config_errors import ConfigError, line_of, read_config_text


class ConfigModel(BaseModel):
    """Base of every configuration model: unknown keys refused, values immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


M = TypeVar("M", bound=BaseModel)


def validate_data(path: str | Path, text: str, data: Any, model: type[M]) -> M:
    """``data`` (parsed from ``text`` of ``path``) as ``model``; the first problem raises
    :class:`ConfigError` naming the setting's dotted path and its line."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = [str(part) for part in first["loc"]]
        setting = ".".join(loc) or "(file)"
        section, key = _section_and_key(loc)
        line = line_of(text, section, key) if section else None
        problem = "unknown setting" if first["type"] == "extra_forbidden" else first["msg"]
        raise ConfigError(path, setting, problem, line) from None


def load_toml(path: Path, model: type[M], file_setting: str) -> M:
    """A TOML file validated as ``model``; a missing, unreadable or unparsable file names
    ``file_setting`` (the setting that points at it)."""
    text = read_config_text(path, file_setting)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(path, file_setting, f"not valid TOML: {exc}") from exc
    return validate_data(path, text, data, model)


def _section_and_key(loc: list[str]) -> tuple[str, str | None]:
    """The table header and key a validation location points at, for :func:`line_of`."""
    if not loc:
        return "", None
    if len(loc) == 1:
        return loc[0], None
    return ".".join(loc[:-1]), loc[-1]
