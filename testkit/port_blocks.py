"""UDP port blocks for a test stack's media (RTP) that no other stack on the machine uses.

A stack's Asterisk RTP range, its phones' and its callers' media ports lie in one block of
consecutive ports below the kernel's ephemeral range (32768-60999 here, so no port the
kernel hands out for ``bind(0)`` or a connection lands in it). A block is held by an
exclusive ``flock`` on its lock file for as long as the stack runs, so stacks started at
the same time (pytest-xdist workers, another test run, a benchmark) never share ports; a
lock dies with its process, so a killed run leaves nothing to clean up.
"""

from __future__ import annotations

import fcntl
import os
import random
import socket
from pathlib import Path

BLOCK = 200                    # ports per block
MEDIA_PORTS = 4                # one SIPp phone's media ports from its -mp port on
FIRST, END = 10000, 32600      # blocks lie in [FIRST, END): below the ephemeral range
LOCKS = Path(os.environ.get("HOTLINE_PORT_LOCKS", "/tmp/hotline-port-blocks"))


class PortBlocks:
    """``count`` consecutive blocks, held until :meth:`release`; ``start`` is the first port."""

    def __init__(self, ports: int) -> None:
        count = -(-ports // BLOCK)
        slots = (END - FIRST) // BLOCK
        if not 0 < count <= slots:
            raise ValueError(f"{ports} ports: at most {slots * BLOCK} in one reservation")
        LOCKS.mkdir(parents=True, exist_ok=True)
        self._fds: list[int] = []
        for first in random.sample(range(slots - count + 1), slots - count + 1):
            if self._lock(range(first, first + count)):
                self.start = FIRST + first * BLOCK
                self.end = self.start + count * BLOCK
                return
        raise RuntimeError(f"no {count} free port block(s) of {BLOCK} in {FIRST}-{END}")

    def _lock(self, slots: range) -> bool:
        for slot in slots:
            fd = os.open(LOCKS / f"{slot}.lock", os.O_CREAT | os.O_RDWR, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                self.release()
                return False
            self._fds.append(fd)
        return True

    def release(self) -> None:
        for fd in self._fds:
            os.close(fd)   # closing the descriptor drops its lock
        self._fds = []


def media_ports_free(port: int) -> bool:
    """Nothing on 127.0.0.1 holds UDP ``port`` .. ``port + 3``: what one SIPp phone binds for
    its media (audio and video RTP, ``-mp`` and ``-mp`` + 2, each with its RTCP)."""
    socks: list[socket.socket] = []
    try:
        for p in range(port, port + MEDIA_PORTS):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            socks.append(s)
            s.bind(("127.0.0.1", p))
        return True
    except OSError:
        return False
    finally:
        for s in socks:
            s.close()
