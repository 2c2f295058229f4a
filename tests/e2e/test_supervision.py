"""`hotline up` supervises what it starts (issue 9, item 9): redis-server killed under a
detached stack comes back and the core serves again without flooding its log; the core
killed is restarted.

On the starting main (4b97079) `hotline up` watched only the core, Asterisk and the speech
workers: a killed redis-server stayed dead, `hotline status` stayed red for ever (this test
times out waiting for green), and the core's distribution loop retried at once, writing a
traceback per try (108 MB of core.log in about a minute).

The outage is made to last: after the kill the test holds Redis's port itself, so the
supervisor's restarts fail and back off, for a few seconds before letting go. The log bound
is counted in lines (the distribution loop reports the outage once and the recovery once; a
per-try log would write thousands of lines in that time), not in time.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from stack.services import Redis
from stack.settings import REPO_ROOT
from testkit.redis_server import free_port
from testkit.stack import CHROOT, Agent, HotlineStack, free_udp_port

pytestmark = pytest.mark.e2e

# Lines the core may write while Redis is away and when it is back: the distribution loop's
# "lost" and "back" and a few from other parts that touch Redis once (no calls are made).
MAX_CORE_LOG_LINES = 20


def _hotline(config: Path, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "stack.cli", "--config", str(config), *args],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout)


def _pids(*needles: str) -> list[int]:
    """Processes whose command line holds every needle."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        words = [a.decode(errors="replace") for a in argv]
        if all(any(n in w for w in words) for n in needles):
            found.append(int(entry.name))
    return found


def _until(condition: object, what: str, limit: float = 120.0) -> None:
    deadline = time.monotonic() + limit
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"never: {what}"
        time.sleep(0.3)


def _lines(path: Path) -> int:
    return path.read_bytes().count(b"\n")


class Stack:
    def __init__(self, tmp: Path) -> None:
        self.http, self.redis = free_port(), free_port()
        self.config = tmp / "hotline.toml"
        self.logs = tmp / "var" / "logs"
        self.config.write_text(f"""
[network]
sip_port = {free_udp_port()}
http_port = {self.http}
rtp_start = 41100
rtp_end = 41199
[ami]
port = {free_port()}
[agi]
port = {free_port()}
[redis]
port = {self.redis}
[paths]
state_dir = "{tmp / 'var'}"
lines_file = "{REPO_ROOT / 'config' / 'lines.toml'}"
agents_file = "{REPO_ROOT / 'config' / 'agents.toml'}"
distribution_file = "{REPO_ROOT / 'config' / 'distribution.toml'}"
prompts_file = "{REPO_ROOT / 'asterisk_conf' / 'prompts.txt'}"
[asterisk]
chroot = "{CHROOT}"
instance = "sup-{self.http}"
""")

    def green(self) -> bool:
        status = _hotline(self.config, "status", timeout=30)
        return status.returncode == 0 and "DOWN" not in status.stdout

    def redis_pids(self) -> list[int]:
        return _pids("redis-server", str(self.redis))

    def core_pids(self) -> list[int]:
        return _pids("stack.core", str(self.config))


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    s = Stack(tmp_path_factory.mktemp("supervision"))
    up = _hotline(s.config, "up", "--detach")
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        yield s
    finally:
        _hotline(s.config, "down")
        shutil.rmtree(CHROOT / "srv" / "hotline" / f"sup-{s.http}", ignore_errors=True)


def test_redis_killed_comes_back_and_the_core_log_stays_small(stack: Stack) -> None:
    [old] = stack.redis_pids()
    core_log = stack.logs / "core.log"
    before = _lines(core_log)
    os.kill(old, signal.SIGKILL)
    with socket.socket() as squatter:   # Redis's port taken: restarts fail for a while
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        _until(lambda: _bind(squatter, stack.redis), "the killed Redis freed its port")
        squatter.listen()
        _until(lambda: "dependency lost" in core_log.read_text(), "the core saw Redis go")
        time.sleep(6)   # the outage lasts; a per-try log would write thousands of lines
    _until(lambda: len(stack.redis_pids()) == 1 and stack.redis_pids() != [old],
           "redis-server restarted by the stack")
    _until(stack.green, "hotline status green again")
    _until(lambda: "distribution loop (Redis): back after" in core_log.read_text(),
           "the distribution loop serves again")
    grown = _lines(core_log) - before
    assert grown <= MAX_CORE_LOG_LINES, core_log.read_text().splitlines()[before:][:40]
    stack_log = (stack.logs / "stack.log").read_text()
    assert "redis-server exited; restarting it" in stack_log
    assert "redis-server running again" in stack_log


def test_core_killed_is_restarted(stack: Stack) -> None:
    [old] = stack.core_pids()
    os.kill(old, signal.SIGKILL)
    _until(lambda: len(stack.core_pids()) == 1 and stack.core_pids() != [old],
           "a new core process")
    _until(stack.green, "hotline status green again")
    assert "core running again" in (stack.logs / "stack.log").read_text()


def _bind(sock: socket.socket, port: int) -> bool:
    try:
        sock.bind(("127.0.0.1", port))
    except OSError:
        return False
    return True


@pytest.fixture(scope="module")
def hotline() -> Iterator[HotlineStack]:
    stack = HotlineStack(agents=[Agent("1001", {"general": 1})]).start()
    try:
        yield stack
    finally:
        stack.stop()


async def test_a_call_the_fallback_delivers_while_redis_is_dead_is_completed(
        hotline: HotlineStack) -> None:
    """Redis dies; a call comes in. The core writes the record ("offered"), its restriction
    check fails on Redis, the dialplan hands the caller to app_queue and agent 1001 answers.
    The CDR file completes the record while Redis is still dead. On the starting main the
    CDR offset lived in Redis, so reconciliation failed every 10 s and the record stayed
    "offered" for as long as Redis was away; and every AMI event of the call logged a
    traceback ("failed to handle AMI event")."""
    hotline.login("1001")
    [redis_pid] = _pids("redis-server", str(hotline.settings.redis_port))
    os.kill(redis_pid, signal.SIGKILL)
    restarted = Redis(hotline.settings)
    try:
        result = await hotline.call("12345", "13700137100", talk_ms=4000)
        assert result.ok, result.output[:1500]   # answered by 1001's phone via app_queue
        call = await hotline.wait_call(lambda c: c["caller"].endswith("7100")
                                       and c["ended_at"] is not None)
        assert (call["disposition"], call["agent_id"], call["route"], call["line"]) == (
            "answered", "1001", "fallback", "12345")
        assert call["reconciled"] is True
        assert _pids("redis-server", str(hotline.settings.redis_port)) == []  # still dead
        # The call's AMI events all failed on Redis: the bridge said so once, not per event.
        log = hotline.core_log()
        assert log.count("AMI event bridge (Redis): dependency lost") == 1
        assert "failed to handle AMI event" not in log
    finally:
        restarted.start()        # the stack's stop() finds a Redis as it left it
        hotline._exit.callback(restarted.stop)
