"""Hand finished recordings to the speech workers (转写): one job per recording.

The job is queued once Asterisk has closed the WAV file: MixMonitor finishes writing a
moment after the hang-up, and its RIFF header carries the final length only then.
"""

from __future__ import annotations

import asyncio
import logging
import struct
from pathlib import Path

import redis.asyncio as aioredis

from hotline_core.call_records import CallRecord
from hotline_core.recording_names import confined
from hotline_core.redis_keys import DEFAULT_NAMESPACE, RedisKeys
from speech.jobs import enqueue_transcription

log = logging.getLogger(__name__)


def wav_complete(path: Path) -> bool:
    """True when the RIFF size in the header matches the file (the writer has closed it)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(8)
        size = path.stat().st_size
    except FileNotFoundError:
        return False
    return len(head) == 8 and head[:4] == b"RIFF" and struct.unpack("<I", head[4:])[0] + 8 == size


class TranscriptionTrigger:
    def __init__(self, redis: aioredis.Redis, recordings_dir: Path,
                 settle_seconds: float = 30.0, namespace: str = DEFAULT_NAMESPACE) -> None:
        self._redis = redis
        self._keys = RedisKeys(namespace).speech
        self._dir = recordings_dir
        self._settle = settle_seconds
        self._tasks: set[asyncio.Task[None]] = set()

    def call_ended(self, record: CallRecord) -> None:
        for leg, name in (("mixed", record.recording), ("voicemail", record.message)):
            if name:
                try:
                    path = confined(self._dir, name)
                except ValueError as exc:
                    log.warning("call %s: %s; not transcribed", record.id, exc)
                    continue
                task = asyncio.create_task(self._queue(record.id, leg, path))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def _queue(self, call_id: str, leg: str, path: Path) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._settle
        # No event tells when the recorder closed the file; check its header until it does.
        while not await asyncio.to_thread(wav_complete, path):
            if loop.time() > deadline:
                log.warning("recording %s not complete after %.0f s; queued anyway", path,
                            self._settle)
                break
            await asyncio.sleep(0.2)
        try:
            await enqueue_transcription(self._redis, call_id, leg, str(path), self._keys)
        except Exception:
            log.exception("could not queue transcription of %s", path)
