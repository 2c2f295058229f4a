"""Two hotlines on one Redis (``[redis] namespace``): neither sees the other's live words.

Each hotline is composed as the core composes it (``tests/security/composed.py``) on one
real redis-server, with its settings read from its own ``hotline.toml``; transcripts and
alerts come from the real producers (``ivr.live_transcript.LiveTranscripts`` and a speech
worker, ``speech.worker.TranscriptionWorker``, given that hotline's settings the way
``stack.speech_service`` gives them), and reach ``/api/live`` through real pub/sub."""

from __future__ import annotations

import asyncio
import uuid
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest

from hotline_core.config_errors import ConfigError
from hotline_core.redis_keys import RedisKeys
from ivr.live_transcript import LiveTranscripts
from speech.engine import Word
from speech.live import LiveTranscriber
from speech.settings import SpeechSettings
from speech.worker import TranscriptionWorker
from stack.settings import Settings, load_settings
from stack.speech_service import speech_settings
from testkit.speech_audio import silence_clip
from tests.security.composed import TOKENS, composed
from tests.security.test_live_stream import _next_word, _socket, _words_until_figures
from tests.speech.test_keywords import FixedWords

KEYWORDS = """
[alerts.fire]
line = "119"
words = ["着火"]
"""


@dataclass
class Hotline:
    settings: Settings
    speech: SpeechSettings


def _hotline(root: Path, redis_url: str, namespace: str) -> Hotline:
    """A hotline's settings as an operator writes them: its own namespace on a shared Redis."""
    root.mkdir()
    (root / "keywords.toml").write_text(KEYWORDS, encoding="utf-8")
    config = root / "hotline.toml"
    config.write_text(f"""
[redis]
url = "{redis_url}"
namespace = "{namespace}"

[database]
url = "sqlite:///{root / 'hotline.db'}"

[paths]
state_dir = "{root / 'var'}"

[speech]
model_dir = "{root}"
keywords_file = "{root / 'keywords.toml'}"
max_live_streams = 0
""", encoding="utf-8")
    settings = load_settings(config, env={})
    speech = speech_settings(settings)
    assert speech is not None
    return Hotline(settings, speech)


async def test_two_hotlines_on_one_redis_do_not_see_each_others_words(
        tmp_path: Path, redis_url: str) -> None:
    """On main 4b97079 every hotline published alerts on ``hotline:alerts`` and transcripts
    on ``hotline:transcripts`` whatever its namespace, and every /api/live socket listened
    there: city B's supervisor read what city A's caller said (and ``[redis] namespace``
    was refused as an unknown setting)."""
    run = uuid.uuid4().hex[:8]
    a = _hotline(tmp_path / "a", redis_url, f"city-a-{run}")
    b = _hotline(tmp_path / "b", redis_url, f"city-b-{run}")
    async with AsyncExitStack() as stack:
        app_a = await stack.enter_async_context(composed(
            tmp_path / "a", redis_url, namespace=a.settings.redis_namespace))
        app_b = await stack.enter_async_context(composed(
            tmp_path / "b", redis_url, namespace=b.settings.redis_namespace))
        sup_a = await stack.enter_async_context(_socket(app_a, f"token={TOKENS['supervisor']}"))
        sup_b = await stack.enter_async_context(_socket(app_b, f"token={TOKENS['supervisor']}"))

        # Live transcript producers, as the core makes them from each hotline's settings
        # (CPU budget 0: each answered call gets one "live: false" message naming it).
        producers = {}
        for name, hotline, app in (("a", a, app_a), ("b", b, app_b)):
            transcriber = LiveTranscriber(hotline.speech)
            stack.callback(transcriber.close)
            producers[name] = LiveTranscripts(transcriber, app.redis, tmp_path,
                                              namespace=hotline.settings.redis_namespace)
        producers["a"].answered("call-A", "1001", "20260608/call-A.wav")
        assert await _next_word(sup_a) == ("transcript", "call-A")
        producers["b"].answered("call-B", "1001", "20260608/call-B.wav")
        assert await _next_word(sup_b) == ("transcript", "call-B")

        # Batch transcription: each hotline's speech worker, whose recogniser hears "着火".
        heard = [Word("着火", 0.2, 0.6, 0.9)]
        worker_a = TranscriptionWorker(a.speech, "w-a", FixedWords(heard))
        worker_b = TranscriptionWorker(b.speech, "w-b", FixedWords(heard))
        stack.callback(worker_a.redis.close)
        stack.callback(worker_b.redis.close)
        clip = str(silence_clip(0.5))
        worker_a.queue.enqueue("call-A2", "caller", clip)
        # City B's worker finds nothing to do in its own queue; city A's takes the job.
        assert await asyncio.to_thread(worker_b.queue.claim, "w-b", 0.2) is None
        job = await asyncio.to_thread(worker_a.queue.claim, "w-a", 5.0)
        assert job is not None and job.call_id == "call-A2"
        await asyncio.to_thread(worker_a.handle, job)
        worker_b.queue.enqueue("call-B2", "caller", clip)
        job = await asyncio.to_thread(worker_b.queue.claim, "w-b", 5.0)
        assert job is not None and job.call_id == "call-B2"
        await asyncio.to_thread(worker_b.handle, job)

        # A figures change on each hotline: each socket reads up to it, and holds exactly
        # its own hotline's alert (nothing of the other's transcript or alert).
        await app_a.distributor.agent_login("1001", {"general": 1})
        await app_b.distributor.agent_login("1001", {"general": 1})
        assert await _words_until_figures(sup_a) == [("alert", "call-A2")]
        assert await _words_until_figures(sup_b) == [("alert", "call-B2")]

        # The names on the wire are the hotlines' own (written out from the namespace rule).
        assert RedisKeys(a.settings.redis_namespace).alerts == f"city-a-{run}:alerts"
        assert app_b.distributor.events_channel == f"city-b-{run}:events"


def test_a_bad_namespace_stops_start_up_named(tmp_path: Path) -> None:
    """A namespace that is not one key segment, or one given to the speech side alone (its
    workers would listen on another queue than the core fills), is refused with its line."""
    config = tmp_path / "hotline.toml"
    config.write_text('[network]\n\n[redis]\nnamespace = "city:a"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as bad:
        load_settings(config, env={})
    assert (bad.value.setting, bad.value.line) == ("redis.namespace", 4)
    config.write_text(f'[speech]\nmodel_dir = "{tmp_path}"\nkeywords_file = ""\n'
                      'namespace = "city-b"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as split:
        load_settings(config, env={})
    assert (split.value.setting, split.value.line) == ("speech.namespace", 4)
