"""IVR yes/no by voice with the real Korean model: 네/예 mean yes, 아니요/아니오 mean no."""

from __future__ import annotations

import pytest

from speech.engine import Audio
from speech.grammar import ChoiceService, recognize_choice
from speech.settings import SpeechSettings
from speech.vosk_backend import VoskRecognizer
from testkit.speech_audio import concat_clips, silence_clip, speech_clip
from tests.speech.conftest import KO_YES_NO


@pytest.mark.parametrize(
    ("spoken", "expected"), [("네", "yes"), ("예", "yes"), ("아니요", "no"), ("아니오", "no")]
)
def test_yes_no_answers_are_recognised(
    ko_recognizer: VoskRecognizer, spoken: str, expected: str
) -> None:
    choice = recognize_choice(speech_clip(spoken), KO_YES_NO, ko_recognizer)
    assert choice is not None
    assert choice.key == expected
    assert choice.phrase in KO_YES_NO[expected]
    assert 0.5 <= choice.confidence <= 1.0
    assert 0.0 <= choice.start < choice.end


def test_silence_is_no_answer(ko_recognizer: VoskRecognizer) -> None:
    assert recognize_choice(silence_clip(2.0), KO_YES_NO, ko_recognizer) is None
    assert ko_recognizer.transcribe_grammar(
        Audio.from_wav(silence_clip(2.0)), ["네", "아니요"]
    ).words == ()


def test_conflicting_answers_are_no_answer(ko_recognizer: VoskRecognizer) -> None:
    clip = concat_clips([speech_clip("네"), silence_clip(0.8), speech_clip("아니요")])
    heard = ko_recognizer.transcribe_grammar(Audio.from_wav(clip), ["네", "예", "아니요"])
    assert [w.text for w in heard.words] == ["네", "아니요"]
    assert recognize_choice(clip, KO_YES_NO, ko_recognizer) is None


def test_live_stream_with_grammar_gives_a_final_answer(ko_recognizer: VoskRecognizer) -> None:
    audio = Audio.from_wav(concat_clips([speech_clip("아니요"), silence_clip(1.0)]))
    stream = ko_recognizer.open_stream(audio.sample_rate, ["네", "예", "아니요", "아니오"])
    finals = []
    for offset in range(0, len(audio.pcm), 1600):  # 100 ms chunks, as from a growing file
        update = stream.feed(audio.pcm[offset : offset + 1600])
        if update.final:
            finals.append(update)
    finals.append(stream.finish())
    words = [w.text for u in finals for w in u.words]
    assert words == ["아니요"]


async def test_choice_service_runs_in_its_own_process(ko_settings: SpeechSettings) -> None:
    service = ChoiceService(ko_settings)
    try:
        await service.start(start_seconds=300)
        yes = await service.recognize(speech_clip("예"), "yes_no", limit_seconds=120)
        no = await service.recognize(speech_clip("아니요"), "yes_no", limit_seconds=120)
        assert (yes and yes.key, no and no.key) == ("yes", "no")
    finally:
        service.close()
