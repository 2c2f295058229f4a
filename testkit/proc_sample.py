"""A process's footprint read from /proc (进程采样): resident memory, open files, sockets, threads.

For the load harness and the soak (bench/load_harness.py, bench/soak.py): ``footprint`` is
read-only, no signal sent; a process that has ended reads as ``None``. The benches' shared
start and end (``bench_start``, ``bench_guard``, ``bench_end_line``) are here too: both
stop their stack on every way out and print the load average beside their figures.
"""

from __future__ import annotations

import os
import signal
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType


def bench_start() -> float:
    """Start of a bench run: SIGTERM ends it like Ctrl-C, the load average is printed.

    SIGTERM (``timeout``, ``kill``) raises KeyboardInterrupt so ``bench_guard`` stops the
    stack and the figures measured so far are still reported. Returns the start instant
    (``time.monotonic``) for ``bench_end_line``.
    """
    def on_term(_sig: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_term)
    print(f"load before: {os.getloadavg()}", flush=True)
    return time.monotonic()


@contextmanager
def bench_guard(name: str, stop: Callable[[], None]) -> Iterator[None]:
    """Run the bench's body; on Ctrl-C, SIGTERM or an error, say so; always ``stop()``.

    The error is printed and swallowed on purpose: the caller goes on to report what was
    measured before it.
    """
    try:
        yield
    except KeyboardInterrupt:
        print("interrupted: stopping the stack", file=sys.stderr)
    except Exception:
        traceback.print_exc()
        print(f"{name} failed: stopping the stack, reporting what was measured",
              file=sys.stderr)
    finally:
        stop()


def bench_end_line(t0: float) -> str:
    """The last line of a bench's output: its wall time and the load average after it."""
    return f"\nwall {time.monotonic() - t0:.0f} s; load after: {os.getloadavg()}"


@dataclass(frozen=True)
class Footprint:
    rss_kb: int
    fds: int
    sockets: int
    threads: int


def footprint(pid: int | None) -> Footprint | None:
    if not pid:
        return None
    proc = Path(f"/proc/{pid}")
    try:
        status = (proc / "status").read_text()
        names = os.listdir(proc / "fd")
    except (FileNotFoundError, ProcessLookupError):
        return None
    links = []
    for name in names:
        try:
            links.append(os.readlink(proc / "fd" / name))
        except OSError:
            continue          # closed between the listing and the read
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    return Footprint(
        rss_kb=int(fields.get("VmRSS", "0 kB").split()[0]),
        fds=len(links),
        sockets=sum(1 for link in links if link.startswith("socket:")),
        threads=int(fields.get("Threads", "0").strip()))
