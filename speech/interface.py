"""What the core process sees of live speech (实时转写): a small interface, no recogniser.

``ivr/live_transcript.py`` drives a :class:`LiveTranscriberPort` and reads audio with
:func:`follow_growing_wav`; the implementation (``speech.live.LiveTranscriber``, which
starts Vosk host processes) is imported by ``stack/core.py`` only when speech is on. This
module imports nothing heavier than :mod:`speech.engine`'s data types, so a core with speech
off never loads Vosk (``tests/speech/test_lazy_import.py`` holds it to that).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from hotline_core.timeouts import within
from speech.engine import StreamUpdate

WAV_HEADER_BYTES = 44  # Asterisk's wav format writes the canonical 44-byte header


@dataclass(frozen=True)
class BatchFallback:
    """No live slot: the leg will be transcribed in batch after the call."""

    call_id: str
    leg: str
    reason: str


class LiveStreamPort(Protocol):
    """One call leg being decoded: feed it PCM, close it at hang-up."""

    async def feed(self, pcm: bytes) -> StreamUpdate: ...

    async def close(self) -> StreamUpdate: ...


class LiveTranscriberPort(Protocol):
    """Hands out live streams within the CPU budget, or a :class:`BatchFallback` beyond it."""

    async def open(self, call_id: str, leg: str, sample_rate: int = 8000,
                   phrases: Sequence[str] | None = None) -> LiveStreamPort | BatchFallback: ...


async def follow_growing_wav(path: Path, call_ended: asyncio.Event, chunk_bytes: int = 3200,
                             poll_seconds: float = 0.2) -> AsyncIterator[bytes]:
    """PCM appended to a WAV that Asterisk is still writing, until the call has ended.

    A growing file gives no event to wait on, so this polls every ``poll_seconds``
    (each read is small and done off the loop). Reads end at EOF once ``call_ended``.
    """
    offset = WAV_HEADER_BYTES
    while True:
        ended = call_ended.is_set()  # read after this check: nothing written before is lost
        data = await asyncio.to_thread(_read_from, path, offset, chunk_bytes * 16)
        usable = len(data) - len(data) % 2  # a half-written sample waits for its other byte
        if usable:
            offset += usable
            for i in range(0, usable, chunk_bytes):
                yield data[i : i + min(chunk_bytes, usable - i)]
            continue
        if ended:
            return
        try:
            await within(call_ended.wait(), poll_seconds)
        except TimeoutError:
            pass


def _read_from(path: Path, offset: int, size: int) -> bytes:
    try:
        with path.open("rb") as f:
            f.seek(offset)
            return f.read(size)
    except FileNotFoundError:
        return b""  # MixMonitor has not created it yet
