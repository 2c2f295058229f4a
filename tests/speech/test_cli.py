from __future__ import annotations

import argparse
import dataclasses
import io
import shutil
import uuid
from pathlib import Path

import pytest
from sqlalchemy import select

from hotline_core.db import Base, make_engine, make_sessionmaker
from hotline_core.transcripts import Transcript
from speech.cli import add_transcribe_command, call_and_leg, transcribe
from speech.settings import SpeechSettings
from testkit.speech_audio import speech_clip


def test_recording_names_give_call_and_leg() -> None:
    assert call_and_leg(Path("/r/1700000000.42-in.wav")) == ("1700000000.42", "caller")
    assert call_and_leg(Path("/r/1700000000.42-out.wav")) == ("1700000000.42", "agent")
    assert call_and_leg(Path("/r/vm-88.wav")) == ("88", "voicemail")
    assert call_and_leg(Path("/r/1700000000.42.wav")) == ("1700000000.42", "mixed")


def test_transcribe_paths_with_two_workers_and_a_progress_bar(
    ko_settings: SpeechSettings, redis_url: str, tmp_path: Path
) -> None:
    db_url = f"sqlite:///{tmp_path / 'h.db'}"
    Base.metadata.create_all(make_engine(db_url))
    settings = dataclasses.replace(
        ko_settings, redis_url=redis_url, database_url=db_url, poll_seconds=0.2,
        retry_delay_seconds=0.0, max_attempts=1, namespace=f"test{uuid.uuid4().hex[:8]}",
        worker_nice=0,
    )
    caller = tmp_path / "1700000001.7-in.wav"
    agent = tmp_path / "1700000001.7-out.wav"
    shutil.copy(speech_clip("네"), caller)
    shutil.copy(speech_clip("아니요"), agent)
    broken = tmp_path / "1700000002.1.wav"
    broken.write_bytes(b"not a wav at all")
    out = io.StringIO()
    summary = transcribe(settings, [caller, agent, broken], workers=2, out=out)
    assert (summary.done, summary.failed) == (2, 1)
    assert summary.audio_seconds > 1.0
    assert "   3/3 jobs  1 failed" in out.getvalue()
    assert "audio-s/s" in out.getvalue()
    with make_sessionmaker(make_engine(db_url))() as s:
        rows = {(t.call_id, t.leg): t for t in s.scalars(select(Transcript))}
    assert rows[("1700000001.7", "caller")].status == "done"
    assert rows[("1700000001.7", "agent")].status == "done"
    failed = rows[("1700000002.1", "mixed")]
    assert failed.status == "failed" and failed.error is not None
    assert failed.error.startswith("AudioFormatError:")


def test_command_needs_recordings_or_backlog(ko_settings: SpeechSettings) -> None:
    parser = argparse.ArgumentParser(prog="hotline")
    add_transcribe_command(parser.add_subparsers(), lambda: ko_settings)
    args = parser.parse_args(["transcribe"])
    with pytest.raises(SystemExit):
        args.func(args)


def test_transcribe_backlog_works_through_queued_jobs(
    ko_settings: SpeechSettings, redis_url: str, tmp_path: Path
) -> None:
    import redis

    from hotline_core.redis_keys import RedisKeys
    from speech.jobs import JobQueue

    db_url = f"sqlite:///{tmp_path / 'h.db'}"
    Base.metadata.create_all(make_engine(db_url))
    settings = dataclasses.replace(
        ko_settings, redis_url=redis_url, database_url=db_url, poll_seconds=0.2,
        namespace=f"test{uuid.uuid4().hex[:8]}", worker_nice=0,
    )
    client = redis.Redis.from_url(redis_url, decode_responses=True, socket_timeout=10)
    queue = JobQueue(client, RedisKeys(settings.namespace).speech)
    for n, word in enumerate(["네", "예", "아니오"]):
        queue.enqueue(f"c{n}", "voicemail", str(speech_clip(word)))
    out = io.StringIO()
    summary = transcribe(settings, backlog=True, workers=1, out=out)
    assert (summary.done, summary.failed) == (3, 0)
    assert queue.depth().outstanding == 0
    assert "   3/3 jobs  0 failed" in out.getvalue()
    client.close()
