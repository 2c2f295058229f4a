"""The transcription job queue in Redis: at-least-once, retried, failed jobs kept.

Keys (prefix ``<namespace>:speech``, named in ``hotline_core/redis_keys.py``):

- ``:queue`` list of job ids — producers LPUSH, workers BLMOVE from the right;
- ``:processing:<worker>`` the jobs a worker holds (BLMOVE puts them there atomically);
- ``:alive:<worker>`` the worker's lease (PX ``lease_seconds``), renewed by a heartbeat
  thread; ``:workers`` the set of workers that may hold jobs;
- ``:job:<id>`` hash: call_id, leg, path, attempts, status, error, worker;
- ``:delayed`` zset of jobs waiting to be retried (score = due time, ms);
- ``:failed`` list of jobs given up on; ``:events`` pub/sub of job progress (JSON).

A worker killed mid-job (SIGKILL, OOM, power) stops renewing its lease; any other
worker's reaper (run before each claim) then moves that worker's processing list back to
the queue. Because a worker's lease exists *before* it can take a job, a job is never in
a processing list without a lease to watch over it. A job runs more than once only when
a worker dies or stalls longer than the lease; storing a transcript is idempotent.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import asdict, dataclass
from typing import Any

import redis
import redis.asyncio as aioredis

from hotline_core.redis_keys import SpeechJobKeys

QUEUED, RUNNING, RETRY, DONE, FAILED = "queued", "running", "retry", "done", "failed"
DONE_JOB_TTL_SECONDS = 24 * 3600

_REAP = """
local moved = 0
for _, w in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if redis.call('EXISTS', ARGV[1] .. ':alive:' .. w) == 0 then
    local held = ARGV[1] .. ':processing:' .. w
    while redis.call('LMOVE', held, KEYS[2], 'RIGHT', 'RIGHT') do moved = moved + 1 end
    redis.call('SREM', KEYS[1], w)
  end
end
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', ARGV[2])) do
  redis.call('ZREM', KEYS[3], id)
  redis.call('LPUSH', KEYS[2], id)
end
return moved
"""


@dataclass(frozen=True)
class TranscriptionJob:
    job_id: str
    call_id: str
    leg: str  # "caller", "agent", "mixed", "voicemail" ...
    path: str  # WAV written by Asterisk (MixMonitor leg file, Record(), VoiceMail)
    attempts: int = 0  # including the current one once claimed
    last_error: str = ""
    claimed_at: float = 0.0  # time.monotonic() in the claiming process


@dataclass(frozen=True)
class JobEvent:
    event: str  # claimed | done | retry | failed
    job_id: str
    call_id: str
    leg: str
    worker: str
    attempts: int
    audio_seconds: float = 0.0
    error: str = ""
    decode_seconds: float = 0.0  # time in the recogniser
    busy_seconds: float = 0.0  # time from claim to acknowledgement (decode + overhead)

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)

    @classmethod
    def from_json(cls, raw: str | bytes) -> JobEvent:
        return cls(**json.loads(raw))


def _new_job_fields(call_id: str, leg: str, path: str) -> dict[Any, Any]:
    return {"call_id": call_id, "leg": leg, "path": path, "attempts": 0, "status": QUEUED,
            "error": "", "worker": ""}


async def enqueue_transcription(
    client: aioredis.Redis, call_id: str, leg: str, path: str,
    keys: SpeechJobKeys, limit_seconds: float = 5.0,
) -> str:
    """Queue one recording for transcription from async code (recording-finished event)."""
    import asyncio

    job_id = uuid.uuid4().hex
    async with asyncio.timeout(limit_seconds):
        async with client.pipeline(transaction=True) as pipe:
            pipe.hset(keys.job(job_id), mapping=_new_job_fields(call_id, leg, path))
            pipe.lpush(keys.queue, job_id)
            await pipe.execute()
    return job_id


@dataclass(frozen=True)
class QueueDepth:
    queued: int
    delayed: int
    processing: int
    failed: int

    @property
    def outstanding(self) -> int:
        return self.queued + self.delayed + self.processing


class JobQueue:
    """Synchronous side of the queue, used inside worker processes and by the CLI."""

    def __init__(
        self, client: redis.Redis, keys: SpeechJobKeys, lease_seconds: float = 30.0,
        retry_delay_seconds: float = 10.0,
    ) -> None:
        self.client = client
        self.keys = keys
        self.lease_ms = max(1, int(lease_seconds * 1000))
        self.retry_delay_ms = int(retry_delay_seconds * 1000)
        self._reap = client.register_script(_REAP)

    def enqueue(self, call_id: str, leg: str, path: str) -> str:
        job_id = uuid.uuid4().hex
        with self.client.pipeline(transaction=True) as pipe:
            pipe.hset(self.keys.job(job_id), mapping=_new_job_fields(call_id, leg, path))
            pipe.lpush(self.keys.queue, job_id)
            pipe.execute()
        return job_id

    # -- worker lease -------------------------------------------------------------------
    def heartbeat(self, worker: str) -> None:
        """Take or renew the lease; the lease exists before the worker is listed."""
        with self.client.pipeline(transaction=True) as pipe:
            pipe.set(self.keys.alive(worker), str(time.time()), px=self.lease_ms)
            pipe.sadd(self.keys.workers, worker)
            pipe.execute()

    def leave(self, worker: str) -> None:
        """Orderly exit: give back anything still held, drop the lease."""
        held = self.keys.processing(worker)
        while self.client.lmove(held, self.keys.queue, "RIGHT", "RIGHT") is not None:
            pass
        with self.client.pipeline(transaction=True) as pipe:
            pipe.srem(self.keys.workers, worker)
            pipe.delete(self.keys.alive(worker))
            pipe.execute()

    def reap(self) -> int:
        """Requeue jobs of workers whose lease expired and retries that are due."""
        keys = [self.keys.workers, self.keys.queue, self.keys.delayed]
        return int(self._reap(keys=keys, args=[self.keys.prefix, int(time.time() * 1000)]))

    # -- job life -----------------------------------------------------------------------
    def claim(self, worker: str, block_seconds: float) -> TranscriptionJob | None:
        self.reap()
        job_id = self.client.blmove(
            self.keys.queue, self.keys.processing(worker),
            block_seconds,  # type: ignore[arg-type]  # Redis takes a fractional timeout
            "RIGHT", "LEFT",
        )
        if job_id is None:
            return None
        claimed_at = time.monotonic()  # busy time counts from here; the wait does not
        job_id = str(job_id)
        fields = {str(k): str(v) for k, v in self.client.hgetall(self.keys.job(job_id)).items()}
        if not fields or fields.get("status") in (DONE, FAILED):  # stale duplicate
            self.client.lrem(self.keys.processing(worker), 1, job_id)
            return None
        with self.client.pipeline(transaction=True) as pipe:
            pipe.hincrby(self.keys.job(job_id), "attempts", 1)
            pipe.hset(self.keys.job(job_id), mapping={"status": RUNNING, "worker": worker})
            attempts = int(pipe.execute()[0])
        job = TranscriptionJob(job_id, fields["call_id"], fields["leg"], fields["path"],
                               attempts, fields.get("error", ""), claimed_at)
        self._event("claimed", job, worker)
        return job

    def complete(self, worker: str, job: TranscriptionJob, audio_seconds: float,
                 decode_seconds: float = 0.0, claimed_at: float | None = None) -> None:
        with self.client.pipeline(transaction=True) as pipe:
            pipe.hset(self.keys.job(job.job_id), mapping={"status": DONE, "error": ""})
            pipe.expire(self.keys.job(job.job_id), DONE_JOB_TTL_SECONDS)
            pipe.lrem(self.keys.processing(worker), 1, job.job_id)
            pipe.execute()
        busy = time.monotonic() - claimed_at if claimed_at is not None else 0.0
        self._event("done", job, worker, audio_seconds=audio_seconds,
                    decode_seconds=decode_seconds, busy_seconds=busy)

    def retry(self, worker: str, job: TranscriptionJob, reason: str) -> None:
        due = int(time.time() * 1000) + self.retry_delay_ms
        with self.client.pipeline(transaction=True) as pipe:
            pipe.hset(self.keys.job(job.job_id), mapping={"status": RETRY, "error": reason})
            if self.retry_delay_ms:
                pipe.zadd(self.keys.delayed, {job.job_id: due})
            else:
                pipe.lpush(self.keys.queue, job.job_id)
            pipe.lrem(self.keys.processing(worker), 1, job.job_id)
            pipe.execute()
        self._event("retry", job, worker, error=reason)

    def fail(self, worker: str, job: TranscriptionJob, reason: str) -> None:
        with self.client.pipeline(transaction=True) as pipe:
            pipe.hset(self.keys.job(job.job_id), mapping={"status": FAILED, "error": reason})
            pipe.rpush(self.keys.failed, job.job_id)
            pipe.lrem(self.keys.processing(worker), 1, job.job_id)
            pipe.execute()
        self._event("failed", job, worker, error=reason)

    def status(self, job_id: str) -> dict[str, str]:
        return {str(k): str(v) for k, v in self.client.hgetall(self.keys.job(job_id)).items()}

    def depth(self) -> QueueDepth:
        workers = [str(w) for w in self.client.smembers(self.keys.workers)]
        with self.client.pipeline(transaction=False) as pipe:
            pipe.llen(self.keys.queue)
            pipe.zcard(self.keys.delayed)
            pipe.llen(self.keys.failed)
            for w in workers:
                pipe.llen(self.keys.processing(w))
            counts = [int(c) for c in pipe.execute()]
        return QueueDepth(counts[0], counts[1], sum(counts[3:]), counts[2])

    def _event(self, event: str, job: TranscriptionJob, worker: str, *,
               audio_seconds: float = 0.0, error: str = "", decode_seconds: float = 0.0,
               busy_seconds: float = 0.0) -> None:
        payload = JobEvent(event, job.job_id, job.call_id, job.leg, worker, job.attempts,
                           audio_seconds, error, decode_seconds, busy_seconds)
        self.client.publish(self.keys.events, payload.to_json())
