"""Keyword spotting on transcripts: emergency-line suggestions and category hints.

The lists live in a TOML file (``speech.keywords_file``, see ``config/keywords.toml``).
Matching ignores spaces, so a keyword spans the words a Chinese model splits it into;
its time is the start of the word where it begins. Each topic is raised once per
transcript (batch) or once per stream (live, see :class:`KeywordWatch`).
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from speech.engine import Word

EMERGENCY_LINES = ("110", "119", "120", "122")
CATEGORIES = ("consult", "help", "complaint", "report", "suggestion", "other")


class KeywordConfigError(ValueError):
    def __init__(self, setting: str, problem: str) -> None:
        super().__init__(f"{setting}: {problem}")
        self.setting = setting


@dataclass(frozen=True)
class AlertRule:
    topic: str  # "fire", "gas_leak" ...
    line: str  # suggested emergency line
    words: tuple[str, ...]


@dataclass(frozen=True)
class HintRule:
    name: str
    category: str
    words: tuple[str, ...]


@dataclass(frozen=True)
class KeywordLists:
    alerts: tuple[AlertRule, ...] = ()
    hints: tuple[HintRule, ...] = ()

    @property
    def all_words(self) -> list[str]:
        rules: list[AlertRule | HintRule] = [*self.alerts, *self.hints]
        return [w for r in rules for w in r.words]


@dataclass(frozen=True)
class KeywordAlert:
    """Suggest transferring the call to an emergency line; the agent accepts or not."""

    keyword: str
    topic: str
    line: str
    call_id: str
    leg: str
    at_seconds: float  # offset in the leg's audio where the keyword starts
    source: str  # "live" | "batch"
    raised_at: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass(frozen=True)
class CategoryHint:
    """Words suggest a work-order category; the agent accepts or ignores it."""

    category: str
    word: str
    call_id: str
    leg: str
    at_seconds: float
    source: str
    raised_at: datetime = field(default_factory=lambda: datetime.now(UTC))


def _words(setting: str, value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise KeywordConfigError(setting, "must be a non-empty list of words")
    out = tuple("".join(str(w).split()) for w in value)
    if not all(out):
        raise KeywordConfigError(setting, "contains an empty word")
    return out


def load_keywords(path: Path) -> KeywordLists:
    """Read and check the keyword file; errors name the entry (``keywords.alerts.fire.line``)."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise KeywordConfigError("speech.keywords_file", f"{path}: {exc}") from exc
    alerts = []
    for topic, entry in raw.get("alerts", {}).items():
        name = f"keywords.alerts.{topic}"
        line = str(entry.get("line", ""))
        if line not in EMERGENCY_LINES:
            raise KeywordConfigError(f"{name}.line", f"must be one of {EMERGENCY_LINES}")
        alerts.append(AlertRule(topic, line, _words(f"{name}.words", entry.get("words"))))
    hints = []
    for hint, entry in raw.get("hints", {}).items():
        name = f"keywords.hints.{hint}"
        category = str(entry.get("category", ""))
        if category not in CATEGORIES:
            raise KeywordConfigError(f"{name}.category", f"must be one of {CATEGORIES}")
        hints.append(HintRule(hint, category, _words(f"{name}.words", entry.get("words"))))
    unknown = set(raw) - {"alerts", "hints"}
    if unknown:
        raise KeywordConfigError(f"keywords.{sorted(unknown)[0]}", "unknown table")
    return KeywordLists(tuple(alerts), tuple(hints))


def _find(words: Sequence[Word], keyword: str) -> float | None:
    """Start time of the first occurrence of ``keyword`` in the space-free text."""
    starts: list[float] = []
    for w in words:
        starts.extend([w.start] * len(w.text))
    offset = "".join(w.text for w in words).find(keyword)
    return None if offset < 0 else starts[offset]


def spot(
    lists: KeywordLists, words: Sequence[Word], *, call_id: str, leg: str, source: str,
    skip_topics: Iterable[str] = (),
) -> tuple[list[KeywordAlert], list[CategoryHint]]:
    """The alerts and hints in ``words``: first occurrence per topic, one hint per category.

    ``skip_topics`` holds ``alert:<topic>`` / ``hint:<category>`` already raised.
    """
    skip = set(skip_topics)
    alerts: list[KeywordAlert] = []
    hints: list[CategoryHint] = []
    for rule in lists.alerts:
        if f"alert:{rule.topic}" in skip:
            continue
        found = [(t, kw) for kw in rule.words if (t := _find(words, kw)) is not None]
        if found:
            at, kw = min(found)
            alerts.append(KeywordAlert(kw, rule.topic, rule.line, call_id, leg, at, source))
    for hint in lists.hints:
        if f"hint:{hint.category}" in skip or any(h.category == hint.category for h in hints):
            continue
        found = [(t, kw) for kw in hint.words if (t := _find(words, kw)) is not None]
        if found:
            at, kw = min(found)
            hints.append(CategoryHint(hint.category, kw, call_id, leg, at, source))
    return alerts, hints


class KeywordWatch:
    """Spotting on a live stream: feed each final utterance, each topic raised once."""

    def __init__(self, lists: KeywordLists, call_id: str, leg: str) -> None:
        self.lists = lists
        self.call_id = call_id
        self.leg = leg
        self._raised: set[str] = set()
        self._tail: tuple[Word, ...] = ()  # last utterance: keywords split across two

    def feed(self, words: Sequence[Word]) -> tuple[list[KeywordAlert], list[CategoryHint]]:
        window = (*self._tail, *words)
        self._tail = tuple(words)
        alerts, hints = spot(self.lists, window, call_id=self.call_id, leg=self.leg,
                             source="live", skip_topics=self._raised)
        self._raised |= {f"alert:{a.topic}" for a in alerts}
        self._raised |= {f"hint:{h.category}" for h in hints}
        return alerts, hints
