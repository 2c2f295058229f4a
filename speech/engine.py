"""The recogniser interface: what the hotline needs from any speech engine.

A backend (Vosk today, see :mod:`speech.vosk_backend`) loads its model once per worker
process and turns telephone audio (16-bit mono PCM, usually 8 kHz, fed as it is) into a
:class:`Transcription` with word timings and confidences. Grammar decoding restricts the
vocabulary to a few phrases (IVR yes/no, 1–5 ratings); a :class:`RecognizerStream` decodes
audio as it arrives for the live transcript.
"""

from __future__ import annotations

import wave
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol


class SpeechSetupError(RuntimeError):
    """The engine cannot start: the message names the setting to fix."""

    def __init__(self, setting: str, problem: str) -> None:
        super().__init__(f"{setting}: {problem}")
        self.setting = setting


class GrammarWordError(SpeechSetupError):
    """A grammar phrase uses a word the model's vocabulary does not have."""

    def __init__(self, setting: str, word: str) -> None:
        super().__init__(setting, f"word {word!r} is not in the speech model's vocabulary")
        self.word = word


class AudioFormatError(ValueError):
    """Audio the engine cannot take (not 16-bit mono PCM WAV); retrying will not help."""


@dataclass(frozen=True)
class Word:
    text: str
    start: float  # seconds from the start of the audio
    end: float
    conf: float  # 0..1


@dataclass(frozen=True)
class Transcription:
    text: str
    words: tuple[Word, ...]
    audio_seconds: float


@dataclass(frozen=True)
class StreamUpdate:
    """What a live stream knows after a chunk: a partial guess or a final utterance."""

    text: str
    final: bool
    words: tuple[Word, ...] = ()


@dataclass(frozen=True)
class Audio:
    """16-bit little-endian mono PCM and its sample rate."""

    pcm: bytes
    sample_rate: int

    @property
    def seconds(self) -> float:
        return len(self.pcm) / 2 / self.sample_rate

    @classmethod
    def from_wav(cls, path: Path) -> Audio:
        try:
            with wave.open(str(path), "rb") as w:
                if w.getnchannels() != 1 or w.getsampwidth() != 2:
                    raise AudioFormatError(
                        f"{path}: need 16-bit mono PCM, got {w.getnchannels()} channel(s) "
                        f"of {8 * w.getsampwidth()} bit"
                    )
                return cls(w.readframes(w.getnframes()), w.getframerate())
        except wave.Error as exc:
            raise AudioFormatError(f"{path}: not a PCM WAV file ({exc})") from exc


class RecognizerStream(Protocol):
    def feed(self, pcm: bytes) -> StreamUpdate: ...

    def finish(self) -> StreamUpdate: ...


class Recognizer(Protocol):
    """One loaded model in this process. Not thread-safe across streams' ``feed`` calls."""

    def missing_words(self, words: Sequence[str]) -> list[str]: ...

    def transcribe(self, audio: Audio) -> Transcription: ...

    def transcribe_grammar(self, audio: Audio, phrases: Sequence[str]) -> Transcription: ...

    def open_stream(
        self, sample_rate: int, phrases: Sequence[str] | None = None
    ) -> RecognizerStream: ...
