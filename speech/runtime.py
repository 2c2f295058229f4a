"""The one recogniser of this process: loaded on first use, validated, then reused.

Every worker process (batch worker, grammar pool, live host, benchmark) calls
:func:`ensure` with the settings; the model is loaded once per process and the grammar
words are checked against its vocabulary before anything is decoded.
"""

from __future__ import annotations

from speech.settings import SpeechSettings
from speech.vosk_backend import VoskRecognizer

_current: tuple[SpeechSettings, VoskRecognizer] | None = None


def ensure(settings: SpeechSettings) -> VoskRecognizer:
    """This process's recogniser for ``settings`` (raises SpeechSetupError on bad settings)."""
    global _current
    if _current is not None and _current[0] == settings:
        return _current[1]
    _current = None  # never keep two models in one process
    recognizer = VoskRecognizer(settings.model_dir, settings.work_dir)
    recognizer.check_grammars(settings.grammars)
    _current = (settings, recognizer)
    return recognizer
