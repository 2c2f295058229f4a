"""IVR grammar recognition: a caller answers by voice, we pick one of a few choices.

The satisfaction callback (``ivr/flows/satisfaction_callback.py``) uses it for a spoken
rating (grammar ``rating``, choice keys "1"…"5"). The decoder only
considers the grammar's phrases (plus the model's unknown-word token, so that other
speech has somewhere to go); the answer is the choice whose phrase was heard, with the
lowest word confidence of that phrase. ``None`` means "no usable answer": silence,
only unknown speech, conflicting answers or a confidence below the threshold (a flow
would then ask again, offer DTMF, or hand the caller to an agent, R-ELDERLY).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

from hotline_core.timeouts import within
from speech import runtime
from speech.engine import Audio, Recognizer, Word
from speech.settings import SpeechSettings


@dataclass(frozen=True)
class Choice:
    key: str  # e.g. "yes", "no", "3"
    phrase: str  # the phrase heard, e.g. "是的"
    confidence: float
    start: float
    end: float


def recognize_choice(
    audio: Audio | Path,
    choices: Mapping[str, Sequence[str]],
    recognizer: Recognizer,
    min_confidence: float = 0.5,
) -> Choice | None:
    """The choice the caller said, or ``None`` when there is no clear answer."""
    if isinstance(audio, Path):
        audio = Audio.from_wav(audio)
    phrases = {p.strip(): key for key, ps in choices.items() for p in ps}
    heard = recognizer.transcribe_grammar(audio, list(phrases)).words
    found = _match_phrases(heard, phrases)
    if not found or len({c.key for c in found}) != 1:
        return None
    best = max(found, key=lambda c: c.confidence)
    return best if best.confidence >= min_confidence else None


def _match_phrases(words: Sequence[Word], phrases: Mapping[str, str]) -> list[Choice]:
    """Greedy longest match of the phrases (space-separated words) over the words heard."""
    by_length = sorted(phrases, key=lambda p: -len(p.split()))
    found: list[Choice] = []
    i = 0
    while i < len(words):
        for phrase in by_length:
            n = len(phrase.split())
            if [w.text for w in words[i : i + n]] == phrase.split():
                span = words[i : i + n]
                found.append(
                    Choice(
                        key=phrases[phrase],
                        phrase=phrase,
                        confidence=min(w.conf for w in span),
                        start=span[0].start,
                        end=span[-1].end,
                    )
                )
                i += n
                break
        else:
            i += 1
    return found


def _recognize_in_process(
    settings: SpeechSettings, path: Path, grammar: str
) -> Choice | None:
    recognizer = runtime.ensure(settings)
    return recognize_choice(
        path, settings.grammars[grammar], recognizer, settings.min_choice_confidence
    )


def _warm(settings: SpeechSettings) -> None:
    runtime.ensure(settings)


class ChoiceService:
    """Async front for IVR flows: decoding runs in its own process, never on the loop."""

    def __init__(self, settings: SpeechSettings, processes: int = 1) -> None:
        self._settings = settings
        self._pool = ProcessPoolExecutor(processes, mp_context=get_context("spawn"))

    async def start(self, start_seconds: float = 120.0) -> None:
        """Load the model and check the grammars; raises SpeechSetupError if they are wrong."""
        loop = asyncio.get_running_loop()
        warm = loop.run_in_executor(self._pool, _warm, self._settings)
        await within(warm, start_seconds)

    async def recognize(
        self, path: Path, grammar: str, limit_seconds: float = 10.0
    ) -> Choice | None:
        """Recognise a recorded answer (Asterisk ``Record()`` WAV) against a named grammar."""
        if grammar not in self._settings.grammars:
            raise KeyError(f"speech.grammars.{grammar} is not configured")
        loop = asyncio.get_running_loop()
        job = loop.run_in_executor(
            self._pool, _recognize_in_process, self._settings, path, grammar
        )
        return await within(job, limit_seconds)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
