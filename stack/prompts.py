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


def _generated(prompt: Prompt) -> Path:
    key = hashlib.sha256(f"{VOICE}\0{prompt.text}".encode()).hexdigest()[:16]
    out = cache_dir() / f"{prompt.name}-{key}.wav"
    if out.exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    raw = out.with_suffix(".raw.wav")
    subprocess.run(["espeak-ng", "-v", VOICE, "-w", str(raw), prompt.text],
                   check=True, capture_output=True, timeout=60)
    tmp = out.with_suffix(".tmp.wav")
    subprocess.run(["sox", str(raw), "-r", "8000", "-c", "1", "-b", "16", str(tmp)],
                   check=True, capture_output=True, timeout=60)
    tmp.rename(out)
    raw.unlink(missing_ok=True)
    return out
