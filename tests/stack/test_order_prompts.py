"""An order's own prompt for the satisfaction callback (stack/prompts.text_prompt): a WAV
recorded under the prompt's name in the override directory wins; otherwise espeak-ng's
Mandarin voice says the Chinese text, as an 8 kHz mono WAV Asterisk can play. Old ones are
removed (stack/order_campaigns.prune_order_prompts)."""

from __future__ import annotations

import os
import wave
from pathlib import Path

import pytest

from stack.order_campaigns import prune_order_prompts
from stack.prompts import text_prompt
from testkit.sipp import write_silence_wav

TEXT = "由县交通运输局办理。办理结果:路面已修补, 恢复通行。"


def test_a_recorded_wav_in_the_override_directory_wins(tmp_path: Path) -> None:
    override, dest = tmp_path / "override", tmp_path / "sounds"
    override.mkdir()
    write_silence_wav(override / "callback-order-7.wav", 0.25)
    made = text_prompt("callback-order-7", TEXT, override, dest)
    assert made == dest / "callback-order-7.wav"
    assert made.read_bytes() == (override / "callback-order-7.wav").read_bytes()


def test_the_text_is_spoken_into_an_8_khz_mono_wav(tmp_path: Path) -> None:
    made = text_prompt("callback-order-8", TEXT, tmp_path / "none", tmp_path / "sounds")
    with wave.open(str(made)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (8000, 1, 2)
        # 24 characters of Mandarin take seconds, not a blip.
        assert w.getnframes() / 8000 > 3.0
    assert sorted(p.name for p in (tmp_path / "sounds").iterdir()) == ["callback-order-8.wav"]


@pytest.mark.parametrize(("name", "text"), [("../x", TEXT), ("a b", TEXT), ("ok", "  ")])
def test_a_name_that_is_not_plain_or_empty_text_is_refused(
        tmp_path: Path, name: str, text: str) -> None:
    with pytest.raises(ValueError, match="needs a plain name and some text"):
        text_prompt(name, text, tmp_path, tmp_path / "sounds")
    assert not (tmp_path / "sounds").exists()


def test_order_sentences_older_than_an_hour_are_removed(tmp_path: Path) -> None:
    old, fresh = tmp_path / "callback-order-1.wav", tmp_path / "callback-order-2.wav"
    for path in (old, fresh):
        write_silence_wav(path, 0.1)
    now = 1_800_000_000.0
    os.utime(old, (now - 3601, now - 3601))
    os.utime(fresh, (now - 60, now - 60))
    assert prune_order_prompts(tmp_path, 3600, now=now) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["callback-order-2.wav"]
    assert prune_order_prompts(tmp_path / "missing", 3600, now=now) == 0
