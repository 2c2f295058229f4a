"""A process's footprint read from /proc (进程采样): resident memory, open files, sockets, threads.

For the load harness and the soak (bench/load_harness.py, bench/soak.py): read-only, no
signal sent; a process that has ended reads as ``None``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


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
