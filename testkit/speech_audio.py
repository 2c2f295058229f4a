"""Test speech: espeak-ng Korean clips turned into 8 kHz mono 16-bit WAV (telephone audio).

Clips are made with espeak-ng (voice ``ko``) and converted with sox, then cached in one
temporary directory per test session so each phrase is synthesised once.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
from pathlib import Path

TELEPHONE_RATE = 8000
_CACHE = Path(tempfile.gettempdir()) / "hotline-test-speech"


def _tool(name: str) -> str:
    exe = shutil.which(name)
    if exe is None:
        raise RuntimeError(f"{name} is not installed (see stack/host_packages.txt)")
    return exe


def _cached(key: str) -> Path:
    _CACHE.mkdir(parents=True, exist_ok=True)
    return _CACHE / (hashlib.sha1(key.encode()).hexdigest()[:16] + ".wav")


def _publish(tmp: Path, out: Path) -> Path:
    tmp.replace(out)  # atomic: parallel test processes never see half a file
    return out


def speech_clip(text: str, pad_seconds: float = 0.3, voice: str = "ko") -> Path:
    """WAV of ``text`` spoken by espeak-ng, with ``pad_seconds`` of silence each side."""
    out = _cached(f"speech|{voice}|{text}|{pad_seconds}")
    if out.exists():
        return out
    raw = out.with_suffix(".espeak.wav")
    tmp = out.with_suffix(".tmp.wav")
    subprocess.run([_tool("espeak-ng"), "-v", voice, "-w", str(raw), text], check=True)
    subprocess.run(
        [_tool("sox"), str(raw), "-r", str(TELEPHONE_RATE), "-c", "1", "-b", "16",
         "-e", "signed-integer", str(tmp), "pad", str(pad_seconds), str(pad_seconds)],
        check=True,
    )
    raw.unlink()
    return _publish(tmp, out)


def silence_clip(seconds: float = 2.0) -> Path:
    """Digital silence at 8 kHz."""
    out = _cached(f"silence|{seconds}")
    if out.exists():
        return out
    tmp = out.with_suffix(".tmp.wav")
    subprocess.run(
        [_tool("sox"), "-n", "-r", str(TELEPHONE_RATE), "-c", "1", "-b", "16",
         "-e", "signed-integer", str(tmp), "trim", "0", str(seconds)],
        check=True,
    )
    return _publish(tmp, out)


def concat_clips(parts: list[Path], repeat: int = 1) -> Path:
    """One WAV made of ``parts`` played in order, the whole sequence ``repeat`` times."""
    names = [str(p) for p in parts] * repeat
    out = _cached("concat|" + "|".join(names))
    if out.exists():
        return out
    tmp = out.with_suffix(".tmp.wav")
    subprocess.run([_tool("sox"), *names, str(tmp)], check=True)
    return _publish(tmp, out)


def duration_seconds(path: Path) -> float:
    import wave

    with wave.open(str(path), "rb") as w:
        return w.getnframes() / w.getframerate()
