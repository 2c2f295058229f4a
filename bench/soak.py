"""Soak (浸泡测试): calls held for minutes at a fixed concurrency; memory, files, tasks tracked.

    flock /tmp/bench.lock .venv/bin/python bench/soak.py --concurrent 200 [--minutes 10]
                                                          [--hold 40] [--sample 30] [--json f]
                                                          [--tracemalloc BASE]
                                                          [--arena-max N]

Issue 14 item 4's soak. The stack and the agents are the load harness's
(bench/load_harness.py: ``hotline up``'s parts, recording on, ``--agents`` SIPp phones that
REGISTER and answer), with one difference: the core runs as ``python -m bench.soak`` — the
real ``stack.core.main`` plus a SIGUSR1 handler that writes, read-only, the event loop's
task count by coroutine name and the FastAGI server's counters (``AgiServer.stats``: flows
running now) to a file. Nothing else of the core is changed.

One SIPp (uac, line 12345, audio streamed all call long) keeps ``--concurrent`` callers on
the line for ``--minutes``: each hangs up ``--hold`` s after the answer and new ones arrive
at ``concurrent / hold`` calls/s (SIPp ``-l`` caps the calls at once), so calls keep
starting and ending: inbound flows, call records, recordings, the waiting line, agents
answering, callers abandoning. Every ``--sample`` s: resident memory (VmRSS) of the core,
Asterisk and redis-server, the core's and Asterisk's open files and sockets, the core's
asyncio tasks and running FastAGI flows, Asterisk's channels. Before the first call and
after the last has ended (+ 10 s) the same figures are taken again: a leak of tasks,
FastAGI sessions or sockets shows as end > start.

``--tracemalloc BASE`` (to tell a leak from memory the allocator keeps): the core starts
``tracemalloc`` (8 frames; it makes the core slower and bigger, so run it at a lower
concurrency than the plain soak) and every dump also reports the Python heap it traces; the
dump number BASE (1 = the start, 2 = the first load sample …) keeps a snapshot, and each
later dump lists the 12 source lines whose live allocations grew most since it. A leak
shows as traced memory and the same lines growing sample after sample; memory the
allocator keeps (or a leak outside Python's allocator: C libraries' own malloc) shows as RSS
growing while the traced heap stays flat. tracemalloc's own snapshots make the RSS of a
traced run grow by tens of MB: read the traced heap there, the RSS of an untraced run.
``--arena-max N``: the core's glibc malloc keeps at most N arenas (``mallopt(M_ARENA_MAX)``
before its threads start; glibc's default is 8 per core, one per thread that allocates) —
whether the RSS steps are per-thread arenas.

Bounded: SIPp has ``-m`` and ``-timeout``; the stack is stopped and removed on exit,
failure, Ctrl-C or SIGTERM. Loopback only.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import agi_asterisk as agi  # noqa: E402
from bench import load_harness as lh  # noqa: E402
from testkit import processes  # noqa: E402
from testkit.proc_sample import bench_end_line, bench_guard, bench_start, footprint  # noqa: E402

STATS_ENV = "HOTLINE_SOAK_STATS"
TRACE_ENV = "HOTLINE_SOAK_TRACEMALLOC"     # the dump number whose snapshot is the base
ARENA_ENV = "HOTLINE_SOAK_ARENA_MAX"
M_ARENA_MAX = -8                          # glibc malloc.h


# ============================================================ core side (python -m bench.soak)


def core_shim(argv: list[str]) -> int:
    """The real core with a read-only SIGUSR1 dump of its tasks and FastAGI counters."""
    import asyncio

    import stack.core as core_mod
    from ivr.agi.server import AgiServer

    stats_file = os.environ[STATS_ENV]
    trace_base = int(os.environ.get(TRACE_ENV, "0"))
    heap = _heap_tracer(trace_base) if trace_base > 0 else None
    servers: list[AgiServer] = []
    orig_start = AgiServer.start

    async def start(self: AgiServer) -> None:
        servers.append(self)
        await orig_start(self)

    AgiServer.start = start  # type: ignore[method-assign]

    def dump(_sig: int, _frame: Any) -> None:
        # Runs in the main thread, between two steps of the event loop it interrupts.
        try:
            tasks = asyncio.all_tasks(asyncio.get_running_loop())
        except RuntimeError:
            tasks = set()
        by_name: dict[str, int] = {}
        for t in tasks:
            coro = t.get_coro()
            name = getattr(coro, "__qualname__", None) or t.get_name()
            by_name[name] = by_name.get(name, 0) + 1
        out: dict[str, Any] = {"tasks": len(tasks), "by_name": by_name,
                               "agi": [s.stats for s in servers]}
        if heap is not None:
            out.update(heap())
        tmp = stats_file + ".tmp"
        with open(tmp, "w") as fh:
            json.dump(out, fh)
        os.replace(tmp, stats_file)

    arenas = int(os.environ.get(ARENA_ENV, "0"))
    if arenas > 0:
        import ctypes

        if ctypes.CDLL("libc.so.6").mallopt(M_ARENA_MAX, arenas) != 1:
            raise SystemExit("mallopt(M_ARENA_MAX) refused")
    signal.signal(signal.SIGUSR1, dump)
    return core_mod.main(argv)


def _heap_tracer(base_dump: int) -> Callable[[], dict[str, Any]]:
    """Starts tracemalloc; returns what each dump adds: the traced heap and, after dump
    ``base_dump`` (whose snapshot is the base), the lines grown most since the base."""
    import tracemalloc

    tracemalloc.start(8)
    dumps = [0]
    base: list[tracemalloc.Snapshot] = []
    skip = (tracemalloc.Filter(False, tracemalloc.__file__),
            tracemalloc.Filter(False, "<frozen importlib._bootstrap>"))

    def figures() -> dict[str, Any]:
        dumps[0] += 1
        current, _peak = tracemalloc.get_traced_memory()
        out: dict[str, Any] = {"traced_kb": current // 1024}
        if dumps[0] >= base_dump:
            snap = tracemalloc.take_snapshot().filter_traces(skip)
            if not base:
                base.append(snap)
            else:
                grew = [st for st in snap.compare_to(base[0], "lineno") if st.size_diff > 0]
                out["grown"] = [[str(st.traceback[0]), st.size_diff // 1024, st.count_diff]
                                for st in grew[:12]]
        return out

    return figures


# ================================================================== bench side


@dataclass
class Sample:
    t: float
    phase: str                  # start (no call yet), load, end (every call over)
    rss_kb: dict[str, int] = field(default_factory=dict)
    fds: dict[str, int] = field(default_factory=dict)
    sockets: dict[str, int] = field(default_factory=dict)
    tasks: int = -1
    tasks_by_name: dict[str, int] = field(default_factory=dict)
    agi_active: int = -1
    agi_started: int = -1
    channels: int = -1
    load: float = 0.0
    traced_kb: int = -1         # --tracemalloc: the core's Python heap as traced
    grown: list[list[Any]] = field(default_factory=list)


class Soak:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        h = argparse.Namespace(steps=[args.concurrent], agents=args.agents, window=1.0,
                               probes=0)
        self.harness = lh.LoadHarness(h, core_module="bench.soak")
        self.stats_file = self.harness.stack.tmp / "soak-stats.json"
        os.environ[STATS_ENV] = str(self.stats_file)    # inherited by the core
        if args.tracemalloc:
            os.environ[TRACE_ENV] = str(args.tracemalloc)
        if args.arena_max:
            os.environ[ARENA_ENV] = str(args.arena_max)
        self.samples: list[Sample] = []
        self.sipp: subprocess.Popen[bytes] | None = None
        self.stat: Path | None = None

    def core_figures(self) -> dict[str, Any]:
        core = self.harness.stack.core
        if core is None or core.poll() is not None:
            return {}
        self.stats_file.unlink(missing_ok=True)
        os.kill(core.pid, signal.SIGUSR1)
        # A heap snapshot (--tracemalloc) takes seconds before the file is written.
        deadline = time.monotonic() + (120 if self.args.tracemalloc else 20)
        while not self.stats_file.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        try:
            return dict(json.loads(self.stats_file.read_text()))
        except (OSError, ValueError):
            return {}

    def sample(self, t0: float, phase: str) -> Sample:
        s = Sample(round(time.monotonic() - t0, 1), phase, load=os.getloadavg()[0])
        for name, pid in self.harness.pids().items():
            fp = footprint(pid)
            if fp is None:
                continue
            s.rss_kb[name] = fp.rss_kb
            s.fds[name] = fp.fds
            s.sockets[name] = fp.sockets
        figures = self.core_figures()
        s.tasks = int(figures.get("tasks", -1))
        s.tasks_by_name = dict(figures.get("by_name", {}))
        agi_stats = figures.get("agi") or [{}]
        s.agi_active = int(agi_stats[0].get("active", -1))
        s.agi_started = int(agi_stats[0].get("sessions_started", -1))
        s.channels = self.harness._channels()
        s.traced_kb = int(figures.get("traced_kb", -1))
        s.grown = list(figures.get("grown", []))
        self.samples.append(s)
        print(f"[{s.t:6.0f} s] {phase:<5} rss MB " + ", ".join(
            f"{k} {v / 1024:.1f}" for k, v in s.rss_kb.items())
            + f"; fds {s.fds}; tasks {s.tasks}; FastAGI running {s.agi_active} "
            f"(started {s.agi_started}); channels {s.channels}; load {s.load:.1f}"
            + (f"; traced {s.traced_kb / 1024:.1f} MB" if s.traced_kb >= 0 else ""),
            flush=True)
        for where, kb, count in s.grown[:5]:
            print(f"    grown since the base: {kb:+d} KB in {count:+d} blocks at {where}",
                  flush=True)
        return s

    def run(self) -> None:
        args = self.args
        h = self.harness
        h.start()
        t0 = time.monotonic()
        time.sleep(2)
        self.sample(t0, "start")
        rate = max(1, round(args.concurrent / args.hold))
        total = int(rate * (args.minutes * 60 - args.hold))
        sip, _ = h.sip_port
        self.sipp, self.stat = h._sipp(
            "hotline", "load-caller.xml", total, rate, args.hold, "soak", sip,
            (h.caller_ports.start, h.caller_ports.end - 1), limit=args.concurrent,
            timeout_s=args.minutes * 60 + args.hold + 120)
        load_end = time.monotonic() + args.minutes * 60
        next_sample = time.monotonic() + args.sample
        while time.monotonic() < load_end and self.sipp.poll() is None:
            time.sleep(max(0.0, min(next_sample, load_end) - time.monotonic()))
            if time.monotonic() >= next_sample:
                self.sample(t0, "load")
                next_sample += args.sample
        deadline = time.monotonic() + args.hold + 90
        while self.sipp.poll() is None and time.monotonic() < deadline:
            time.sleep(0.5)
        if self.sipp.poll() is None:
            processes.stop(self.sipp, grace=5, group=True)
        agi.Bench._drain(h, timeout=30)  # type: ignore[arg-type]
        time.sleep(10)
        self.sample(t0, "end")

    def sipp_counts(self) -> lh.StepResult:
        res = lh.StepResult("hotline", 0)
        if self.stat is not None:
            self.harness._add_sipp_stats(res, self.stat)
        return res

    def stop(self) -> None:
        if self.sipp is not None and self.sipp.poll() is None:
            processes.stop(self.sipp, grace=5, group=True)
        self.harness.stop()


def report(samples: list[Sample], calls: lh.StepResult, args: argparse.Namespace) -> str:
    lines = [f"{args.concurrent} callers at once for {args.minutes} min, hold {args.hold} s, "
             f"{args.agents} agents; SIPp: placed {calls.placed}, ok {calls.successful}, "
             f"failed {calls.failed} {calls.failed_detail or ''}, retransmissions "
             f"{calls.retransmissions}",
             "",
             "| t s | phase | core RSS MB | Asterisk RSS MB | redis RSS MB | core fds (sockets) "
             "| Asterisk fds | core tasks | FastAGI running | channels | load 1 min |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for s in samples:
        mb = {k: f"{v / 1024:.1f}" for k, v in s.rss_kb.items()}
        lines.append(
            f"| {s.t:.0f} | {s.phase} | {mb.get('core', '–')} | {mb.get('asterisk', '–')} | "
            f"{mb.get('redis', '–')} | {s.fds.get('core', '–')} ({s.sockets.get('core', '–')})"
            f" | {s.fds.get('asterisk', '–')} | {s.tasks} | {s.agi_active} | {s.channels} | "
            f"{s.load:.1f} |")
    start = next((s for s in samples if s.phase == "start"), None)
    end = next((s for s in samples if s.phase == "end"), None)
    loaded = [s for s in samples if s.phase == "load"]
    if start and end:
        lines.append("")
        for part in ("core", "asterisk", "redis"):
            if part in start.rss_kb and part in end.rss_kb:
                growth = (end.rss_kb[part] - start.rss_kb[part]) / 1024
                lines.append(f"{part}: RSS start {start.rss_kb[part] / 1024:.1f} MB, end "
                             f"{end.rss_kb[part] / 1024:.1f} MB ({growth:+.1f} MB)")
        if len(loaded) >= 2:
            a, b = loaded[0], loaded[-1]
            for part in ("core", "asterisk"):
                if part in a.rss_kb and part in b.rss_kb and b.t > a.t:
                    per_min = (b.rss_kb[part] - a.rss_kb[part]) / 1024 / (b.t - a.t) * 60
                    lines.append(f"{part}: under load from {a.t:.0f} s to {b.t:.0f} s: "
                                 f"{per_min:+.2f} MB/min")
        lines.append(f"core tasks start {start.tasks} end {end.tasks}; FastAGI running start "
                     f"{start.agi_active} end {end.agi_active}; core fds start "
                     f"{start.fds.get('core')} end {end.fds.get('core')} (sockets "
                     f"{start.sockets.get('core')} -> {end.sockets.get('core')}); Asterisk "
                     f"fds {start.fds.get('asterisk')} -> {end.fds.get('asterisk')}")
        grown = {k: (start.tasks_by_name.get(k, 0), v) for k, v in end.tasks_by_name.items()
                 if v > start.tasks_by_name.get(k, 0)}
        transcripts = {k: v for k, v in end.tasks_by_name.items() if "ranscri" in k}
        lines.append(f"task kinds more numerous at the end (start, end): {grown or 'none'}; "
                     f"live-transcript tasks at the end: {transcripts or 'none'}")
    traced = [s for s in samples if s.traced_kb >= 0]
    if traced:
        lines += ["", "traced Python heap of the core (tracemalloc), MB: " + ", ".join(
            f"{s.t:.0f} s {s.traced_kb / 1024:.1f}" for s in traced)]
        last = traced[-1]
        if last.grown:
            lines.append(f"lines grown most since the base, at {last.t:.0f} s "
                         "(KB, blocks, where):")
            lines += [f"  {kb:+d} KB {count:+d} {where}" for where, kb, count in last.grown]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if "--config" in argv:               # started by the stack as the core
        return core_shim(argv)
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    p.add_argument("--concurrent", type=int, required=True)
    p.add_argument("--minutes", type=float, default=10.0)
    # 40 s: longer than the shipped 30 s between announcements, so a caller still waiting
    # hears one (the waiting flow is part of what must not leak).
    p.add_argument("--hold", type=float, default=40.0)
    p.add_argument("--sample", type=float, default=30.0)
    p.add_argument("--agents", type=int, default=10)
    p.add_argument("--json", type=Path)
    p.add_argument("--tracemalloc", type=int, default=0, metavar="BASE",
                   help="trace the core's heap; dump BASE's snapshot is the base of the diffs")
    p.add_argument("--arena-max", type=int, default=0, metavar="N",
                   help="the core's malloc keeps at most N arenas (M_ARENA_MAX)")
    args = p.parse_args(argv)
    if not 1 <= args.concurrent <= 1000 or args.minutes <= 0 or args.hold <= 0:
        raise SystemExit("--concurrent 1..1000; --minutes and --hold > 0")

    t0 = bench_start()
    soak = Soak(args)
    calls = lh.StepResult("hotline", 0)
    with bench_guard("soak", soak.stop):
        soak.run()
        calls = soak.sipp_counts()
    print()
    print(report(soak.samples, calls, args))
    print(bench_end_line(t0))
    if args.json:
        args.json.write_text(json.dumps({"samples": [asdict(s) for s in soak.samples],
                                         "calls": asdict(calls)}, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
