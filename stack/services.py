"""Starting and stopping the stack's processes: redis-server, Asterisk and the core."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from stack.secret_files import private_dir
from stack.settings import REPO_ROOT, Settings
from stack.tls import client_context


class StartError(RuntimeError):
    pass


def stop_process(proc: subprocess.Popen[bytes] | None, grace: float) -> None:
    """SIGTERM, then SIGKILL if the process has not ended within ``grace`` seconds."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)


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

    def stop(self) -> None:
        stop_process(self.proc, grace=10)


@dataclass
class CoreProcess:
    settings: Settings
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = private_dir(self.settings.state_dir / "logs") / "core.log"
        with open(log, "ab") as fh:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "stack.core", "--config", str(self.settings.source)],
                cwd=REPO_ROOT, stdout=fh, stderr=subprocess.STDOUT, env=dict(os.environ),
                start_new_session=True)
        self.wait_healthy(60)

    def wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        url = f"{self.settings.http_url}api/health"
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise StartError(f"core exited with {self.proc.returncode}; see "
                                 f"{self.settings.state_dir / 'logs' / 'core.log'}")
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
