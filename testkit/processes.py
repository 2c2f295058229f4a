"""The one way tests and benchmarks stop a process they started: ask, wait, then force.

It is the stack's own :func:`stack.services.stop_process` (the supervisor stops redis-server,
Asterisk, the core and the speech workers with it), with a default grace for test processes.
A process started with ``start_new_session=True`` (SIPp under a shell, ``hotline up``,
``provision.sh``) owns a process group; ``group=True`` signals the whole group so no child is
left holding a port.
"""

from __future__ import annotations

import subprocess

from stack.services import stop_process


def stop(proc: subprocess.Popen[bytes] | subprocess.Popen[str] | None, grace: float = 5.0,
         *, group: bool = False) -> None:
    """SIGTERM, then SIGKILL if ``proc`` has not ended within ``grace`` seconds; reaps it.

    Does nothing for ``None`` or a process that has already ended.
    """
    stop_process(proc, grace, group=group)
