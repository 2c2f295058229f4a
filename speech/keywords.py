"""Keyword spotting on transcripts: emergency-line suggestions and category hints.

The lists live in a TOML file (``speech.keywords_file``, see ``config/keywords.toml``).
Matching ignores spaces, so a keyword spans the words a Chinese model splits it into;
its time is the start of the word where it begins. Each topic is raised once per
transcript (batch) or once per stream (live, see :class:`KeywordWatch`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Literal, get_args

from pydantic import AfterValidator, Field

from hotline_core.config_schema import ConfigModel, load_toml
from speech.engine import Word

EmergencyLine = Literal["110", "119", "120", "122"]
Category = Literal["consult", "help", "complaint", "report", "suggestion", "other"]
EMERGENCY_LINES: tuple[str, ...] = get_args(EmergencyLine)
CATEGORIES: tuple[str, ...] = get_args(Category)


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


def _spoken(value: str) -> str:
    """A word as matched: the spaces a Chinese model puts between words removed."""
    word = "".join(value.split())
    if not word:
        raise ValueError("an empty word")
    return word


Words = Annotated[list[Annotated[str, AfterValidator(_spoken)]], Field(min_length=1)]


class AlertEntry(ConfigModel):
    """``[alerts.<topic>]``: words that suggest transferring to an emergency line."""

    line: EmergencyLine
    words: Words


class HintEntry(ConfigModel):
    """``[hints.<name>]``: words that hint at a work-order category."""

    category: Category
    words: Words


class KeywordsFile(ConfigModel):
    """``keywords.toml`` (关键词): emergency-line alerts and category hints."""

    alerts: dict[str, AlertEntry] = {}
    hints: dict[str, HintEntry] = {}


def load_keywords(path: Path) -> KeywordLists:
    """Read and check the keyword file; errors name the entry (``alerts.fire.line``)."""
    f = load_toml(path, KeywordsFile, "speech.keywords_file")
    return KeywordLists(
        tuple(AlertRule(topic, e.line, tuple(e.words)) for topic, e in f.alerts.items()),
        tuple(HintRule(name, e.category, tuple(e.words)) for name, e in f.hints.items()))


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
