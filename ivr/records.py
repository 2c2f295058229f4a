"""The call log for async code: one writer thread, operations in arrival order, batched.

SQLAlchemy is synchronous. Sending every write to a thread pool made the event loop wait
for the GIL and each call pay a commit of its own (measured in bench/agi_asterisk.py). Here
writes are queued without waiting — the flow goes on at once — and a single thread applies
whatever has queued up in one transaction. Reads go through the same queue, so a read sees
every write queued before it. Each queued item names the call it touches, so the batch loads
all its records in one statement and writes them in one flush at the commit
(:meth:`hotline_core.call_records.CallLog.run_batch`). A commit costs the thread more
than the operations in it, so after a lone write the writer lets others gather for up to
:data:`LINGER` (0.1 s) before it commits — a write reaches the database that much later; a
read, or :meth:`AsyncCallLog.close`, ends the wait at once.

No write is dropped because the database is busy or away (SQLite locked by another
process, PostgreSQL restarting): the writer keeps the batch and retries it with growing
pauses (:class:`hotline_core.backoff.Backoff`, the outage logged once) until it is written;
everything queued meanwhile waits behind it, in order. :meth:`AsyncCallLog.close` drains the
queue before it returns (the core's shutdown calls it); only what is still unwritten when
its deadline passes is lost, and that is logged with the count.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from hotline_core.backoff import Backoff, is_transient
from hotline_core.call_records import CallLog, CallRecord, Disposition
from hotline_core.timeouts import within

log = logging.getLogger(__name__)

# (operation, the call id it touches, a read's future, the loop of that future)
_Item = tuple[Callable[[], Any], str, asyncio.Future[Any] | None, asyncio.AbstractEventLoop]


# How long the writer lets writes gather before a commit (reads and close() do not wait).
LINGER = 0.1


def now() -> datetime:
    return datetime.now(UTC)


class AsyncCallLog:
    def __init__(self, call_log: CallLog, max_batch: int = 200, first_retry: float = 0.2,
                 max_retry: float = 5.0, linger: float = LINGER) -> None:
        self.sync = call_log
        self._max_batch = max_batch
        self._linger = linger
        self._wake = threading.Event()           # a read or close() cuts the linger short
        self._reads_lock = threading.Lock()
        self._reads_queued = 0                   # reads put but not yet taken by the writer
        self._queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._backoff = Backoff(log, "call log writes", first=first_retry, cap=max_retry)
        self._closing = threading.Event()
        self._deadline: float | None = None    # monotonic; set by close()
        self.unwritten = 0                      # writes given up at close (database away)
        self._thread = threading.Thread(target=self._run, name="call-log-writer", daemon=True)
        self._thread.start()

    # -- writes: queued, not awaited ----------------------------------------------------------
    def _write(self, call_id: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        self._queue.put((lambda: fn(call_id, *args, **kwargs), call_id, None,
                         asyncio.get_running_loop()))

    async def offered(self, call_id: str, **kwargs: Any) -> None:
        self._write(call_id, self.sync.offered, at=now(), **kwargs)

    async def answered(self, call_id: str, agent_id: str) -> None:
        self._write(call_id, self.sync.answered, agent_id, now())

    async def ended(self, call_id: str, cause: int | None) -> None:
        self._write(call_id, self.sync.ended, now(), cause)

    async def closed(self, call_id: str, disposition: Disposition, reason: str) -> None:
        self._write(call_id, self.sync.closed, disposition, reason, now())

    async def voice_message(self, call_id: str, message: str) -> None:
        self._write(call_id, self.sync.voice_message, message)

    async def callback_requested(self, call_id: str) -> None:
        self._write(call_id, self.sync.callback_requested)

    async def callback_connected(self, call_id: str, agent_id: str) -> None:
        self._write(call_id, self.sync.callback_connected, agent_id, now())

    # -- reads: awaited, after everything queued before them ----------------------------------
    async def get(self, call_id: str) -> CallRecord | None:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        with self._reads_lock:
            self._reads_queued += 1
        self._queue.put((lambda: self.sync.get(call_id), call_id, future, loop))
        self._wake.set()
        result = await within(future, 30)
        if isinstance(result, Exception):
            raise result
        return result  # type: ignore[no-any-return]

    @property
    def failed_tries(self) -> int:
        """Failed tries of the current outage (0 while the database answers)."""
        return self._backoff.failures

    def close(self, timeout: float = 10.0) -> None:
        """Write everything queued so far, retrying for up to ``timeout`` seconds while the
        database is away, then stop the writer."""
        self._deadline = time.monotonic() + timeout
        self._queue.put(None)
        self._closing.set()
        self._wake.set()
        self._thread.join(timeout + 5)

    # -- the writer thread ---------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            self._gather(first)
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
            if not self._apply(batch):
                return

    def _gather(self, first: _Item) -> None:
        """After a lone write, let the writes of other calls queue up for ``linger`` seconds
        (without it, batches at 150 calls/s held about 2 operations, each batch paying a
        commit: bench/call_log_batch.py). A queued read or close() does not wait."""
        if self._linger <= 0 or first[2] is not None or self._closing.is_set():
            return
        self._wake.clear()
        with self._reads_lock:
            reads = self._reads_queued
        if reads == 0 and self._queue.qsize() < self._max_batch - 1:
            self._wake.wait(self._linger)

    def _apply(self, batch: list[_Item]) -> bool:
        """Write ``batch``; False when the writer gave up (closing, database away)."""
        reads = sum(1 for item in batch if item[2] is not None)
        if reads:
            with self._reads_lock:
                self._reads_queued -= reads
        while True:
            try:
                results = self.sync.run_batch([fn for fn, _, _, _ in batch],
                                               ids=[call_id for _, call_id, _, _ in batch])
                break
            except Exception as exc:
                if not is_transient(exc):   # not expected: run_batch reports errors per op
                    log.exception("call log batch failed")
                    results = [exc] * len(batch)
                    break
                delay = self._backoff.failed(exc)
                if self._deadline is not None and time.monotonic() + delay > self._deadline:
                    self._give_up(batch, exc)
                    return False
                if self._closing.is_set():
                    time.sleep(delay)
                else:
                    self._closing.wait(delay)   # close() wakes it to apply its deadline
        self._backoff.succeeded()
        for (_, _, future, loop), result in zip(batch, results, strict=True):
            if future is not None:
                loop.call_soon_threadsafe(_settle, future, result)
            elif isinstance(result, Exception):
                log.error("call log write refused: %s", result)
        return True

    def _give_up(self, batch: list[_Item], exc: Exception) -> None:
        """Only at close, with the database still away: count and log what is lost."""
        lost = len(batch)
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is not None:
                batch.append(item)
                lost += 1
        self.unwritten += lost
        log.error("stopping with %d call log operation(s) unwritten: the database is still "
                  "unreachable (%s)", lost, exc.__class__.__name__)
        for _, _, future, loop in batch:
            if future is not None and not loop.is_closed():
                loop.call_soon_threadsafe(_settle, future, exc)


def _settle(future: asyncio.Future[Any], result: Any) -> None:
    if not future.done():
        future.set_result(result)
