"""The one error type for bad configuration: it names the file and the setting."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any


class ConfigError(ValueError):
    """A setting is missing or wrong; the message names the file and the setting."""

    def __init__(self, source: str | Path, setting: str, problem: str,
                 line: int | None = None) -> None:
        self.source = str(source)
        self.setting = setting
        self.problem = problem
        self.line = line
        where = f"{source}:{line}" if line is not None else f"{source}"
        super().__init__(f"{where}: setting '{setting}': {problem}")


def read_config_text(path: Path, file_setting: str) -> str:
    """A configuration file's text; a missing file or invalid UTF-8 names ``file_setting``
    (and, for bad UTF-8, the line of the first bad byte)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError as exc:
        raise ConfigError(path, file_setting, "file not found") from exc
    except IsADirectoryError as exc:
        raise ConfigError(path, file_setting, "is a directory, not a file") from exc
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise ConfigError(path, file_setting,
                          f"not valid UTF-8 (byte {exc.start}: {exc.reason})", line) from exc


_TABLE_HEADER = re.compile(r"^\s*\[\s*([^\[\]]+?)\s*\]\s*(#.*)?$")


def line_of(text: str, section: str, key: str | None = None) -> int | None:
    """The line of ``[section]`` (or of ``key`` inside it) in a TOML text, when it is written
    as a plain table header and ``key = …`` line; None otherwise (tomllib gives no lines)."""
    current: str | None = None
    key_line = re.compile(r'^\s*(["\']?)' + re.escape(key) + r"\1\s*=") if key else None
    for number, content in enumerate(text.splitlines(), start=1):
        header = _TABLE_HEADER.match(content)
        if header:
            current = header.group(1).strip().strip('"\'')
            if key_line is None and current == section:
                return number
            continue
        if key_line is not None and current == section and key_line.match(content):
            return number
    return None


def read_toml(path: Path, file_setting: str) -> dict[str, Any]:
    """A TOML configuration file; a missing or unparsable one names ``file_setting``."""
    text = read_config_text(path, file_setting)
    try:
        return tomllib.loads(text)
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
