"""Vosk backend of :class:`speech.engine.Recognizer`: one model per process, loaded once.

Start-up (:func:`load_vosk`) checks the model directory, makes a private overlay of it
with dither switched off (``--dither=0`` in ``conf/mfcc.conf``; every other file is a
symlink to the original, so nothing big is copied) — without it Kaldi adds random noise
to the features and the same recording can decode differently twice — then loads the
model and checks every grammar word against the model's vocabulary (Vosk itself only
logs "Ignoring word missing in vocabulary" and carries on).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import vosk

from speech.engine import (
    Audio,
    GrammarWordError,
    SpeechSetupError,
    StreamUpdate,
    Transcription,
    Word,
)

MODEL_SETTING = "speech.model_dir"
_CHUNK_BYTES = 8000  # 0.5 s at 8 kHz: the granularity of results, not a latency bound
_UNKNOWN_TOKENS = ("[unk]", "<UNK>", "<unk>")
_REQUIRED = ("am/final.mdl", "conf/mfcc.conf")


def check_model_dir(model_dir: Path, setting: str = MODEL_SETTING) -> None:
    """Raise :class:`SpeechSetupError` naming ``setting`` unless this looks like a Vosk model."""
    if not model_dir.exists():
        raise SpeechSetupError(setting, f"model directory {model_dir} does not exist")
    if not model_dir.is_dir():
        raise SpeechSetupError(setting, f"{model_dir} is not a directory")
    for part in _REQUIRED:
        if not (model_dir / part).is_file():
            raise SpeechSetupError(
                setting, f"{model_dir} is not a Vosk model directory ({part} is missing)"
            )


def dither_free_copy(model_dir: Path, work_dir: Path) -> Path:
    """A private view of ``model_dir`` whose ``conf/mfcc.conf`` has ``--dither=0``.

    Built once (atomic rename) and shared by every worker process of this machine.
    """
    source = model_dir.resolve()
    mfcc = (source / "conf" / "mfcc.conf").read_text()
    lines = [ln for ln in mfcc.splitlines() if not ln.strip().startswith("--dither")]
    lines.append("--dither=0")
    digest = hashlib.sha1((str(source) + "\n" + mfcc).encode()).hexdigest()[:16]
    target = work_dir / f"model-{digest}"
    if target.is_dir():
        return target
    work_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".model-", dir=work_dir))
    try:
        for entry in source.iterdir():
            if entry.name != "conf":
                (staging / entry.name).symlink_to(entry)
        (staging / "conf").mkdir()
        for conf in (source / "conf").iterdir():
            if conf.name != "mfcc.conf":
                shutil.copy2(conf, staging / "conf" / conf.name)
        (staging / "conf" / "mfcc.conf").write_text("\n".join(lines) + "\n")
        os.rename(staging, target)
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)
        if not target.is_dir():  # another process won the race: theirs is as good as ours
            raise
    return target


class VoskRecognizer:
    """A loaded Vosk model (the only one in this process) behind the Recognizer protocol."""

    def __init__(self, model_dir: Path, work_dir: Path, setting: str = MODEL_SETTING) -> None:
        check_model_dir(model_dir, setting)
        vosk.SetLogLevel(-1)
        self.model_dir = model_dir
        try:
            self._model = vosk.Model(str(dither_free_copy(model_dir, work_dir)))
        except Exception as exc:  # vosk raises a bare Exception("Failed to create a model")
            raise SpeechSetupError(setting, f"Vosk could not load {model_dir}: {exc}") from exc
        self._unknown = next(
            (t for t in _UNKNOWN_TOKENS if self._model.vosk_model_find_word(t) >= 0), None
        )

    def missing_words(self, words: Sequence[str]) -> list[str]:
        return [w for w in words if self._model.vosk_model_find_word(w) < 0]

    def check_grammars(self, grammars: Mapping[str, Mapping[str, Sequence[str]]]) -> None:
        """Raise :class:`GrammarWordError` for the first phrase word the model lacks."""
        for name, grammar in grammars.items():
            for key, phrases in grammar.items():
                for phrase in phrases:
                    missing = self.missing_words(phrase.split())
                    if missing:
                        raise GrammarWordError(f"speech.grammars.{name}.{key}", missing[0])

    def _kaldi(self, sample_rate: int, phrases: Sequence[str] | None) -> Any:
        if phrases is None:
            rec = vosk.KaldiRecognizer(self._model, sample_rate)
        else:
            words = list(dict.fromkeys(phrases))
            if self._unknown is not None:
                words.append(self._unknown)  # somewhere for out-of-grammar speech to go
            rec = vosk.KaldiRecognizer(
                self._model, sample_rate, json.dumps(words, ensure_ascii=False)
            )
        rec.SetWords(True)
        return rec

    def transcribe(self, audio: Audio) -> Transcription:
        return self._decode(audio, None)

    def transcribe_grammar(self, audio: Audio, phrases: Sequence[str]) -> Transcription:
        return self._decode(audio, phrases)

    def _decode(self, audio: Audio, phrases: Sequence[str] | None) -> Transcription:
        rec = self._kaldi(audio.sample_rate, phrases)
        words: list[Word] = []
        pcm = audio.pcm
        for offset in range(0, len(pcm), _CHUNK_BYTES):
            if rec.AcceptWaveform(pcm[offset : offset + _CHUNK_BYTES]):
                words.extend(self._words(rec.Result()))
        words.extend(self._words(rec.FinalResult()))
        return Transcription(
            text=" ".join(w.text for w in words), words=tuple(words), audio_seconds=audio.seconds
        )

    def _words(self, result_json: str) -> Iterable[Word]:
        result = json.loads(result_json)
        for item in result.get("result", ()):
            if item["word"] in _UNKNOWN_TOKENS:
                continue
            yield Word(
                text=item["word"],
                start=float(item["start"]),
                end=float(item["end"]),
                conf=float(item["conf"]),
            )

    def open_stream(
        self, sample_rate: int, phrases: Sequence[str] | None = None
    ) -> VoskStream:
        return VoskStream(self, self._kaldi(sample_rate, phrases))


class VoskStream:
    """Live decoding: feed PCM as it arrives, get partial guesses and final utterances."""

    def __init__(self, owner: VoskRecognizer, rec: Any) -> None:
        self._owner = owner
        self._rec = rec

    def feed(self, pcm: bytes) -> StreamUpdate:
        if self._rec.AcceptWaveform(pcm):
            return self._final(self._rec.Result())
        partial = json.loads(self._rec.PartialResult()).get("partial", "")
        text = " ".join(w for w in partial.split() if w not in _UNKNOWN_TOKENS)
        return StreamUpdate(text=text, final=False)

    def finish(self) -> StreamUpdate:
        return self._final(self._rec.FinalResult())

    def _final(self, result_json: str) -> StreamUpdate:
        words = tuple(self._owner._words(result_json))
        return StreamUpdate(text=" ".join(w.text for w in words), final=True, words=words)
