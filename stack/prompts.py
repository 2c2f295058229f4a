"""Mandarin voice prompts: generated from asterisk_conf/prompts.txt with espeak-ng.

Generation happens at install/start time and is cached by content hash outside the work
tree; a recorded WAV of the same name in the override directory always wins.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from hotline_core.config_errors import ConfigError

VOICE = "cmn-latn-pinyin"
TEXT_VOICE = "cmn"   # reads Chinese characters: text known only at call time
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@dataclass(frozen=True)
class Prompt:
    name: str
    text: str


def read_prompts(path: Path) -> tuple[Prompt, ...]:
    prompts: list[Prompt] = []
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, text = (part.strip() for part in line.partition("|"))
        if not sep or not _NAME.match(name) or not text:
            raise ConfigError(path, f"line {number}", "expected 'name | pinyin text'")
        prompts.append(Prompt(name, text))
    return tuple(prompts)


def cache_dir() -> Path:
    return Path(os.environ.get("HOTLINE_CACHE", "/var/cache/hotline")) / "prompts"


def build_prompts(prompts_file: Path, override_dir: Path, dest: Path) -> list[str]:
    """Put an 8 kHz mono WAV for every prompt into ``dest``; return the names."""
    dest.mkdir(parents=True, exist_ok=True)
    names = []
    for prompt in read_prompts(prompts_file):
        override = override_dir / f"{prompt.name}.wav"
        source = override if override.exists() else _generated(prompt)
        shutil.copyfile(source, dest / f"{prompt.name}.wav")
        names.append(prompt.name)
    return names


def text_prompt(name: str, text: str, override_dir: Path, dest: Path) -> Path:
    """One call's own prompt (an order's unit and result, 回访): ``<name>.wav`` recorded in
    ``override_dir`` wins, else ``text`` (Chinese characters) spoken by espeak-ng's ``cmn``
    voice; copied into ``dest``. Blocking (espeak-ng, sox): run it in a worker thread."""
    if not _NAME.match(name) or not text.strip():
        raise ValueError(f"prompt {name!r}: needs a plain name and some text")
    dest.mkdir(parents=True, exist_ok=True)
    override = override_dir / f"{name}.wav"
    target = dest / f"{name}.wav"
    if override.exists():
        shutil.copyfile(override, target)
    else:   # not cached: each order's sentence is said once or twice
        _synthesize(text, TEXT_VOICE, target)
    return target


def _generated(prompt: Prompt, voice: str = VOICE) -> Path:
    key = hashlib.sha256(f"{voice}\0{prompt.text}".encode()).hexdigest()[:16]
    out = cache_dir() / f"{prompt.name}-{key}.wav"
    if out.exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    _synthesize(prompt.text, voice, out)
    return out


def _synthesize(text: str, voice: str, out: Path) -> None:
    """``text`` spoken by espeak-ng as an 8 kHz mono WAV at ``out`` (appears whole)."""
    raw = out.with_suffix(".raw.wav")
    subprocess.run(["espeak-ng", "-v", voice, "-w", str(raw), text],
                   check=True, capture_output=True, timeout=60)
    tmp = out.with_suffix(".tmp.wav")
    subprocess.run(["sox", str(raw), "-r", "8000", "-c", "1", "-b", "16", str(tmp)],
                   check=True, capture_output=True, timeout=60)
    tmp.rename(out)
    raw.unlink(missing_ok=True)
