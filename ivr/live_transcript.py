"""Live transcript for the agent (实时转写): while a caller talks to an agent, the
caller's words are decoded from MixMonitor's caller-leg file as it grows and pushed on
Redis (``<namespace>:transcripts``, ``RedisKeys.transcripts``); the /api/live web socket
forwards them.

Speech helps the agent, it never replaces the agent (R-ELDERLY): when the CPU budget for live
streams is used up, the agent's socket is told the transcript will come after the call (batch).

Only the small interface of :mod:`speech.interface` is imported here: the recogniser behind it
is loaded by the speech processes, never by a core that runs with speech off.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import redis.asyncio as aioredis

from hotline_core.recording_names import confined
from hotline_core.redis_keys import DEFAULT_NAMESPACE, RedisKeys
from speech.interface import BatchFallback, LiveTranscriberPort, follow_growing_wav

log = logging.getLogger(__name__)


def caller_leg(recording: str) -> str:
    """``20261122/123.4.wav`` → ``20261122/123.4-in.wav`` (MixMonitor's r() file)."""
    return recording.removesuffix(".wav") + "-in.wav"


@dataclass
class _Live:
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None


class LiveTranscripts:
    def __init__(self, transcriber: LiveTranscriberPort, redis: aioredis.Redis,
                 recordings_dir: Path, namespace: str = DEFAULT_NAMESPACE) -> None:
        self._transcriber = transcriber
        self._redis = redis
        self._channel = RedisKeys(namespace).transcripts
        self._dir = recordings_dir
        self._calls: dict[str, _Live] = {}

    def answered(self, call_id: str, agent_id: str, recording: str | None) -> None:
        if not recording or call_id in self._calls:
            return
        try:
            path = confined(self._dir, caller_leg(recording))
        except ValueError as exc:
            log.warning("call %s: %s; no live transcript", call_id, exc)
            return
        live = self._calls[call_id] = _Live()
        live.task = asyncio.create_task(self._run(call_id, agent_id, path, live.ended))

    def ended(self, call_id: str) -> None:
        live = self._calls.pop(call_id, None)
        if live is not None:
            live.ended.set()

    async def _run(self, call_id: str, agent_id: str, path: Path,
                   ended: asyncio.Event) -> None:
        try:
            stream = await self._transcriber.open(call_id, "caller")
            if isinstance(stream, BatchFallback):
                await self._push({"call_id": call_id, "agent_id": agent_id, "live": False,
                                  "reason": stream.reason})
                return
            await self._push({"call_id": call_id, "agent_id": agent_id, "live": True,
                              "started": True, "text": "", "final": False})
            try:
                async for chunk in follow_growing_wav(path, ended):
                    update = await stream.feed(chunk)
                    if update.final or update.text:
                        await self._push({"call_id": call_id, "agent_id": agent_id,
                                          "live": True, "text": update.text,
                                          "final": update.final})
            finally:
                last = await stream.close()
                await self._push({"call_id": call_id, "agent_id": agent_id, "live": True,
                                  "text": last.text, "final": True, "closed": True})
        except Exception:
            log.exception("live transcript of call %s stopped", call_id)

    async def _push(self, message: dict[str, object]) -> None:
        await self._redis.publish(self._channel, json.dumps(message, ensure_ascii=False))
