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

    [speech.grammars.yes_no]    # choices for speech/grammar.py (a flow names its grammar)
    yes = ["是", "是的", "对"]
    no = ["不是", "不对", "没有"]
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, StringConstraints

from hotline_core.config_errors import ConfigError
from hotline_core.config_schema import ConfigModel, validate_data
from hotline_core.redis_keys import DEFAULT_NAMESPACE, check_namespace

Grammar = dict[str, list[str]]
"""A choice key (``yes``) → the phrases that mean it (``["是", "对"]``)."""

DEFAULT_GRAMMARS: dict[str, Grammar] = {
    "yes_no": {"yes": ["是", "是的", "对", "好的"], "no": ["不是", "不对", "没有", "不"]},
    "rating": {"1": ["一"], "2": ["二"], "3": ["三"], "4": ["四"], "5": ["五"]},
}


Phrase = Annotated[str, StringConstraints(pattern=r"\S")]


class SpeechTable(ConfigModel):
    """The ``[speech]`` table of ``hotline.toml`` as written (转写设置); an omitted key keeps
    the default of :class:`SpeechSettings`."""

    model_dir: str = Field(default="", description="a Vosk model directory; empty: speech is off")
    redis_url: str | None = Field(default=None, min_length=1)
    database_url: str | None = Field(default=None, min_length=1)
    workers: int | None = Field(default=None, ge=1,
        description="batch workers (default: CPU count)")
    worker_nice: int | None = None
    max_live_streams: int | None = Field(default=None, ge=0)
    max_attempts: int | None = Field(default=None, ge=1)
    lease_seconds: float | None = Field(default=None, gt=0)
    retry_delay_seconds: float | None = Field(default=None, ge=0)
    poll_seconds: float | None = Field(default=None, gt=0)
    keywords_file: str | None = Field(default=None, description="keyword alerts; empty: none")
    grammars: dict[str, Annotated[dict[str, Annotated[list[Phrase], Field(min_length=1)]],
                                  Field(min_length=1)]] | None = Field(default=None,
        description="grammar name → choice → phrases")
    min_choice_confidence: float | None = Field(default=None, ge=0, le=1)
    work_dir: str | None = Field(default=None, min_length=1)


class _SpeechSection(ConfigModel):
    """``[speech]`` under its own name, so errors say ``speech.<key>``."""

    speech: SpeechTable


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
    def from_mapping(cls, raw: Mapping[str, Any],
                     source: str | Path = "[speech]") -> SpeechSettings:
        """Build from the ``[speech]`` table (plus ``namespace``, the ``[redis]`` one, added by
        the stack); unknown keys and bad values raise :class:`ConfigError` on ``source``."""
        values = dict(raw)
        namespace = values.pop("namespace", DEFAULT_NAMESPACE)
        table = validate_data(source, "", {"speech": values}, _SpeechSection).speech
        if not table.model_dir:
            raise ConfigError(source, "speech.model_dir", "required (a Vosk model directory)")
        if not isinstance(namespace, str) or check_namespace(namespace) is not None:
            raise ConfigError(source, "redis.namespace",
                              check_namespace(str(namespace)) or "must be a string")
        given = {key: value for key, value in table.model_dump().items() if value is not None}
        for key in ("model_dir", "work_dir"):
            if key in given:
                given[key] = Path(given[key])
        if "keywords_file" in given:       # "" turns keyword alerts off
            words = given["keywords_file"]
            given["keywords_file"] = Path(words) if words else None
        settings = cls(namespace=namespace, **given)
        if settings.keywords_file is not None and not settings.keywords_file.is_file():
            raise ConfigError(source, "speech.keywords_file",
                              f"{settings.keywords_file} is not a file")
        return settings
