"""The call log for async code: one writer thread, operations in arrival order, batched.

SQLAlchemy is synchronous. Sending every write to a thread pool made the event loop wait
for the GIL and each call pay a commit of its own (measured in bench/agi_asterisk.py). Here
writes are queued without waiting — the flow goes on at once — and a single thread applies
whatever has queued up in one transaction. Reads go through the same queue, so a read sees
every write queued before it.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from hotline_core.call_records import CallLog, CallRecord, Disposition

log = logging.getLogger(__name__)

_Item = tuple[Callable[[], Any], asyncio.Future[Any] | None, asyncio.AbstractEventLoop]


def now() -> datetime:
    return datetime.now(UTC)


class AsyncCallLog:
    def __init__(self, call_log: CallLog, max_batch: int = 200) -> None:
        self.sync = call_log
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="call-log-writer", daemon=True)
        self._thread.start()

    # -- writes: queued, not awaited ----------------------------------------------------------
    def _write(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        self._queue.put((lambda: fn(*args, **kwargs), None, asyncio.get_running_loop()))

    async def offered(self, call_id: str, **kwargs: Any) -> None:
        self._write(self.sync.offered, call_id, at=now(), **kwargs)

    async def answered(self, call_id: str, agent_id: str) -> None:
        self._write(self.sync.answered, call_id, agent_id, now())

    async def ended(self, call_id: str, cause: int | None) -> None:
        self._write(self.sync.ended, call_id, now(), cause)

    async def closed(self, call_id: str, disposition: Disposition, reason: str) -> None:
        self._write(self.sync.closed, call_id, disposition, reason, now())

    async def voice_message(self, call_id: str, message: str) -> None:
        self._write(self.sync.voice_message, call_id, message)

    async def callback_requested(self, call_id: str) -> None:
        self._write(self.sync.callback_requested, call_id)

    async def callback_connected(self, call_id: str, agent_id: str) -> None:
        self._write(self.sync.callback_connected, call_id, agent_id, now())

    # -- reads: awaited, after everything queued before them ----------------------------------
    async def get(self, call_id: str) -> CallRecord | None:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._queue.put((lambda: self.sync.get(call_id), future, loop))
        result = await asyncio.wait_for(future, 30)
        if isinstance(result, Exception):
            raise result
        return result  # type: ignore[no-any-return]

    def close(self, timeout: float = 10.0) -> None:
        self._queue.put(None)
        self._thread.join(timeout)

    # -- the writer thread ---------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < self._max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    self._apply(batch)
                    return
                batch.append(item)
            self._apply(batch)

    def _apply(self, batch: list[_Item]) -> None:
        results = self.sync.run_batch([fn for fn, _, _ in batch])
        for (_, future, loop), result in zip(batch, results, strict=True):
            if future is not None:
                loop.call_soon_threadsafe(_settle, future, result)
            elif isinstance(result, Exception):
                log.error("call log write failed: %s", result)


def _settle(future: asyncio.Future[Any], result: Any) -> None:
    if not future.done():
        future.set_result(result)
