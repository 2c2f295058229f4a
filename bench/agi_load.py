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
import math
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from ivr.agi import AgiServer, AgiSession  # noqa: E402
from tests.helpers.fake_asterisk import FakeAsterisk, agi_headers  # noqa: E402

COMMANDS = 3  # ANSWER, GET VARIABLE, STREAM FILE


# --------------------------------------------------------------------------- servers


async def our_flow(s: AgiSession) -> None:
    await s.answer()
    await s.get_variable("CALLERID(num)")
    await s.stream_file("custom/welcome", "")


# The baseline: a bare asyncio FastAGI server, the least a correct-on-the-happy-path
# server can do: read headers to the blank line, send 3 commands, read 3 reply lines.
BARE_COMMANDS = (b"ANSWER\n", b"GET VARIABLE CALLERID(num)\n", b'STREAM FILE custom/welcome ""\n')


async def bare_handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    env: dict[str, str] = {}
    try:
        while True:
            line = await reader.readline()
            if not line:
                return
            if line in (b"\n", b"\r\n"):
                break
            key, _, value = line.decode().rstrip("\r\n").partition(": ")
            env[key] = value
        for cmd in BARE_COMMANDS:
            writer.write(cmd)
            reply = await reader.readline()
            if not reply.startswith(b"200"):
                return
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()


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


# --------------------------------------------------------------------------- load


@dataclass
class LoadResult:
    label: str
    rate: float
    seconds: float
    launched: int = 0
    ok: int = 0
    failed: int = 0
    elapsed: float = 0.0
    launch_lag_max: float = 0.0
    rtts: list[float] = field(default_factory=list)
    durations: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    server_stats: dict[str, int] = field(default_factory=dict)
    server_cpu: float = 0.0  # server process CPU seconds during the measured load

    @property
    def server_cpu_per_call(self) -> float:
        return self.server_cpu / self.ok if self.ok else 0.0

    @property
    def calls_per_s(self) -> float:
        return self.ok / self.elapsed if self.elapsed else 0.0

    @property
    def sustained(self) -> bool:
        """No failures and the rate was actually offered and served (within 5 %)."""
        return self.failed == 0 and self.calls_per_s >= 0.95 * self.rate


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    k = min(len(s) - 1, max(0, math.ceil(q / 100 * len(s)) - 1))  # nearest rank
    return s[k]


async def load(
    host: str, port: int, rate: float, seconds: float, label: str = "",
    script: str = "inbound", params: dict[str, str] | None = None,
    commands: int | None = COMMANDS, session_timeout: float = 10.0,
) -> LoadResult:
    """Open ``rate`` sessions per second for ``seconds`` (open loop), wait for them all."""
    res = LoadResult(label, rate, seconds)
    total = max(1, int(rate * seconds))
    params = params if params is not None else {"line": "12345"}
    loop = asyncio.get_running_loop()
    tasks: list[asyncio.Task[None]] = []
    done_at: list[float] = []

    async def one(i: int) -> None:
        headers = agi_headers(host=host, port=port, script=script, params=params,
                              uniqueid=f"1795000000.{i}")
        peer = FakeAsterisk(port, host, headers=headers, step_timeout=session_timeout)
        peer.auto_reply("200 result=0")
        r = await peer.run(timeout=session_timeout)
        done_at.append(loop.time())
        bad = r.errors or not r.closed_by_server or (
            commands is not None and len(r.commands) != commands)
        if bad:
            res.failed += 1
            if len(res.errors) < 5:
                res.errors.append(f"{r.errors or ''} commands={r.commands}")
            return
        res.ok += 1
        res.rtts.extend(r.rtts)
        res.durations.append(r.duration)

    start = loop.time()
    i = 0
    while i < total:
        now = loop.time()
        due = min(total, int((now - start) * rate) + 1)
        while i < due:
            res.launch_lag_max = max(res.launch_lag_max, now - (start + i / rate))
            tasks.append(loop.create_task(one(i)))
            i += 1
        if i < total:
            await asyncio.sleep(max(0.0, start + i / rate - loop.time()))
    res.launched = total
    await asyncio.gather(*tasks)
    res.elapsed = (max(done_at) if done_at else loop.time()) - start
    return res


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


def fmt_ms(x: float) -> str:
    return f"{x * 1000:.2f}"


def row(r: LoadResult) -> str:
    cpu = f"{r.server_cpu_per_call * 1e6:.0f}" if r.server_cpu_per_call else "n/a"
    return (f"| {r.label:<9} | {r.rate:>6.0f} | {r.ok:>6}/{r.launched:<6} | {r.failed:>6} "
            f"| {r.calls_per_s:>8.1f} | {fmt_ms(pct(r.rtts, 50)):>7} "
            f"| {fmt_ms(pct(r.rtts, 99)):>7} | {fmt_ms(pct(r.durations, 50)):>7} "
            f"| {fmt_ms(pct(r.durations, 99)):>7} | {cpu:>8} "
            f"| {'yes' if r.sustained else 'no':<9} |")


HEADER = ("| server    | rate/s | ok/launched   | failed | calls/s  | rtt p50 | rtt p99 "
          "| ses p50 | ses p99 | cpu µs/c | sustained |\n"
          "|-----------|--------|---------------|--------|----------|---------|---------"
          "|---------|---------|----------|-----------|")


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


def combine(runs: list[LoadResult]) -> LoadResult:
    """Several runs of one server at one rate: latencies pooled, counts and CPU summed,
    calls/s the median run's."""
    if len(runs) == 1:
        return runs[0]
    first = runs[0]
    out = LoadResult(first.label, first.rate, first.seconds * len(runs))
    for r in runs:
        out.launched += r.launched
        out.ok += r.ok
        out.failed += r.failed
        out.rtts += r.rtts
        out.durations += r.durations
        out.server_cpu += r.server_cpu
        out.errors += r.errors[: max(0, 5 - len(out.errors))]
        for k, v in r.server_stats.items():
            out.server_stats[k] = out.server_stats.get(k, 0) + v
    rates = sorted(r.calls_per_s for r in runs)
    out.elapsed = out.ok / rates[len(rates) // 2] if rates[len(rates) // 2] else 0.0
    return out


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


def report_self(
    pairs: list[tuple[LoadResult, LoadResult]], seconds: float, repeat: int = 1
) -> str:
    runs = f"{repeat} alternating runs of " if repeat > 1 else ""
    lines = [f"FastAGI load, {runs}{seconds:g} s per server and rate, 3 commands per call "
             "(ANSWER, GET VARIABLE, STREAM FILE); rtt = per-command round trip seen by the "
             "peer; ses = session duration. Times in ms.", "", HEADER]
    for ours, bare in pairs:
        lines += [row(ours), row(bare)]
    lines += ["", "| rate/s | rtt p50 ours/bare | rtt p99 ours/bare | ses p50 ours/bare "
              "| ses p99 ours/bare | server-side failed (ours) |",
              "|--------|-------------------|-------------------|-------------------"
              "|-------------------|---------------------------|"]
    for ours, bare in pairs:
        def ratio(a: list[float], b: list[float], q: float) -> str:
            pb = pct(b, q)
            return f"{pct(a, q) / pb:.3g}x" if pb and pb == pb else "n/a"
        lines.append(
            f"| {ours.rate:>6.0f} | {ratio(ours.rtts, bare.rtts, 50):>17} "
            f"| {ratio(ours.rtts, bare.rtts, 99):>17} "
            f"| {ratio(ours.durations, bare.durations, 50):>17} "
            f"| {ratio(ours.durations, bare.durations, 99):>17} "
            f"| {ours.server_stats.get('sessions_failed', 'n/a')!s:>25} |")
    best_ours = max((o.rate for o, _ in pairs if o.sustained), default=0)
    best_bare = max((b.rate for _, b in pairs if b.sustained), default=0)
    lines += ["", f"highest rate sustained with 0 failures: ours {best_ours:g}/s, "
              f"bare {best_bare:g}/s"]
    for ours, bare in pairs:
        for r in (ours, bare):
            if r.errors:
                lines.append(f"errors {r.label}@{r.rate:g}: {r.errors}")
    return "\n".join(lines)


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
