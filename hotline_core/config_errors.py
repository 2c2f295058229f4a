"""The one error type for bad configuration: it names the file and the setting."""

from __future__ import annotations

from pathlib import Path


class ConfigError(ValueError):
    """A setting is missing or wrong; the message names the file and the setting."""

    def __init__(self, source: str | Path, setting: str, problem: str) -> None:
        self.source = str(source)
        self.setting = setting
        self.problem = problem
        super().__init__(f"{source}: setting '{setting}': {problem}")
