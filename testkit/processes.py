"""The one way tests and benchmarks stop a process they started: ask, wait, then force.

A process started with ``start_new_session=True`` (Asterisk wrappers, SIPp under a shell,
``hotline up``) owns a process group; ``group=True`` signals the whole group so no child is
left holding a port.
"""

from __future__ import annotations

import os
import signal
import subprocess


def stop(proc: subprocess.Popen[bytes] | subprocess.Popen[str] | None, grace: float = 5.0,
         *, group: bool = False) -> None:
    """SIGTERM, then SIGKILL if ``proc`` has not ended within ``grace`` seconds; reaps it.

    Does nothing for ``None`` or a process that has already ended (it is still reaped).
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
    # The group is gone (or SIGKILL was not enough in ``grace``): reap without hanging forever.
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        pass
