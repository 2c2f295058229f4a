"""Retrying a lost dependency (退避重试): growing pauses, one log line per outage, and which
database errors are worth a retry (:func:`is_transient`).

Every loop that talks to Redis, the database or Asterisk uses a :class:`Backoff`: after a
failure it waits ``first`` seconds, then twice as long each time up to ``cap``; the first
failure of an outage is logged (with the traceback when the error was not an expected one),
later ones are only counted, and the recovery is logged once with that count. A dead
dependency therefore costs two log lines, not one per try.
"""

from __future__ import annotations

import logging
import time

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError


class Backoff:
    def __init__(self, log: logging.Logger, what: str, first: float = 0.5,
                 cap: float = 30.0, factor: float = 2.0) -> None:
        self._log = log
        self.what = what
        self.first = first
        self.cap = cap
        self.factor = factor
        self.failures = 0          # consecutive failures of the current outage
        self._since = 0.0

    @property
    def failing(self) -> bool:
        return self.failures > 0

    def failed(self, exc: BaseException, expected: bool = True) -> float:
        """Count a failure; returns how long to wait before the next try."""
        if self.failures == 0:
            self._since = time.monotonic()
            if expected:
                self._log.warning("%s: dependency lost (%s: %s); retrying with backoff, "
                                  "logged again when it is back", self.what,
                                  exc.__class__.__name__, _first_line(exc))
            else:
                self._log.error("%s failed; retrying with backoff, logged again when it "
                                "works", self.what, exc_info=exc)
        self.failures += 1
        return min(self.cap, self.first * self.factor ** (self.failures - 1))

    def succeeded(self) -> None:
        if self.failures:
            self._log.warning("%s: back after %d failed tries (%.1f s)", self.what,
                              self.failures, time.monotonic() - self._since)
        self.failures = 0


def is_transient(exc: BaseException) -> bool:
    """A database error that goes away by itself (server restarting, SQLite file locked,
    connection dropped): the write is retried, not dropped."""
    if isinstance(exc, OperationalError | InterfaceError):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


def _first_line(exc: BaseException) -> str:
    text = str(exc)
    return text.splitlines()[0][:200] if text else ""
