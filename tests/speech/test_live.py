"""Live transcript: streams decoded in a host process, a budget, alerts on Redis."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from pathlib import Path

import redis.asyncio as aioredis

from hotline_core.redis_keys import RedisKeys
from speech.interface import BatchFallback, follow_growing_wav
from speech.keywords import load_keywords
from speech.live import LiveStream, LiveTranscriber
from speech.settings import SpeechSettings
from testkit.speech_audio import concat_clips, silence_clip, speech_clip
from tests.speech.test_keywords import KO_KEYWORDS

YES_NO = ["네", "예", "아니요", "아니오"]


async def test_live_stream_budget_partials_finals_and_alerts(
    ko_settings: SpeechSettings, redis_url: str, tmp_path: Path
) -> None:
    (tmp_path / "k.toml").write_text(KO_KEYWORDS, encoding="utf-8")
    settings = dataclasses.replace(ko_settings, max_live_streams=1)
    client = aioredis.Redis.from_url(redis_url, decode_responses=True, socket_timeout=10)
    pubsub = client.pubsub()
    await pubsub.subscribe(RedisKeys(settings.namespace).alerts)
    live = LiveTranscriber(settings, load_keywords(tmp_path / "k.toml"), client,
                          call_seconds=120)  # bounds for a loaded machine
    try:
        await live.start(start_seconds=300)
        stream = await live.open("call-live", "caller", 8000, YES_NO)
        assert isinstance(stream, LiveStream)
        over = await live.open("call-other", "caller", 8000)
        assert isinstance(over, BatchFallback)
        assert over.reason == "live budget full (1/1 streams): batch"

        wav = concat_clips([speech_clip("아니요"), silence_clip(1.2), speech_clip("네"),
                            silence_clip(1.2)])
        call_ended = asyncio.Event()
        call_ended.set()  # the file is complete: read to its end, then stop
        updates = [await stream.feed(chunk) async for chunk in follow_growing_wav(wav, call_ended)]
        updates.append(await stream.close())
        finals = [w.text for u in updates if u.final for w in u.words]
        assert finals == ["아니요", "네"]
        assert all(not u.words for u in updates if not u.final)  # partials carry no timings
        assert [a.keyword for a in stream.alerts] == ["네"]
        assert [h.category for h in stream.hints] == ["complaint"]

        got = []
        while len(got) < 2:
            msg = await pubsub.get_message(ignore_subscribe_messages=True, timeout=120)
            if msg is not None:
                got.append(json.loads(msg["data"]))
        assert sorted((g["type"], g["source"], g["call_id"]) for g in got) == [
            ("category_hint", "live", "call-live"), ("keyword_alert", "live", "call-live")]

        again = await live.open("call-other", "caller", 8000)  # the slot was freed
        assert isinstance(again, LiveStream)
        await again.close()
    finally:
        live.close()
        await pubsub.aclose()
        await client.aclose()


async def test_follow_reads_a_file_that_appears_and_grows(tmp_path: Path) -> None:
    path = tmp_path / "leg-in.wav"
    call_ended = asyncio.Event()
    chunks: list[bytes] = []

    async def read_all() -> None:
        async for chunk in follow_growing_wav(path, call_ended, chunk_bytes=100,
                                              poll_seconds=0.05):
            chunks.append(chunk)
            if sum(map(len, chunks)) == 300:
                with path.open("ab") as f:  # Asterisk appends more, then the call ends
                    f.write(b"\2" * 201)
                call_ended.set()

    reader = asyncio.create_task(read_all())
    path.write_bytes(b"H" * 44 + b"\1" * 300)
    await asyncio.wait_for(reader, 30)
    data = b"".join(chunks)
    assert data == b"\1" * 300 + b"\2" * 200  # whole samples only, header skipped
