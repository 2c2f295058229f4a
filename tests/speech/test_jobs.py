"""Batch transcription through Redis with real worker processes and the real Korean model."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from sqlalchemy import select

from hotline_core.db import Base, make_engine, make_sessionmaker
from hotline_core.redis_keys import RedisKeys
from hotline_core.transcripts import Transcript
from speech.engine import SpeechSetupError
from speech.jobs import JobEvent, JobQueue
from speech.settings import SpeechSettings
from speech.worker import WorkerPool
from testkit.speech_audio import concat_clips, duration_seconds, silence_clip, speech_clip

EVENT_WAIT_SECONDS = 400.0  # a bound for a loaded shared machine, not a speed claim
pytestmark = pytest.mark.timeout(900)


@pytest.fixture
def batch_settings(
    ko_settings: SpeechSettings, redis_url: str, tmp_path: Path
) -> SpeechSettings:
    db_url = f"sqlite:///{tmp_path / 'hotline.db'}"
    Base.metadata.create_all(make_engine(db_url))
    return dataclasses.replace(
        ko_settings, redis_url=redis_url, database_url=db_url, lease_seconds=1.5,
        retry_delay_seconds=0.0, poll_seconds=0.2, max_attempts=3,
        namespace=f"test{uuid.uuid4().hex[:8]}", worker_nice=0,
    )


@pytest.fixture
def queue(batch_settings: SpeechSettings) -> Iterator[JobQueue]:
    client = redis.Redis.from_url(batch_settings.redis_url, decode_responses=True,
                                  socket_timeout=10)
    yield JobQueue(client, RedisKeys(batch_settings.namespace).speech,
                   batch_settings.lease_seconds, batch_settings.retry_delay_seconds)
    client.close()


class Events:
    """Subscription to the queue's progress events, opened before anything is queued."""

    def __init__(self, queue: JobQueue) -> None:
        self.pubsub = queue.client.pubsub()
        self.pubsub.subscribe(queue.keys.events)
        self.pubsub.get_message(timeout=5)  # the subscribe confirmation

    def next_for(self, job_id: str, wanted: set[str]) -> JobEvent:
        deadline = time.monotonic() + EVENT_WAIT_SECONDS
        while time.monotonic() < deadline:
            msg = self.pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
            if msg is None:
                continue
            event = JobEvent.from_json(msg["data"])
            if event.job_id == job_id and event.event in wanted:
                return event
        raise AssertionError(f"no {wanted} event for job {job_id}")


def stored(settings: SpeechSettings, call_id: str) -> Transcript:
    with make_sessionmaker(make_engine(settings.database_url))() as s:
        return s.scalars(select(Transcript).where(Transcript.call_id == call_id)).one()


def test_queued_recording_is_transcribed_by_a_worker_process_and_stored(
    batch_settings: SpeechSettings, queue: JobQueue
) -> None:
    clip = concat_clips([speech_clip("안녕하세요"), silence_clip(0.5), speech_clip("네")])
    events = Events(queue)
    pool = WorkerPool(batch_settings, size=1)
    pool.start()
    try:
        worker_pid = next(iter(pool.processes.values())).pid
        assert worker_pid != os.getpid()
        job_id = queue.enqueue("call-1", "caller", str(clip))
        done = events.next_for(job_id, {"done", "failed"})
    finally:
        pool.stop()
    assert done.event == "done"
    assert done.audio_seconds == pytest.approx(duration_seconds(clip))
    assert 0 < done.decode_seconds <= done.busy_seconds  # busy = decode + storing + acking
    row = stored(batch_settings, "call-1")
    assert (row.leg, row.status, row.attempts, row.error) == ("caller", "done", 1, None)
    assert row.words and row.text == " ".join(w["word"] for w in row.words)
    assert all(0 <= w["start"] <= w["end"] <= duration_seconds(clip) + 0.05 for w in row.words)
    assert all(0 <= w["conf"] <= 1 for w in row.words)
    assert queue.depth().outstanding == 0
    assert queue.client.smembers(queue.keys.workers) == set()  # the worker left cleanly


def test_worker_killed_mid_job_loses_nothing(
    batch_settings: SpeechSettings, queue: JobQueue
) -> None:
    # ~40 s of speech: several seconds of decoding, so the kill lands mid-job
    long_call = concat_clips(
        [speech_clip("안녕하세요 불이 났어요 빨리 와 주세요"), silence_clip(0.5)], repeat=8
    )
    events = Events(queue)
    pool = WorkerPool(batch_settings, size=1)
    pool.start()
    try:
        job_id = queue.enqueue("call-2", "mixed", str(long_call))
        claimed = events.next_for(job_id, {"claimed"})
        victim = pool.processes[claimed.worker]
        assert victim.pid is not None
        os.kill(victim.pid, signal.SIGKILL)
        victim.join()
        mid_job = queue.status(job_id)
        assert (mid_job["status"], mid_job["attempts"]) == ("running", "1")
        assert queue.client.lrange(queue.keys.processing(claimed.worker), 0, -1) == [job_id]

        assert pool.supervise() == [claimed.worker]  # a fresh worker process replaces it
        again = events.next_for(job_id, {"claimed"})  # only once the dead lease expired
        assert again.worker != claimed.worker and again.attempts == 2
        done = events.next_for(job_id, {"done", "failed"})
    finally:
        pool.stop()
    assert done.event == "done"
    row = stored(batch_settings, "call-2")
    assert (row.status, row.attempts, row.leg) == ("done", 2, "mixed")
    assert queue.depth().outstanding == 0


def test_job_that_keeps_failing_is_marked_failed_with_the_reason(
    batch_settings: SpeechSettings, queue: JobQueue, tmp_path: Path
) -> None:
    missing = tmp_path / "never-written.wav"
    events = Events(queue)
    pool = WorkerPool(batch_settings, size=1)
    pool.start()
    try:
        job_id = queue.enqueue("call-3", "caller", str(missing))
        retries = [events.next_for(job_id, {"retry"}) for _ in range(2)]
        failed = events.next_for(job_id, {"failed"})
    finally:
        pool.stop()
    assert [r.attempts for r in retries] == [1, 2]
    assert failed.attempts == 3
    assert failed.error.startswith("gave up after 3 attempts; last: FileNotFoundError")
    assert str(missing) in failed.error
    assert queue.status(job_id)["status"] == "failed"
    assert queue.client.lrange(queue.keys.failed, 0, -1) == [job_id]
    row = stored(batch_settings, "call-3")
    assert (row.status, row.attempts) == ("failed", 3)
    assert row.error == failed.error
    assert queue.depth().outstanding == 0


def test_pool_refuses_to_start_with_a_bad_model_dir(
    batch_settings: SpeechSettings, tmp_path: Path
) -> None:
    bad = dataclasses.replace(batch_settings, model_dir=tmp_path / "nowhere")
    with pytest.raises(SpeechSetupError) as err:
        WorkerPool(bad, size=1).start()
    assert err.value.setting == "speech.model_dir"
    assert "does not exist" in str(err.value)


def test_events_are_json(queue: JobQueue) -> None:
    event = JobEvent("done", "j", "c", "caller", "w", 1, 2.5)
    assert JobEvent.from_json(event.to_json()) == event
    assert json.loads(event.to_json())["audio_seconds"] == 2.5


def test_worker_service_runs_until_stopped(
    batch_settings: SpeechSettings, queue: JobQueue
) -> None:
    import threading

    from speech.worker import serve

    settings = dataclasses.replace(batch_settings, workers=1)
    events = Events(queue)
    stop = threading.Event()
    service = threading.Thread(target=serve, args=(settings, stop, 0.2))
    service.start()
    try:
        job_id = queue.enqueue("call-5", "voicemail", str(speech_clip("네")))
        assert events.next_for(job_id, {"done", "failed"}).event == "done"
    finally:
        stop.set()
        service.join(60)
    assert not service.is_alive()
    assert queue.client.smembers(queue.keys.workers) == set()
