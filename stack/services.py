"""Starting and stopping the stack's processes: redis-server, Asterisk and the core."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from stack.settings import REPO_ROOT, Settings


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
        """Only a local URL on the configured port is ours to start."""
        return self.settings.redis_url == f"redis://127.0.0.1:{self.settings.redis_port}/0"

    def start(self) -> None:
        if not self.owned:
            return
        exe = shutil.which("redis-server")
        if exe is None:
            raise StartError("redis-server is not installed: run `make run`, which provisions it")
        data = self.settings.state_dir / "redis"
        data.mkdir(parents=True, exist_ok=True)
        log = self.settings.state_dir / "logs" / "redis.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        # Loopback only, protected mode, append-only file so waiting calls survive a restart.
        self.proc = subprocess.Popen(
            [exe, "--bind", "127.0.0.1", "--port", str(self.settings.redis_port),
             "--protected-mode", "yes", "--dir", str(data), "--appendonly", "yes",
             "--logfile", str(log)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        _wait_tcp(self.settings.redis_port, self.proc, "redis-server", 10)

    def stop(self) -> None:
        stop_process(self.proc, grace=10)


@dataclass
class CoreProcess:
    settings: Settings
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = self.settings.state_dir / "logs" / "core.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "ab") as fh:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "stack.core", "--config", str(self.settings.source)],
                cwd=REPO_ROOT, stdout=fh, stderr=subprocess.STDOUT, env=dict(os.environ),
                start_new_session=True)
        self.wait_healthy(60)

    def wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        url = f"http://{_http_host(self.settings)}:{self.settings.http_port}/api/health"
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise StartError(f"core exited with {self.proc.returncode}; see "
                                 f"{self.settings.state_dir / 'logs' / 'core.log'}")
            try:
                with urllib.request.urlopen(url, timeout=2) as resp:
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


def _http_host(settings: Settings) -> str:
    return "127.0.0.1" if settings.bind_address in ("0.0.0.0", "::") else settings.bind_address


def pidfile(settings: Settings) -> Path:
    return settings.state_dir / "run" / "hotline.pid"


@dataclass
class SpeechWorkers:
    """The speech worker pool (``python -m stack.speech_service``), when configured."""

    settings: Settings
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = self.settings.state_dir / "logs" / "speech.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "ab") as fh:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "stack.speech_service", "--config",
                 str(self.settings.source)],
                cwd=REPO_ROOT, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        stop_process(self.proc, grace=30)
