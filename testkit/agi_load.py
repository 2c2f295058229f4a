"""The FastAGI load generator (it plays Asterisk) and its report, shared by
``bench/agi_load.py`` (the benchmark) and ``tests/ivr/test_agi_load.py`` (which keeps it honest).

Each session sends a realistic header block and answers every command with ``200 result=0``
until the server closes. Measured: per-command round trip, session duration, calls/s, failures.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass, field

from ivr.agi import AgiSession
from testkit.fake_asterisk import FakeAsterisk, agi_headers

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
