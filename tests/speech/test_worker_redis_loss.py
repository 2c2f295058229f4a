"""A speech worker whose Redis dies waits for it (issue 9, item 9).

On the starting main (4b97079) ``TranscriptionWorker.run`` let the RedisError of ``claim``
end the worker process (a traceback on stderr); the pool replaced it on its next check, the
new process loaded the model again and died the same way — a traceback and a model load per
worker every few seconds for as long as Redis was away. Here a real redis-server is stopped
under a worker running in a thread: after six failed claims the worker is still running and
has logged the outage once; the same server started again, the worker claims again.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import pytest

from speech.settings import SpeechSettings
from speech.worker import TranscriptionWorker
from testkit.redis_server import free_port, redis_server


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def _until(condition: object, what: str, limit: float = 60.0) -> None:
    deadline = time.monotonic() + limit
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"never: {what}"
        time.sleep(0.02)


@pytest.mark.timeout(120)
def test_worker_survives_redis_going_away(tmp_path: Path) -> None:
    port = free_port()
    server = redis_server(port)
    url = server.__enter__()
    settings = SpeechSettings(model_dir=tmp_path, redis_url=url, poll_seconds=0.1,
                              database_url=f"sqlite:///{tmp_path / 'h.db'}",
                              keywords_file=None, work_dir=tmp_path)
    # No job is queued, so the recogniser is never used.
    worker = TranscriptionWorker(settings, "w1", recognizer=object())  # type: ignore[arg-type]
    worker.redis_retry = (0.02, 0.2)
    claims = {"n": 0}
    real_claim = worker.queue.claim

    def counted(*args: object) -> object:
        claims["n"] += 1
        return real_claim(*args)  # type: ignore[arg-type]

    worker.queue.claim = counted  # type: ignore[method-assign,assignment]
    records = _Records()
    logging.getLogger("speech.worker").addHandler(records)
    thread = threading.Thread(target=worker.run)
    thread.start()
    try:
        _until(lambda: claims["n"] >= 2, "the worker claims")
        server.__exit__(None, None, None)                  # redis-server is gone
        before = claims["n"]
        _until(lambda: claims["n"] >= before + 6, "six claims without Redis")
        assert thread.is_alive()
        lost = [r for r in records.records if r.levelno >= logging.WARNING]
        assert len(lost) == 1, [r.getMessage() for r in lost]
        server = redis_server(port)                        # the same server comes back
        server.__enter__()
        _until(lambda: any("back after" in r.getMessage() for r in records.records),
               "the worker claims again")
        assert thread.is_alive()
    finally:
        worker.stopping.set()
        thread.join(30)
        logging.getLogger("speech.worker").removeHandler(records)
        server.__exit__(None, None, None)
    assert not thread.is_alive()
