"""Starting, supervising and stopping the stack's processes: redis-server, Asterisk, the core
and the speech workers."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from stack.secret_files import private_dir
from stack.settings import REPO_ROOT, Settings
from stack.tls import client_context


class StartError(RuntimeError):
    pass


def stop_process(proc: subprocess.Popen[bytes] | subprocess.Popen[str] | None, grace: float,
                 *, group: bool = False) -> None:
    """SIGTERM, then SIGKILL if the process has not ended within ``grace`` seconds; reaps it.

    ``group=True`` signals the process group of a process started with
    ``start_new_session=True``, so no child is left holding a port or a file. The one
    implementation of stopping a process: tests and benchmarks reach it as
    ``testkit.processes.stop``.
    """
    if proc is None or proc.poll() is not None:
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            if group:
                os.killpg(proc.pid, sig)
            else:
                proc.send_signal(sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue
    # Gone already, or SIGKILL not yet reaped: wait a bounded time, never forever.
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        pass


def _wait_tcp(port: int, proc: subprocess.Popen[bytes], what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise StartError(f"{what} exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise StartError(f"{what} did not listen on 127.0.0.1:{port} within {timeout:.0f} s")


@dataclass
class Redis:
    settings: Settings
    proc: subprocess.Popen[bytes] | None = None

    @property
    def owned(self) -> bool:
        """Without a configured URL the stack starts its own redis-server on redis_port."""
        return self.settings.redis_owned

    def start(self) -> None:
        if not self.owned:
            return
        exe = shutil.which("redis-server")
        if exe is None:
            raise StartError("redis-server is not installed: run `make run`, which provisions it")
        data = private_dir(self.settings.state_dir / "redis")
        log = private_dir(self.settings.state_dir / "logs") / "redis.log"
        password = urllib.parse.urlsplit(self.settings.redis_url).password
        if not password:
            raise StartError("the stack's own Redis needs a password (see stack.settings)")
        # Loopback only, protected mode, append-only file so waiting calls survive a restart.
        # The password goes in as configuration on stdin ("-"): never on the command line,
        # where every user of the machine could read it with ps.
        self.proc = subprocess.Popen(
            [exe, "-", "--bind", "127.0.0.1", "--port", str(self.settings.redis_port),
             "--protected-mode", "yes", "--dir", str(data), "--appendonly", "yes",
             "--logfile", str(log)],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True)
        assert self.proc.stdin is not None
        with self.proc.stdin as config:
            config.write(f'requirepass "{_redis_quoted(urllib.parse.unquote(password))}"\n'
                         .encode())
        _wait_tcp(self.settings.redis_port, self.proc, "redis-server", 10)

    def alive(self) -> bool:
        """Ours and running (a Redis the stack does not own is not its to restart)."""
        return not self.owned or (self.proc is not None and self.proc.poll() is None)

    def stop(self) -> None:
        stop_process(self.proc, grace=10)


@dataclass
class Supervised:
    """One child of ``hotline up``, restarted when it exits, with growing pauses.

    ``check()`` is called from the stack's loop. When the child has exited it is started
    again at once the first time, then after ``first`` seconds doubling up to ``cap`` while
    it keeps failing (a start that raises, or a child that dies again within
    ``steady_after`` seconds of its start). Each outage is reported once when it begins and
    once when the child runs again (``report``, the stack's log), never per try.
    """

    name: str
    start: Callable[[], None]
    alive: Callable[[], bool]
    report: Callable[[str], None]
    first: float = 1.0
    cap: float = 60.0
    steady_after: float = 60.0
    clock: Callable[[], float] = time.monotonic
    failures: int = 0
    restarts: int = 0
    _next_try: float = 0.0
    _started_at: float = field(default_factory=time.monotonic)
    _down_since: float | None = None
    _failed_starts: int = 0      # of the current outage

    def check(self) -> None:
        now = self.clock()
        if self.alive():
            if self.failures and now - self._started_at >= self.steady_after:
                self.failures = 0
            return
        if self._down_since is None:
            self._down_since = now
            if now - self._started_at < self.steady_after:
                self.failures += 1       # died soon after its last start: back off
            self._next_try = now + self._pause() if self.failures else now
            self.report(f"{self.name} exited; restarting it"
                        + (f" in {self._pause():.0f} s" if self.failures else ""))
        if now < self._next_try:
            return
        try:
            self.start()
        except (RuntimeError, OSError, subprocess.SubprocessError) as exc:  # StartError too
            self.failures += 1
            self._next_try = self.clock() + self._pause()
            self._failed_starts += 1
            if self._failed_starts == 1:
                self.report(f"{self.name} did not start ({exc}); retrying with backoff")
            return
        self.restarts += 1
        self._started_at = self.clock()
        self.report(f"{self.name} running again after "
                    f"{self._started_at - self._down_since:.1f} s"
                    + (f" ({self._failed_starts} failed starts)" if self._failed_starts else ""))
        self._down_since = None
        self._failed_starts = 0

    def _pause(self) -> float:
        return min(self.cap, self.first * 2.0 ** max(0, self.failures - 1))


def core_log_name(index: int) -> str:
    """The log file of core instance ``index``: ``core.log`` for the first (as with one
    instance), ``core-<index>.log`` for the others."""
    return "core.log" if index == 0 else f"core-{index}.log"


@dataclass
class CoreProcess:
    """Core instance ``index`` of ``[core] instances`` (FastAGI on agi_port + index)."""

    settings: Settings
    proc: subprocess.Popen[bytes] | None = None
    index: int = 0

    @property
    def log_file(self) -> Path:
        return self.settings.state_dir / "logs" / core_log_name(self.index)

    def start(self) -> None:
        private_dir(self.settings.state_dir / "logs")
        with open(self.log_file, "ab") as fh:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "stack.core", "--config", str(self.settings.source),
                 "--instance", str(self.index)],
                cwd=REPO_ROOT, stdout=fh, stderr=subprocess.STDOUT, env=dict(os.environ),
                start_new_session=True)
        self.wait_healthy(60)

    def wait_healthy(self, timeout: float) -> None:
        """This instance serves FastAGI (its own port) and the shared HTTP API is healthy
        (with several instances, whichever answers: they share the port)."""
        deadline = time.monotonic() + timeout
        url = f"{self.settings.http_url}api/health"
        if self.proc is not None and self.settings.core_instances > 1:
            _wait_tcp(self.settings.agi_ports[self.index], self.proc,
                      f"core instance {self.index}", timeout)
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise StartError(f"core exited with {self.proc.returncode}; see "
                                 f"{self.log_file}")
            try:
                # Built on every try: on a first start the core generates the certificate.
                context = client_context(self.settings)
                with urllib.request.urlopen(url, timeout=2, context=context) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.2)
        raise StartError(f"core not healthy within {timeout:.0f} s ({url})")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        stop_process(self.proc, grace=15)


def _redis_quoted(value: str) -> str:
    """A value inside a double-quoted redis.conf string."""
    return value.replace("\\", "\\\\").replace('"', '\\"')


def pidfile(settings: Settings) -> Path:
    return settings.state_dir / "run" / "hotline.pid"


@dataclass
class SpeechWorkers:
    """The speech worker pool (``python -m stack.speech_service``), when configured."""

    settings: Settings
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = private_dir(self.settings.state_dir / "logs") / "speech.log"
        with open(log, "ab") as fh:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "stack.speech_service", "--config",
                 str(self.settings.source)],
                cwd=REPO_ROOT, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        stop_process(self.proc, grace=30)
