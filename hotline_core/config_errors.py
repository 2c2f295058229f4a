"""The one error type for bad configuration: it names the file and the setting."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any


class ConfigError(ValueError):
    """A setting is missing or wrong; the message names the file and the setting."""

    def __init__(self, source: str | Path, setting: str, problem: str) -> None:
        self.source = str(source)
        self.setting = setting
        self.problem = problem
        super().__init__(f"{source}: setting '{setting}': {problem}")


def read_toml(path: Path, file_setting: str) -> dict[str, Any]:
    """A TOML configuration file; a missing or unparsable one names ``file_setting``."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(path, file_setting, "file not found") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(path, file_setting, f"not valid TOML: {exc}") from exc


def check_entry(path: Path, where: str, entry: Any, keys: set[str]) -> dict[str, Any]:
    """One ``[[table]]`` entry: it must be a table with no setting outside ``keys``."""
    if not isinstance(entry, dict):
        raise ConfigError(path, where, "must be a table")
    unknown = set(entry) - keys
    if unknown:
        raise ConfigError(path, f"{where}.{sorted(unknown)[0]}", "unknown setting")
    return entry
