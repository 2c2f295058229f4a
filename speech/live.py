"""Live transcript: decode a call leg while it is happening, within a CPU budget.

Mechanism (``ivr/live_transcript.py`` drives it; ``/api/live`` forwards the text):

1. When an agent answers, the core asks :meth:`LiveTranscriber.open` for the caller leg
   (``call_id``, ``leg``). Within ``speech.max_live_streams`` it gets a
   :class:`LiveStream`; beyond it a :class:`BatchFallback` saying so (the recording is
   transcribed by the batch workers after the call; the agent's socket is told
   "transcript after the call"). Each live stream costs about ``RTF`` of a core (≈0.3 with the small
   models, see docs/benchmarks.md); the budget keeps Asterisk and the core responsive.
2. Audio comes from MixMonitor's per-leg file growing on disk (``MixMonitor(...,r(in.wav)
   t(out.wav))``): :func:`speech.interface.follow_growing_wav` reads what was appended and
   feeds it; EAGI (fd 3) or an AudioSocket could feed the same :meth:`LiveStream.feed` instead.
3. Each feed returns a :class:`speech.engine.StreamUpdate`: partial text to show greyed,
   then final utterances with word timings. Finals go through :class:`KeywordWatch`;
   alerts and hints are published on ``<namespace>:alerts`` for the agent to accept.
4. :meth:`LiveStream.close` at hang-up returns the last utterance and frees the slot.

Decoding happens in dedicated host processes (one model each, several streams per
process); each host is a one-process executor, so a stream's calls stay in order on the
process that holds its recogniser, and the event loop only awaits.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from typing import Any

import redis.asyncio as aioredis

from hotline_core.redis_keys import RedisKeys
from hotline_core.timeouts import within
from speech.alerts import publish_alerts_async
from speech.engine import RecognizerStream, StreamUpdate
from speech.interface import BatchFallback
from speech.keywords import CategoryHint, KeywordAlert, KeywordLists, KeywordWatch
from speech.settings import SpeechSettings

# -- inside a host process ------------------------------------------------------------
_streams: dict[str, RecognizerStream] = {}


# The recogniser (Vosk) is imported here, in the host process, never in the core's.
def _host_warm(settings: SpeechSettings) -> None:
    from speech import runtime

    runtime.ensure(settings)


def _host_open(settings: SpeechSettings, stream_id: str, sample_rate: int,
               phrases: Sequence[str] | None) -> None:
    from speech import runtime

    _streams[stream_id] = runtime.ensure(settings).open_stream(sample_rate, phrases)


def _host_feed(stream_id: str, pcm: bytes) -> StreamUpdate:
    return _streams[stream_id].feed(pcm)


def _host_close(stream_id: str) -> StreamUpdate:
    return _streams.pop(stream_id).finish()


# -- in the async service -------------------------------------------------------------
@dataclass
class LiveStream:
    call_id: str
    leg: str
    stream_id: str
    _host: ProcessPoolExecutor
    _service: LiveTranscriber
    _watch: KeywordWatch
    alerts: list[KeywordAlert] = field(default_factory=list)
    hints: list[CategoryHint] = field(default_factory=list)
    closed: bool = False

    async def feed(self, pcm: bytes) -> StreamUpdate:
        update: StreamUpdate = await self._service._call(
            self._host, _host_feed, self.stream_id, pcm
        )
        if update.final:
            await self._spot(update)
        return update

    async def close(self) -> StreamUpdate:
        if self.closed:
            return StreamUpdate("", True)
        self.closed = True
        try:
            update: StreamUpdate = await self._service._call(
                self._host, _host_close, self.stream_id
            )
            await self._spot(update)
            return update
        finally:
            self._service._release(self)

    async def _spot(self, update: StreamUpdate) -> None:
        alerts, hints = self._watch.feed(update.words)
        self.alerts.extend(alerts)
        self.hints.extend(hints)
        if (alerts or hints) and self._service.redis is not None:
            await publish_alerts_async(self._service.redis, [*alerts, *hints],
                                       RedisKeys(self._service.settings.namespace).alerts)


class LiveTranscriber:
    def __init__(self, settings: SpeechSettings, keywords: KeywordLists | None = None,
                 redis: aioredis.Redis | None = None, hosts: int = 1,
                 call_seconds: float = 10.0) -> None:
        self.settings = settings
        self.keywords = keywords or KeywordLists()
        self.redis = redis
        self.call_seconds = call_seconds
        ctx = get_context("spawn")
        self._hosts = [ProcessPoolExecutor(1, mp_context=ctx) for _ in range(max(1, hosts))]
        self._load: dict[int, int] = {i: 0 for i in range(len(self._hosts))}
        self._open: dict[str, LiveStream] = {}
        self._ids = itertools.count(1)

    @property
    def in_use(self) -> int:
        return len(self._open)

    async def start(self, start_seconds: float = 120.0) -> None:
        """Load the model in every host process (raises SpeechSetupError if it cannot)."""
        loop = asyncio.get_running_loop()
        warm = [loop.run_in_executor(h, _host_warm, self.settings) for h in self._hosts]
        await within(asyncio.gather(*warm), start_seconds)

    async def open(self, call_id: str, leg: str, sample_rate: int = 8000,
                   phrases: Sequence[str] | None = None) -> LiveStream | BatchFallback:
        limit = self.settings.max_live_streams
        if self.in_use >= limit:
            return BatchFallback(call_id, leg,
                                 f"live budget full ({self.in_use}/{limit} streams): batch")
        index = min(self._load, key=lambda i: self._load[i])
        stream_id = f"{call_id}/{leg}/{next(self._ids)}"
        stream = LiveStream(call_id, leg, stream_id, self._hosts[index], self,
                            KeywordWatch(self.keywords, call_id, leg))
        self._load[index] += 1
        self._open[stream_id] = stream  # the slot is taken before the first await
        try:
            await self._call(self._hosts[index], _host_open, self.settings, stream_id,
                             sample_rate, phrases)
        except BaseException:
            self._release(stream)
            raise
        return stream

    async def _call(self, host: ProcessPoolExecutor, fn: Callable[..., Any],
                    *args: object) -> Any:
        loop = asyncio.get_running_loop()
        job = loop.run_in_executor(host, fn, *args)
        return await within(job, self.call_seconds)

    def _release(self, stream: LiveStream) -> None:
        if self._open.pop(stream.stream_id, None) is not None:
            index = self._hosts.index(stream._host)
            self._load[index] -= 1

    def close(self) -> None:
        for host in self._hosts:
            host.shutdown(wait=True, cancel_futures=True)

