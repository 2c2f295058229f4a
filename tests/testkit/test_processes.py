"""testkit.processes.stop, the one way tests and benchmarks end a process: asks (SIGTERM),
forces (SIGKILL) when asked is not enough, and with ``group=True`` ends the children too."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from testkit import processes

# Prints "ready" once its signal handling is in place, then waits to be ended.
_IGNORES_TERM = ("import signal, sys, time\n"
                 "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
                 "print('ready', flush=True)\n"
                 "time.sleep(300)\n")
# A shell whose child prints its pid, as SIPp under a wrapper or provision.sh's apt-get.
_PARENT_OF_SLEEPER = "sleep 300 & echo $!; wait"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (ended, not yet reaped by its parent, init here) counts as ended.
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0] != "Z"


def test_a_process_that_ends_on_sigterm_is_asked_only() -> None:
    proc = subprocess.Popen(["sleep", "300"])
    processes.stop(proc, grace=30)
    assert proc.returncode == -signal.SIGTERM


def test_a_process_ignoring_sigterm_is_killed_after_the_grace() -> None:
    proc = subprocess.Popen([sys.executable, "-c", _IGNORES_TERM], stdout=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"
    processes.stop(proc, grace=0.2)
    assert proc.returncode == -signal.SIGKILL
    proc.stdout.close()


def test_group_stop_ends_the_children_too() -> None:
    proc = subprocess.Popen(["sh", "-c", _PARENT_OF_SLEEPER], stdout=subprocess.PIPE,
                            start_new_session=True)
    assert proc.stdout is not None
    child = int(proc.stdout.readline())
    assert _alive(child)
    processes.stop(proc, grace=30, group=True)
    proc.stdout.close()
    assert proc.returncode is not None
    # The child got its SIGTERM with the shell's; it may need a moment to be scheduled and die.
    deadline = time.monotonic() + 30
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not _alive(child)


def test_stopping_an_ended_or_missing_process_does_nothing() -> None:
    proc = subprocess.Popen(["true"])
    proc.wait(timeout=30)
    processes.stop(proc)
    processes.stop(None)
    assert proc.returncode == 0
