"""Keyword alerts and category hints, published on Redis ``hotline:alerts``."""

from __future__ import annotations

import dataclasses
import json
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
import redis
import redis.asyncio as aioredis
from hypothesis import given
from hypothesis import strategies as st

from hotline_core.config_errors import ConfigError
from hotline_core.db import Base, make_engine
from hotline_core.redis_keys import RedisKeys
from speech.alerts import publish_alerts_async
from speech.engine import Audio, RecognizerStream, Transcription, Word
from speech.jobs import JobQueue
from speech.keywords import KeywordWatch, load_keywords, spot
from speech.settings import SpeechSettings
from speech.vosk_backend import VoskRecognizer
from speech.worker import TranscriptionWorker
from testkit.speech_audio import concat_clips, silence_clip, speech_clip

ROOT = Path(__file__).resolve().parents[2]
NAMES = RedisKeys(f"kwtest{uuid.uuid4().hex[:8]}")   # this module's keys and channels
KO_KEYWORDS = """
[alerts.fire]
line = "119"
words = ["불이야"]
[alerts.yes_test]
line = "110"
words = ["네"]
[hints.complaint]
category = "complaint"
words = ["아니요"]
"""


def w(text: str, start: float) -> Word:
    return Word(text, start, start + 0.3, 0.9)


@pytest.fixture
def alerts_sub(redis_url: str) -> Iterator[redis.client.PubSub]:
    client = redis.Redis.from_url(redis_url, decode_responses=True, socket_timeout=10)
    pubsub = client.pubsub()
    pubsub.subscribe(NAMES.alerts)
    pubsub.get_message(timeout=5)
    yield pubsub
    pubsub.close()
    client.close()


def received(pubsub: redis.client.PubSub, count: int) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    deadline = time.monotonic() + 120
    while len(out) < count and time.monotonic() < deadline:
        msg = pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
        if msg is not None:
            out.append(json.loads(msg["data"]))
    return out


def test_shipped_keyword_lists_load_and_match_chinese_words_split_by_the_model() -> None:
    lists = load_keywords(ROOT / "config" / "keywords.toml")
    assert {a.line for a in lists.alerts} == {"110", "119", "120", "122"}
    words = [w("喂", 0.0), w("我", 0.5), w("家", 0.8), w("着", 1.1), w("火", 1.3), w("了", 1.5),
             w("我", 3.0), w("要", 3.2), w("投诉", 3.4), w("燃气", 5.0), w("泄漏", 5.4)]
    alerts, hints = spot(lists, words, call_id="c", leg="caller", source="batch")
    assert [(a.topic, a.line, a.keyword, a.at_seconds) for a in alerts] == [
        ("fire", "119", "着火", 1.1), ("gas_leak", "119", "燃气泄漏", 5.0)]
    assert [(h.category, h.word, h.at_seconds) for h in hints] == [("complaint", "投诉", 3.4)]


def test_bad_keyword_file_names_the_entry(tmp_path: Path) -> None:
    bad = tmp_path / "k.toml"
    bad.write_text('[alerts.fire]\nline = "911"\nwords = ["着火"]\n')
    with pytest.raises(ConfigError, match=r"k.toml:2: setting 'alerts.fire.line': Input should "
                       r"be '110', '119', '120' or '122', got '911'"):
        load_keywords(bad)


def test_live_watch_raises_each_topic_once_even_across_utterances() -> None:
    lists = load_keywords(ROOT / "config" / "keywords.toml")
    watch = KeywordWatch(lists, "c", "caller")
    first, _ = watch.feed([w("车", 1.0)])
    second, _ = watch.feed([w("祸", 1.4), w("了", 1.6)])  # "车祸" split across finals
    third, _ = watch.feed([w("车祸", 9.0)])
    assert (first, [a.keyword for a in second], third) == ([], ["车祸"], [])


async def test_keyword_in_a_real_transcript_is_published_on_redis(
    ko_recognizer: VoskRecognizer, redis_url: str, tmp_path: Path,
    alerts_sub: redis.client.PubSub,
) -> None:
    (tmp_path / "k.toml").write_text(KO_KEYWORDS, encoding="utf-8")
    lists = load_keywords(tmp_path / "k.toml")
    clip = concat_clips([speech_clip("아니요"), silence_clip(1.0), speech_clip("네")])
    # grammar decoding makes the words reliable with this small model; the timings are real
    heard = ko_recognizer.transcribe_grammar(Audio.from_wav(clip), ["네", "예", "아니요"])
    alerts, hints = spot(lists, heard.words, call_id="call-9", leg="caller", source="live")
    client = aioredis.Redis.from_url(redis_url, socket_timeout=5)
    try:
        assert await publish_alerts_async(client, [*alerts, *hints], NAMES.alerts) == 2
    finally:
        await client.aclose()
    got = received(alerts_sub, 2)
    assert [(g["type"], g.get("line"), g.get("category")) for g in got] == [
        ("keyword_alert", "110", None), ("category_hint", None, "complaint")]
    alert = got[0]
    assert (alert["keyword"], alert["call_id"], alert["leg"], alert["source"]) == (
        "네", "call-9", "caller", "live")
    assert 1.0 < float(alert["at_seconds"]) < heard.audio_seconds  # 네 comes second
    assert str(alert["raised_at"]).endswith("+00:00")


class FixedWords:
    """A recogniser that always hears the same words: isolates the worker's wiring."""

    def __init__(self, words: Sequence[Word]) -> None:
        self.words = tuple(words)

    def missing_words(self, words: Sequence[str]) -> list[str]:
        return []

    def transcribe(self, audio: Audio) -> Transcription:
        return Transcription(" ".join(x.text for x in self.words), self.words, audio.seconds)

    def transcribe_grammar(self, audio: Audio, phrases: Sequence[str]) -> Transcription:
        return self.transcribe(audio)

    def open_stream(self, sample_rate: int,
                    phrases: Sequence[str] | None = None) -> RecognizerStream:
        raise NotImplementedError


def test_batch_worker_publishes_alerts_of_the_transcript(
    ko_settings: SpeechSettings, redis_url: str, tmp_path: Path,
    alerts_sub: redis.client.PubSub,
) -> None:
    (tmp_path / "k.toml").write_text(KO_KEYWORDS, encoding="utf-8")
    db_url = f"sqlite:///{tmp_path / 'h.db'}"
    Base.metadata.create_all(make_engine(db_url))
    settings = dataclasses.replace(
        ko_settings, redis_url=redis_url, database_url=db_url, keywords_file=tmp_path / "k.toml",
        namespace=NAMES.namespace, poll_seconds=0.2,
    )
    worker = TranscriptionWorker(settings, "w-inline", FixedWords([w("불이야", 0.4)]))
    job_queue = JobQueue(worker.redis, NAMES.speech)
    job_queue.enqueue("call-7", "caller", str(speech_clip("네")))
    job = job_queue.claim("w-inline", 1.0)
    assert job is not None
    worker.handle(job)
    got = received(alerts_sub, 1)
    assert [(g["keyword"], g["line"], g["call_id"], g["source"], g["at_seconds"])
            for g in got] == [("불이야", "119", "call-7", "batch", 0.4)]
    assert job_queue.status(job.job_id)["status"] == "done"


_HANZI = st.sampled_from(list("我家着火了要投诉燃气泄漏车祸路口请问你好的"))


@given(st.lists(_HANZI, min_size=0, max_size=12), st.lists(_HANZI, min_size=0, max_size=12),
       st.data())
def test_a_keyword_is_found_however_the_model_splits_it(
    before: list[str], after: list[str], data: st.DataObject
) -> None:
    keyword = "救护车"
    cut = data.draw(st.sets(st.integers(1, len(keyword) - 1)))
    pieces = [keyword[a:b] for a, b in zip([0, *sorted(cut)], [*sorted(cut), len(keyword)],
                                           strict=True)]
    texts = [*before, *pieces, *after]
    words = [w(t, float(i)) for i, t in enumerate(texts)]
    lists = load_keywords(ROOT / "config" / "keywords.toml")
    alerts, _ = spot(lists, words, call_id="c", leg="caller", source="batch")
    injury = [a for a in alerts if a.topic == "injury"]
    assert injury and injury[0].line == "120"
    assert injury[0].at_seconds <= float(len(before))  # never later than our occurrence
