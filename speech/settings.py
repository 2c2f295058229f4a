"""Speech settings: read once at start-up, validated, every error names its setting.

The ``[speech]`` section of the hotline configuration, for example::

    [speech]
    model_dir = "/srv/hotline/models/vosk-model-small-cn-0.22"
    redis_url = "redis://127.0.0.1:6379/0"
    database_url = "postgresql+psycopg://hotline@/hotline"
    workers = 2                 # batch worker processes (default: CPU count)
    max_live_streams = 4        # live streams beyond this fall back to batch
    max_attempts = 3            # a failing job is marked failed after this many tries
    lease_seconds = 30          # a worker silent this long has its jobs given to others
    keywords_file = "config/keywords.toml"

    [speech.grammars.yes_no]    # choices for speech/grammar.py (no call flow uses it yet)
    yes = ["是", "是的", "对"]
    no = ["不是", "不对", "没有"]
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hotline_core.redis_keys import DEFAULT_NAMESPACE, check_namespace

Grammar = dict[str, list[str]]
"""A choice key (``yes``) → the phrases that mean it (``["是", "对"]``)."""

DEFAULT_GRAMMARS: dict[str, Grammar] = {
    "yes_no": {"yes": ["是", "是的", "对", "好的"], "no": ["不是", "不对", "没有", "不"]},
    "rating": {"1": ["一"], "2": ["二"], "3": ["三"], "4": ["四"], "5": ["五"]},
}


class SpeechSettingsError(ValueError):
    """A setting is missing or wrong; the message starts with the setting's full name."""

    def __init__(self, setting: str, problem: str) -> None:
        super().__init__(f"{setting}: {problem}")
        self.setting = setting


@dataclass(frozen=True)
class SpeechSettings:
    model_dir: Path
    redis_url: str = "redis://127.0.0.1:6379/0"
    database_url: str = "sqlite:///hotline.db"
    workers: int = field(default_factory=lambda: os.cpu_count() or 1)
    worker_nice: int = 10
    max_live_streams: int = 2
    max_attempts: int = 3
    lease_seconds: float = 30.0
    retry_delay_seconds: float = 10.0
    poll_seconds: float = 1.0
    keywords_file: Path | None = Path("config/keywords.toml")
    grammars: dict[str, Grammar] = field(default_factory=lambda: dict(DEFAULT_GRAMMARS))
    min_choice_confidence: float = 0.5
    work_dir: Path = field(
        default_factory=lambda: Path(tempfile.gettempdir()) / "hotline-speech"
    )
    namespace: str = DEFAULT_NAMESPACE    # [redis] namespace: queue keys and alerts channel

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any]) -> SpeechSettings:
        """Build from the ``[speech]`` table; unknown keys and bad values are errors."""
        known = set(cls.__dataclass_fields__)
        for key in raw:
            if key not in known:
                raise SpeechSettingsError(f"speech.{key}", "unknown setting")
        if "model_dir" not in raw:
            raise SpeechSettingsError("speech.model_dir", "required (a Vosk model directory)")
        values: dict[str, Any] = {}
        for key, value in raw.items():
            values[key] = _convert(key, value)
        settings = cls(**values)
        settings.validate()
        return settings

    def validate(self) -> None:
        """Checks that need no model: numbers in range, files present, grammars well formed."""
        if self.workers < 1:
            raise SpeechSettingsError("speech.workers", "must be at least 1")
        if self.max_live_streams < 0:
            raise SpeechSettingsError("speech.max_live_streams", "must be 0 or more")
        if self.max_attempts < 1:
            raise SpeechSettingsError("speech.max_attempts", "must be at least 1")
        if self.lease_seconds <= 0:
            raise SpeechSettingsError("speech.lease_seconds", "must be positive")
        if self.retry_delay_seconds < 0:
            raise SpeechSettingsError("speech.retry_delay_seconds", "must be 0 or more")
        if self.poll_seconds <= 0:
            raise SpeechSettingsError("speech.poll_seconds", "must be positive")
        problem = check_namespace(self.namespace)
        if problem is not None:
            raise SpeechSettingsError("redis.namespace", problem)
        if not 0.0 <= self.min_choice_confidence <= 1.0:
            raise SpeechSettingsError("speech.min_choice_confidence", "must be within 0..1")
        if self.keywords_file is not None and not self.keywords_file.is_file():
            raise SpeechSettingsError(
                "speech.keywords_file", f"{self.keywords_file} is not a file"
            )
        for name, grammar in self.grammars.items():
            if not grammar:
                raise SpeechSettingsError(f"speech.grammars.{name}", "has no choices")
            for key, phrases in grammar.items():
                if not phrases or not all(isinstance(p, str) and p.strip() for p in phrases):
                    raise SpeechSettingsError(
                        f"speech.grammars.{name}.{key}", "must be a list of non-empty phrases"
                    )


_INTS = {"workers", "worker_nice", "max_live_streams", "max_attempts"}
_FLOATS = {"lease_seconds", "retry_delay_seconds", "poll_seconds", "min_choice_confidence"}
_PATHS = {"model_dir", "work_dir"}
_STRS = {"redis_url", "database_url", "namespace"}


def _convert(key: str, value: Any) -> Any:
    name = f"speech.{key}"
    if key in _INTS:
        if isinstance(value, bool) or not isinstance(value, int):
            raise SpeechSettingsError(name, f"must be an integer, got {value!r}")
        return value
    if key in _FLOATS:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise SpeechSettingsError(name, f"must be a number, got {value!r}")
        return float(value)
    if key in _PATHS:
        if not isinstance(value, str | Path) or not str(value):
            raise SpeechSettingsError(name, f"must be a path, got {value!r}")
        return Path(value)
    if key in _STRS:
        if not isinstance(value, str) or not value:
            raise SpeechSettingsError(name, f"must be a non-empty string, got {value!r}")
        return value
    if key == "keywords_file":
        return None if value in (None, "") else Path(value)
    if key == "grammars":
        if not isinstance(value, Mapping):
            raise SpeechSettingsError(name, "must be a table of grammars")
        out: dict[str, Grammar] = {}
        for gname, grammar in value.items():
            if not isinstance(grammar, Mapping):
                raise SpeechSettingsError(f"{name}.{gname}", "must be a table key → phrases")
            out[gname] = {}
            for ckey, phrases in grammar.items():
                if not isinstance(phrases, list):
                    raise SpeechSettingsError(f"{name}.{gname}.{ckey}", "must be a list")
                out[gname][str(ckey)] = list(phrases)
        return out
    raise SpeechSettingsError(name, "unknown setting")
