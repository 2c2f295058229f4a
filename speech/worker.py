"""Batch transcription workers: one process per CPU, one model per process.

Each worker process loads the model once (:mod:`speech.runtime`), takes jobs from the
Redis queue (:mod:`speech.jobs`), transcribes the WAV, stores the
:class:`hotline_core.transcripts.Transcript`, publishes keyword alerts, then acknowledges.
Workers run at a lower CPU priority (``speech.worker_nice``) than Asterisk and the core,
so a backlog of recordings never slows call handling. A job that fails is retried after
``speech.retry_delay_seconds`` and marked failed with its reason after
``speech.max_attempts`` tries; a worker that dies mid-job loses nothing (see jobs).
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import socket
import threading
import time
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from multiprocessing.queues import Queue as MPQueue
from pathlib import Path
from typing import Any

import redis

from hotline_core.backoff import Backoff
from hotline_core.db import make_engine, make_sessionmaker
from hotline_core.redis_keys import RedisKeys
from hotline_core.transcripts import DONE, FAILED, QUEUED, save_transcript
from speech import runtime
from speech.alerts import publish_alerts
from speech.engine import Audio, AudioFormatError, Recognizer, SpeechSetupError, Transcription
from speech.jobs import JobQueue, TranscriptionJob
from speech.keywords import KeywordLists, load_keywords, spot
from speech.settings import SpeechSettings

log = logging.getLogger(__name__)


def words_json(t: Transcription) -> list[dict[str, Any]]:
    return [{"word": w.text, "start": round(w.start, 3), "end": round(w.end, 3),
             "conf": round(w.conf, 4)} for w in t.words]


class TranscriptionWorker:
    """The loop of one worker process (also usable in-process by tests and benchmarks)."""

    def __init__(self, settings: SpeechSettings, worker_id: str,
                 recognizer: Recognizer | None = None) -> None:
        self.settings = settings
        self.worker_id = worker_id
        self.recognizer = recognizer or runtime.ensure(settings)
        self.keywords = (load_keywords(settings.keywords_file)
                         if settings.keywords_file else KeywordLists())
        self.redis = redis.Redis.from_url(
            settings.redis_url, decode_responses=True,
            socket_timeout=settings.poll_seconds + 10, socket_connect_timeout=5,
        )
        self.names = RedisKeys(settings.namespace)
        self.queue = JobQueue(self.redis, self.names.speech,
                              settings.lease_seconds, settings.retry_delay_seconds)
        self.sessions = make_sessionmaker(make_engine(settings.database_url))
        self.stopping = threading.Event()
        self._joined = False     # announced to the pool (first heartbeat written)
        self.redis_retry = (0.5, 30.0)   # first pause and longest pause while Redis is away

    def run(self) -> None:
        # Redis away (killed, restarting): wait with growing pauses, the outage logged once,
        # instead of dying and being respawned (model loaded again) every few seconds.
        first, cap = self.redis_retry
        lost = Backoff(log, f"speech worker {self.worker_id} (Redis)", first=first, cap=cap)
        beat = threading.Thread(target=self._heartbeat, name="lease", daemon=True)
        beat.start()
        try:
            while not self.stopping.is_set():
                try:
                    if not self._joined:
                        self.queue.heartbeat(self.worker_id)
                        self._joined = True
                    job = self.queue.claim(self.worker_id, self.settings.poll_seconds)
                except redis.RedisError as exc:
                    self.stopping.wait(lost.failed(exc))
                    continue
                lost.succeeded()
                if job is not None:
                    self.handle(job)
        finally:
            self.stopping.set()
            with contextlib.suppress(redis.RedisError):   # Redis away: the lease lapses
                self.queue.leave(self.worker_id)

    def _heartbeat(self) -> None:
        interval = self.settings.lease_seconds / 3
        while not self.stopping.wait(interval):
            try:
                self.queue.heartbeat(self.worker_id)
            except redis.RedisError:
                pass  # the lease may lapse; at worst the job runs again elsewhere

    def handle(self, job: TranscriptionJob) -> None:
        max_attempts = self.settings.max_attempts
        if job.attempts > max_attempts:  # the previous holder died during the last try
            last = job.last_error or "the worker stopped during the job (killed or crashed)"
            self._give_up(job, f"gave up after {max_attempts} attempts; last: {last}")
            return
        try:
            audio = Audio.from_wav(Path(job.path))
            decode_started = time.monotonic()
            result = self.recognizer.transcribe(audio)
            decode_seconds = time.monotonic() - decode_started
            with self.sessions.begin() as session:
                save_transcript(session, call_id=job.call_id, leg=job.leg, audio_path=job.path,
                                status=DONE, attempts=job.attempts, text=result.text,
                                words=words_json(result), audio_seconds=result.audio_seconds)
            alerts, hints = spot(self.keywords, result.words, call_id=job.call_id,
                                 leg=job.leg, source="batch")
            publish_alerts(self.redis, [*alerts, *hints], self.names.alerts)
        except AudioFormatError as exc:  # the same file will never decode: fail now
            self._give_up(job, f"AudioFormatError: {exc}")
            return
        except Exception as exc:
            reason = f"{type(exc).__name__}: {exc}"
            if job.attempts >= max_attempts:
                self._give_up(job, f"gave up after {max_attempts} attempts; last: {reason}")
            else:
                self._record(job, QUEUED, reason)
                self.queue.retry(self.worker_id, job, reason)
            return
        self.queue.complete(self.worker_id, job, result.audio_seconds, decode_seconds,
                            job.claimed_at)

    def _give_up(self, job: TranscriptionJob, reason: str) -> None:
        self._record(job, FAILED, reason)
        self.queue.fail(self.worker_id, job, reason)

    def _record(self, job: TranscriptionJob, status: str, reason: str) -> None:
        try:
            with self.sessions.begin() as session:
                save_transcript(session, call_id=job.call_id, leg=job.leg, audio_path=job.path,
                                status=status, attempts=job.attempts, error=reason)
        except Exception:  # the database may be what fails; Redis still keeps the reason
            pass


@dataclass(frozen=True)
class WorkerReady:
    worker_id: str
    pid: int
    load_seconds: float
    error: str = ""
    setting: str = ""


def _worker_main(settings: SpeechSettings, worker_id: str, ready: MPQueue[WorkerReady]) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's business
    started = time.monotonic()
    try:
        os.nice(settings.worker_nice)
        worker = TranscriptionWorker(settings, worker_id)
    except SpeechSetupError as exc:
        ready.put(WorkerReady(worker_id, os.getpid(), 0.0, str(exc), exc.setting))
        return
    except Exception as exc:
        ready.put(WorkerReady(worker_id, os.getpid(), 0.0, f"{type(exc).__name__}: {exc}"))
        return
    signal.signal(signal.SIGTERM, lambda *_: worker.stopping.set())  # finish the job, exit
    ready.put(WorkerReady(worker_id, os.getpid(), time.monotonic() - started))
    worker.run()


class WorkerPool:
    """Starts, watches and stops the worker processes (default size: CPU count)."""

    def __init__(self, settings: SpeechSettings, size: int | None = None) -> None:
        self.settings = settings
        self.size = size or settings.workers
        self._ctx = multiprocessing.get_context("spawn")  # no inherited sockets or loops
        self._ready: MPQueue[WorkerReady] = self._ctx.Queue()
        self.processes: dict[str, BaseProcess] = {}
        self.load_seconds: dict[str, float] = {}
        self._serial = 0

    def start(self, start_seconds: float = 300.0) -> None:
        """Start ``size`` workers; return when all have loaded the model.

        Raises SpeechSetupError (naming the setting) if a worker cannot start.
        """
        self._spawn(self.size - len(self.alive()), start_seconds)

    def alive(self) -> list[str]:
        return [w for w, p in self.processes.items() if p.is_alive()]

    def supervise(self, start_seconds: float = 300.0) -> list[str]:
        """Replace dead workers (their jobs come back after the lease); returns the dead."""
        dead = [w for w, p in self.processes.items() if not p.is_alive()]
        for w in dead:
            self.processes.pop(w).join()
        if dead:
            self._spawn(len(dead), start_seconds)
        return dead

    def stop(self, stop_seconds: float = 60.0) -> None:
        """SIGTERM: each worker finishes its current job and gives back nothing unfinished."""
        for p in self.processes.values():
            if p.is_alive():
                p.terminate()
        for p in self.processes.values():
            p.join(stop_seconds)
            if p.is_alive():
                p.kill()  # its job returns to the queue when its lease lapses
                p.join()
        self.processes.clear()

    def _spawn(self, count: int, start_seconds: float) -> None:
        started = []
        for _ in range(count):
            self._serial += 1
            worker_id = f"{socket.gethostname()}-{os.getpid()}-{self._serial}"
            proc = self._ctx.Process(target=_worker_main, name=f"speech-{worker_id}",
                                     args=(self.settings, worker_id, self._ready))
            proc.start()
            self.processes[worker_id] = proc
            started.append(worker_id)
        for _ in started:
            msg = self._ready.get(timeout=start_seconds)
            if msg.error:
                self.stop()
                raise SpeechSetupError(msg.setting or "speech", msg.error.split(": ", 1)[-1]
                                       if msg.setting else msg.error)
            self.load_seconds[msg.worker_id] = msg.load_seconds


def serve(settings: SpeechSettings, stop: threading.Event | None = None,
          check_seconds: float = 5.0) -> None:
    """The speech-worker service: run the pool until SIGTERM/SIGINT (or ``stop``),
    replacing workers that die. Raises SpeechSetupError at start if settings are wrong."""
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
    pool = WorkerPool(settings)
    pool.start()
    try:
        while not stop.wait(check_seconds):
            pool.supervise()
    finally:
        pool.stop()
