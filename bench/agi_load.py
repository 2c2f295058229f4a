"""FastAGI load generator: plays Asterisk, opening N sessions per second against a server.

Each session sends a realistic header block and answers every command with ``200 result=0``
until the server closes. Measured: per-command round trip (from our write of the headers or
previous reply to the arrival of the next command, i.e. what Asterisk waits), session duration
(connect to server close), calls/s completed, failures (connection errors, stray commands,
timeouts, or a command count other than ``--commands``).

    python bench/agi_load.py --target 127.0.0.1:4573 --rate 200 --seconds 10
    python bench/agi_load.py --self --rates 100,200,400,800 --seconds 10

``--self`` starts, each in its own subprocess, our ``AgiServer`` with a 3-command flow
(ANSWER, GET VARIABLE, STREAM FILE) and a bare asyncio FastAGI server doing the same 3
commands with no parsing beyond ``readline`` (the baseline), loads both the same way and
prints them side by side. Everything is bounded in time and talks to loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from ivr.agi import AgiServer  # noqa: E402
from testkit.agi_load import (  # noqa: E402
    COMMANDS,
    HEADER,
    LoadResult,
    bare_handle,
    combine,
    load,
    our_flow,
    report_self,
    row,
)


async def run_server(kind: str, port: int) -> None:
    """Subprocess entry: serve until stdin closes; print PORT first, stats last."""
    # Overload makes the server warn once per dropped connection; the stats count them.
    logging.getLogger("ivr.agi").setLevel(logging.ERROR)
    stats: dict[str, int] = {}
    if kind == "ours":
        ours = AgiServer({"inbound": our_flow}, port=port, command_timeout=10.0)
        await ours.start()
        print(f"PORT {ours.port}", flush=True)
        await _stdin_closed()
        stats = ours.stats
        await ours.stop()
    else:
        bare = await asyncio.start_server(bare_handle, "127.0.0.1", port, backlog=1024)
        print(f"PORT {bare.sockets[0].getsockname()[1]}", flush=True)
        await _stdin_closed()
        bare.close()
    print("STATS " + json.dumps(stats), flush=True)


async def _stdin_closed() -> None:
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


# --------------------------------------------------------------------------- self mode


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc), 0.0 where unavailable."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


class ServerProcess:
    def __init__(self, kind: str, cpu: int | None = None) -> None:
        self.kind = kind

        def pin() -> None:
            if cpu is not None:
                os.sched_setaffinity(0, {cpu})

        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--serve", kind, "--port", "0"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT,
            preexec_fn=pin if cpu is not None else None,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.startswith("PORT "):
            self.proc.kill()
            raise RuntimeError(f"{kind} server did not start: {line!r}")
        self.port = int(line.split()[1])

    def stop(self) -> dict[str, int]:
        try:
            out, _ = self.proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.communicate()
            return {}
        for line in out.splitlines():
            if line.startswith("STATS "):
                return dict(json.loads(line[6:]))
        return {}


async def run_one(kind: str, rate: float, seconds: float, server_cpu: int | None) -> LoadResult:
    srv = ServerProcess(kind, server_cpu)
    try:
        # short warm-up so imports / first-connection costs are not measured
        await load("127.0.0.1", srv.port, min(rate, 50), 0.2, kind)
        cpu0 = cpu_seconds(srv.proc.pid)
        r = await load("127.0.0.1", srv.port, rate, seconds, kind)
        cpu1 = cpu_seconds(srv.proc.pid)
    finally:
        stats = srv.stop()
    r.server_stats = stats
    r.server_cpu = cpu1 - cpu0
    return r


def cpu_pressure() -> str:
    """The machine's CPU pressure (Linux PSI, "some" avg60), to judge a shared machine's noise."""
    try:
        with open("/proc/pressure/cpu") as f:
            first = f.readline().split()
        return dict(kv.split("=") for kv in first[1:])["avg60"] + " %"
    except (OSError, KeyError, ValueError):
        return "n/a"


async def self_mode(
    rates: list[float], seconds: float, pin: bool, repeat: int = 1
) -> list[tuple[LoadResult, LoadResult]]:
    server_cpu: int | None = None
    if pin and hasattr(os, "sched_setaffinity") and len(os.sched_getaffinity(0)) >= 2:
        cpus = sorted(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpus[0]})  # the generator ("Asterisk") on one core,
        server_cpu = cpus[1]  # the FastAGI server on another, as in production
    pairs: list[tuple[LoadResult, LoadResult]] = []
    for rate in rates:
        runs: dict[str, list[LoadResult]] = {"ours": [], "bare": []}
        for rep in range(repeat):
            # alternate the order so neither server always runs first on a drifting machine
            for kind in (("ours", "bare") if rep % 2 == 0 else ("bare", "ours")):
                runs[kind].append(await run_one(kind, rate, seconds, server_cpu))
        pairs.append((combine(runs["ours"]), combine(runs["bare"])))
    return pairs


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = ap.add_mutually_exclusive_group(required=True)
    mode.add_argument("--target", help="HOST:PORT of a FastAGI server to load")
    mode.add_argument("--self", dest="self_mode", action="store_true",
                      help="start our server and the bare baseline, load both")
    mode.add_argument("--serve", choices=["ours", "bare"], help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--rate", type=float, default=200, help="sessions per second (--target)")
    ap.add_argument("--rates", default="100,200,400",
                    help="comma-separated rates for --self (default 100,200,400)")
    ap.add_argument("--seconds", type=float, default=10, help="duration of each load step")
    ap.add_argument("--script", default="inbound")
    ap.add_argument("--repeat", type=int, default=1,
                    help="--self: runs per server and rate, alternating (latencies pooled)")
    ap.add_argument("--no-pin", dest="pin", action="store_false",
                    help="--self: do not pin the generator and the server to separate cores")
    ap.add_argument("--commands", type=int, default=COMMANDS,
                    help="commands each session must receive (-1: any number)")
    args = ap.parse_args(argv)

    if args.serve:
        asyncio.run(run_server(args.serve, args.port))
        return 0
    if args.target:
        host, _, port = args.target.rpartition(":")
        r = asyncio.run(load(host or "127.0.0.1", int(port), args.rate, args.seconds,
                             "target", args.script,
                             commands=None if args.commands < 0 else args.commands))
        print(HEADER)
        print(row(r))
        if r.errors:
            print("errors:", r.errors)
        return 0 if r.failed == 0 else 1
    rates = [float(x) for x in args.rates.split(",") if x.strip()]
    before = cpu_pressure()
    pairs = asyncio.run(self_mode(rates, args.seconds, args.pin, args.repeat))
    print(report_self(pairs, args.seconds, args.repeat))
    print(f"CPU pressure (PSI some avg60) before: {before}, after: {cpu_pressure()}")
    return 0 if all(o.failed == 0 and b.failed == 0 for o, b in pairs) else 1


if __name__ == "__main__":
    sys.exit(main())
