"""Reading recordings in tests: duration and loudness of a WAV file (16-bit PCM)."""

from __future__ import annotations

import array
import math
import wave
from pathlib import Path


def wav_stats(path: Path, start_s: float = 0.0) -> tuple[float, float]:
    """(duration in seconds, RMS of the samples from ``start_s`` on, in 16-bit units)."""
    with wave.open(str(path), "rb") as w:
        assert w.getsampwidth() == 2, f"{path}: expected 16-bit samples"
        rate = w.getframerate()
        frames = w.getnframes()
        w.setpos(min(frames, int(start_s * rate)))
        samples = array.array("h", w.readframes(frames))
    rms = math.sqrt(sum(s * s for s in samples) / len(samples)) if samples else 0.0
    return frames / rate, rms
