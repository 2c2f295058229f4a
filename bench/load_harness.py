"""Full-stack load harness (满负荷压测): the hotline's ceiling beside bare Asterisk's, one run.

    flock /tmp/bench.lock .venv/bin/python bench/load_harness.py \
        [--steps 50,100,200,300,400] [--agents 10] [--window 15] [--probes 6] [--json out]

Issue 14 item 1. One stack as ``hotline up`` runs it (:class:`testkit.stack.HotlineStack`:
redis-server with its password, an Asterisk instance in the sid chroot, the core as its own
process on SQLite), with the shipped prompts and recording on (every call on line 12345 is
MixMonitor-ed by the dialplan). ``--agents`` SIPp phones REGISTER from 127.0.0.2 with their
digest password, the agents log in, and the phones answer after 200 ms and echo what they
hear. Wrap-up is 0 (the test stack's setting) so an agent is free as soon as a call ends.

Per step N (concurrent callers) and per kind, on the SAME Asterisk, with the same callers
(SIPp uac, G.711 a-law RTP streamed all call long from sip-tester's g711a.pcap, placed at
50 calls/s, every call held ``ramp + 5 s + --window + 2 s`` after its answer):

* ``bare``    a bench-only endpoint (From user ``benchplain`` from 127.0.0.3, reused from
  bench/agi_asterisk.py) whose context answers and plays music on hold: Answer(),
  MusicOnHold(default) — no AGI, no recording, no core;
* ``hotline`` line 12345 from the carrier (127.0.0.1): the real inbound FastAGI flow, call
  record, recording, Redis line, the agents' phones (the first ``--agents`` callers talk,
  the rest wait with music and the ``waiting`` flow's announcements).

``--probes`` of the N callers are RTP probes (testkit/rtp_probe.py): their SDP names a socket
of this process, which records the RTP Asterisk sends (loss from sequence numbers, transit
jitter per RFC 3550) and talks back 20 ms frames. Half are placed before the others (on line
12345 they reach an agent and hear the echo of their own audio through the platform), half
after the ramp (they wait: music and announcements).

Measured while all N are up (``--window`` s): CPU of Asterisk, the core and redis-server
(/proc ticks, % of one core and ms per second per call), Asterisk's channel count, callers
in the Redis line; after the step: SIPp's counters (created, successful, failed,
retransmissions), CDR calls that took the fallback route, new recordings, the core log's
warnings. A step FAILS when a SIP call failed or was not placed, or (hotline) a call took
the fallback; the ceiling of a kind is its highest step that did not fail, and a kind that
failed a step runs no bigger step. Runs are bounded (``--budget`` s, every SIPp with ``-m``
and ``-timeout``); the stack is stopped and removed on exit, failure, Ctrl-C or SIGTERM.
Loopback only.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import struct
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import agi_asterisk as agi  # noqa: E402
from testkit import processes  # noqa: E402
from testkit.port_blocks import PortBlocks  # noqa: E402
from testkit.proc_sample import bench_end_line, bench_guard, bench_start  # noqa: E402
from testkit.rtp_probe import ProbeSummary, RtpProbes, summarise  # noqa: E402

LINE = "12345"
BARE_EXTEN = "moh"
AGENT_IP = "127.0.0.2"
RAMP_RATE = 50          # calls/s while a step fills
PROBE_RATE = 20
SETTLE_S = 5.0
KINDS = ("bare", "hotline")
# Bare Asterisk: answer and music on hold, nothing else (merged into agi_asterisk's
# bench-plain context, which the benchplain endpoint lands in).
BARE_DIALPLAN = f"""
; bench only (bench/load_harness.py): bare Asterisk, the same callers as line 12345.
[bench-plain]
exten => {BARE_EXTEN},1,Answer()
 same => n,MusicOnHold(default,3600)
 same => n,Hangup()
"""


# ================================================================== scenarios


def alaw_from_pcap(pcap: Path) -> bytes:
    """The a-law payloads of sip-tester's g711a.pcap (Ethernet/IPv4/UDP/RTP), in order."""
    data = pcap.read_bytes()
    out, off = [], 24
    while off + 16 <= len(data):
        incl = struct.unpack("<I", data[off + 8:off + 12])[0]
        frame = data[off + 16:off + 16 + incl]
        out.append(frame[14 + 20 + 8 + 12:])
        off += 16 + incl
    return b"".join(out)


def caller_scenario(template: str, alaw_inside: str) -> str:
    """tests/sipp/caller.xml streaming ``alaw_inside`` in a loop for the whole call."""
    pcap = '<exec play_pcap_audio="/usr/share/sip-tester/g711a.pcap"/>'
    assert pcap in template, "caller.xml changed: the harness streams instead of its pcap"
    return template.replace(pcap, f'<exec rtp_stream="{alaw_inside},-1,8"/>')


def probe_scenario(template: str) -> str:
    """tests/sipp/caller.xml whose SDP names a probe socket ([field0]) and sends no media."""
    text = re.sub(r"\s*<nop><action><exec play_pcap_audio=[^>]*/></action></nop>", "",
                  template)
    text = text.replace("c=IN IP[media_ip_type] [media_ip]", "c=IN IP4 127.0.0.1")
    assert "m=audio [media_port]" in text, "caller.xml changed: no SDP port to replace"
    return text.replace("m=audio [media_port]", "m=audio [field0]")


# ================================================================== results


@dataclass
class StepResult:
    kind: str
    callers: int
    placed: int = 0             # SIPp calls created (main + probes)
    successful: int = 0
    failed: int = 0
    failed_detail: dict[str, int] = field(default_factory=dict)
    retransmissions: int = 0
    channels: int = -1           # Asterisk's active channels during the window
    waiting: int = -1            # hotline: callers in the Redis line during the window
    cpu: dict[str, float] = field(default_factory=dict)    # % of one core over the window
    load: tuple[float, float, float] = (0.0, 0.0, 0.0)
    talking_probe: ProbeSummary | None = None
    waiting_probe: ProbeSummary | None = None
    all_probes: ProbeSummary | None = None
    fallback: int = 0
    recordings: int = 0
    forced_hangups: int = 0
    core_log_problems: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return (self.failed == 0 and self.placed == self.callers
                and self.successful == self.callers and self.fallback == 0)

    def per_call_ms(self, part: str) -> float:
        """CPU milliseconds per second per held call."""
        return self.cpu.get(part, 0.0) * 10 / max(1, self.callers)


def ceiling(results: list[StepResult], kind: str) -> tuple[int, bool]:
    """(highest step without failure, whether a bigger step failed)."""
    mine = [r for r in results if r.kind == kind]
    good = [r.callers for r in mine if r.ok]
    best = max(good, default=0)
    return best, any(not r.ok and r.callers > best for r in mine)


# ================================================================== the harness


class LoadHarness:
    """The stack, its registered agents' phones and one step at a time of callers."""

    def __init__(self, args: argparse.Namespace, core_module: str = "stack.core") -> None:
        from testkit.stack import Agent, HotlineStack

        self.args = args
        most = max(args.steps)
        self.agent_ids = [f"{2001 + i}" for i in range(args.agents)]
        self.stack = HotlineStack(
            core_module=core_module,
            agents=[Agent(a, {"general": 1}, registers=True) for a in self.agent_ids],
            rtp_ports=2 * (2 * most + args.agents + 50),
            extra_endpoints=agi.BENCH_ENDPOINT,
            extra_dialplan=agi.BENCH_DIALPLAN + BARE_DIALPLAN,
            calls_settings=(f"announce_seconds = {args.announce}"
                            if getattr(args, "announce", None) else ""))
        # SIPp streams each caller's audio from its own socket pair(s): one block for them.
        self.caller_ports = PortBlocks(4 * (most + 20))
        self.sipp_procs: list[subprocess.Popen[bytes]] = []

    # -- set-up -------------------------------------------------------------------------
    def start(self) -> None:
        import asyncio

        t0 = time.monotonic()
        self.stack.start()
        work, inside = self.stack.sipp.work, self.stack.sipp.inside
        (work / "load-caller.alaw").write_bytes(alaw_from_pcap(
            self.stack.spec.root / "usr/share/sip-tester/g711a.pcap"))
        template = (ROOT / "tests" / "sipp" / "caller.xml").read_text()
        (work / "load-caller.xml").write_text(
            caller_scenario(template, f"{inside}/load-caller.alaw"))
        (work / "load-probe.xml").write_text(probe_scenario(template))

        async def register_all() -> None:
            for agent in self.stack.agents:
                password = next(p.password for p in self.stack.spec.phones
                                if p.agent.id == agent.id)
                res = await self.stack.sipp.register(agent.id, password, local_ip=AGENT_IP,
                                                     port=agent.port, expect=200)
                if not res.ok:
                    raise RuntimeError(f"agent {agent.id} did not register: "
                                       f"{res.output[-800:]}")
        asyncio.run(register_all())
        for agent in self.stack.agents:
            self.stack.phones[agent.id] = self.stack.sipp.phone(
                agent.id, port=agent.port, media_port=agent.media_port, local_ip=AGENT_IP)
            self.stack.login(agent.id)
        proc = self.stack.redis.proc   # redis-server rewrites its command line: no search
        self.redis_pid = proc.pid if proc is not None else None
        self.cdr = self.stack.spec.cdr_file
        self.sip_port = agi.Bench._free_port_pair(self)  # type: ignore[arg-type]
        print(f"stack up in {time.monotonic() - t0:.1f} s: {len(self.agent_ids)} agents "
              f"registered from {AGENT_IP} and logged in; Asterisk {self.stack.spec.name}",
              flush=True)

    def pids(self) -> dict[str, int | None]:
        ast = self.stack.asterisk
        return {"asterisk": ast.proc.pid if ast is not None and ast.proc else None,
                "core": self.stack.core.pid if self.stack.core else None,
                "redis": self.redis_pid}

    def stop(self) -> None:
        for proc in self.sipp_procs:
            if proc.poll() is None:
                processes.stop(proc, grace=5, group=True)
        self.stack.stop()
        self.caller_ports.release()

    # -- callers ------------------------------------------------------------------------
    def _sipp(self, kind: str, scenario: str, count: int, rate: int, hold_s: float,
              tag: str, local_port: int, media_ports: tuple[int, int], *extra: str,
              limit: int | None = None, timeout_s: float | None = None
              ) -> tuple[subprocess.Popen[bytes], Path]:
        """One SIPp placing ``count`` calls at ``rate``/s (at most ``limit`` at once), each
        hung up ``hold_s`` after its answer; its statistics file is the second value."""
        from stack.asterisk import sipp_argv

        inside, work = self.stack.sipp.inside, self.stack.sipp.work
        stat = f"load-{tag}.csv"
        (work / stat).unlink(missing_ok=True)
        number, caller, source = ((LINE, agi.CALLER, "127.0.0.1") if kind == "hotline" else
                                  (BARE_EXTEN, agi.BENCH_ENDPOINT_USER, agi.BENCH_SOURCE_IP))
        argv = sipp_argv(
            self.stack.spec.root, "-sf", f"{inside}/{scenario}", "-s", number,
            "-key", "caller", caller, "-d", str(int(hold_s * 1000)), "-i", source,
            "-p", str(local_port), "-mp", str(media_ports[0]),
            "-max_rtp_port", str(media_ports[1]),
            "-r", str(rate), "-m", str(count), "-l", str(limit or count), "-nostdin",
            "-timeout", f"{int(timeout_s or hold_s + 120)}s", "-recv_timeout", "30000",
            "-trace_stat", "-stf", f"{inside}/{stat}", "-fd", "1",
            "-trace_err", "-error_file", f"{inside}/load-{tag}.err", *extra,
            f"127.0.0.1:{self.stack.settings.sip_port}")
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        self.sipp_procs.append(proc)
        return proc, work / stat

    def _probe_calls(self, kind: str, ports: list[int], hold_s: float, tag: str
                     ) -> tuple[subprocess.Popen[bytes], Path]:
        from testkit.stack import free_udp_port

        inf = self.stack.sipp.work / f"load-{tag}.inf"
        inf.write_text("SEQUENTIAL\n" + "".join(f"{p};\n" for p in ports))
        # SIPp binds a media socket even for calls that send nothing: one of the stack's.
        media = self.stack._media_port()
        return self._sipp(kind, "load-probe.xml", len(ports), PROBE_RATE, hold_s, tag,
                          free_udp_port(), (media, media + 3), "-inf",
                          f"{self.stack.sipp.inside}/{inf.name}")

    # -- one step -----------------------------------------------------------------------
    def run_step(self, kind: str, n: int) -> StepResult:
        args = self.args
        res = StepResult(kind, n)
        t_start = time.monotonic()
        probes = min(args.probes, n)
        first, last = probes // 2, probes - probes // 2
        main = n - probes
        ramp = main / RAMP_RATE
        hold = ramp + SETTLE_S + args.window + 2
        probe_ports = [self.stack._media_port() for _ in range(probes)]
        ears = RtpProbes(probe_ports).start()
        cdr_off = self.cdr.stat().st_size if self.cdr.exists() else 0
        log_off = (self.stack.tmp / "core.log").stat().st_size
        recs_before = self._recordings()
        started: list[tuple[subprocess.Popen[bytes], Path]] = []
        try:
            if first:
                started.append(self._probe_calls(kind, probe_ports[:first], hold + ramp,
                                                 f"{kind}-{n}-p1"))
                time.sleep(first / PROBE_RATE + 0.3)
            sip, _ = self.sip_port
            started.append(self._sipp(kind, "load-caller.xml", main, RAMP_RATE, hold,
                                      f"{kind}-{n}", sip,
                                      (self.caller_ports.start, self.caller_ports.end - 1)))
            time.sleep(ramp + 0.3)
            if last:
                started.append(self._probe_calls(kind, probe_ports[first:], hold - ramp,
                                                 f"{kind}-{n}-p2"))
            time.sleep(SETTLE_S)
            self._window(res)
            deadline = time.monotonic() + hold + 150
            for proc, _ in started:
                while proc.poll() is None and time.monotonic() < deadline:
                    time.sleep(0.3)
                if proc.poll() is None:
                    processes.stop(proc, grace=5, group=True)
        finally:
            streams = ears.stop()
        for _, stat in started:
            self._add_sipp_stats(res, stat)
        res.talking_probe = summarise(streams[:first])
        res.waiting_probe = summarise(streams[first:])
        res.all_probes = summarise(streams)
        res.forced_hangups = agi.Bench._drain(self, timeout=30)  # type: ignore[arg-type]
        if kind == "hotline":
            rows = agi.Bench._cdr_rows(self, cdr_off)  # type: ignore[arg-type]
            res.fallback = len({r["uniqueid"] for r in rows
                                if r.get("line") == LINE and r.get("route") == "fallback"})
            res.recordings = self._recordings() - recs_before
            res.core_log_problems = agi.Bench._log_problems(self, log_off)  # type: ignore[arg-type]
            self._settle_agents()
        res.seconds = time.monotonic() - t_start
        return res

    def _window(self, res: StepResult) -> None:
        pids = self.pids()
        before = {k: agi._cpu_ticks(p) for k, p in pids.items()}
        m0 = agi._machine_ticks()
        t0 = time.monotonic()
        res.channels = self._channels()
        if res.kind == "hotline":
            lines = self.stack.api("GET", "/api/queues").get("lines", {})
            res.waiting = sum(int(f.get("waiting", 0)) for f in lines.values())
        time.sleep(max(0.0, self.args.window - (time.monotonic() - t0)))
        wall = time.monotonic() - t0
        after = {k: agi._cpu_ticks(p) for k, p in pids.items()}
        m1 = agi._machine_ticks()
        hz = os.sysconf("SC_CLK_TCK")
        res.cpu = {k: (after[k] - before[k]) / hz / wall * 100 for k in pids}
        res.cpu["machine"] = ((m1[0] - m0[0]) / max(1, m1[1] - m0[1]) * 100
                              * (os.cpu_count() or 1))
        res.load = os.getloadavg()

    def _channels(self) -> int:
        assert self.stack.asterisk is not None
        try:
            out = self.stack.asterisk.cli("core show channels count", timeout=20)
        except subprocess.TimeoutExpired:
            return -1
        m = re.search(r"(\d+) active channels?", out)
        return int(m.group(1)) if m else -1

    def _recordings(self) -> int:
        return sum(1 for p in self.stack.spec.recordings_dir.rglob("*.wav")
                   if not p.name.endswith("-in.wav"))

    def _add_sipp_stats(self, res: StepResult, stat: Path) -> None:
        one = argparse.Namespace(created=0, successful=0, failed=0, failed_detail={},
                                 answer_ms=None)
        agi.Bench._read_sipp_stats(self, one, stat)  # type: ignore[arg-type]
        res.placed += one.created
        res.successful += one.successful
        res.failed += one.failed
        for k, v in one.failed_detail.items():
            res.failed_detail[k] = res.failed_detail.get(k, 0) + v
        res.retransmissions += _last_column(stat, "Retransmissions(C)")

    def _settle_agents(self, timeout: float = 30.0) -> None:
        """Every agent back to ready before the next step (a call ending may lag)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            agents = self.stack.api("GET", "/api/agents").get("agents", [])
            mine = [a for a in agents if a["agent_id"] in self.agent_ids]
            if mine and all(a["state"] == "ready" for a in mine):
                return
            time.sleep(0.5)


def _last_column(stat: Path, name: str) -> int:
    try:
        rows = [r.split(";") for r in stat.read_text().splitlines() if r.strip()]
    except OSError:
        return 0
    if len(rows) < 2 or name not in rows[0]:
        return 0
    value = rows[-1][rows[0].index(name)]
    return int(value) if value.isdigit() else 0


# ================================================================== report


def _probe_cell(p: ProbeSummary | None) -> str:
    if p is None or p.callers == 0:
        return "–"
    return (f"{p.jitter_p99_ms:.1f} / {p.loss_pct:.2f} % ({p.heard}/{p.callers} heard, "
            f"{p.received} pkts)")


def report(results: list[StepResult], args: argparse.Namespace) -> str:
    lines = [
        f"{len(args.agent_ids)} agents; window {args.window:.0f} s per step; CPU as % of one "
        "core over the window and as ms of CPU per second per held call",
        "",
        "| step | kind | placed ok/failed | retrans | channels | in line | Asterisk % (ms/s/call) "
        "| core % (ms/s/call) | redis % | machine % | jitter p99 ms / loss, talking probes "
        "| waiting probes | fallback | recordings | load 1/5/15 | result |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r.callers} | {r.kind} | {r.successful}/{r.failed} of {r.placed} | "
            f"{r.retransmissions} | {r.channels} | {r.waiting if r.waiting >= 0 else '–'} | "
            f"{r.cpu.get('asterisk', 0):.1f} ({r.per_call_ms('asterisk'):.2f}) | "
            f"{r.cpu.get('core', 0):.1f} ({r.per_call_ms('core'):.2f}) | "
            f"{r.cpu.get('redis', 0):.1f} | {r.cpu.get('machine', 0):.0f} | "
            f"{_probe_cell(r.talking_probe)} | {_probe_cell(r.waiting_probe)} | "
            f"{r.fallback if r.kind == 'hotline' else '–'} | "
            f"{r.recordings if r.kind == 'hotline' else '–'} | "
            f"{r.load[0]:.1f}/{r.load[1]:.1f}/{r.load[2]:.1f} | "
            f"{'ok' if r.ok else 'FAILED'} |")
    lines.append("")
    ceilings = {k: ceiling(results, k) for k in KINDS}
    for kind, (best, failed_above) in ceilings.items():
        lines.append(f"ceiling {kind}: {best} concurrent calls"
                     + ("" if failed_above else " (no step failed: at least this)"))
    (hb, hf), (bb, bf) = ceilings["hotline"], ceilings["bare"]
    if bb:
        ratio = f"{hb / bb:.2f}"
        if not bf and hf:
            ratio = f"<= {ratio} (bare never failed)"
        elif not bf and not hf:
            ratio = f"{ratio} (neither failed: both at least the top step)"
        lines.append(f"ratio hotline / bare: {ratio}")
    for r in results:
        if r.failed_detail or r.core_log_problems or r.forced_hangups:
            lines.append(f"{r.kind} {r.callers}: SIPp failures {r.failed_detail}; forced "
                         f"hang-ups {r.forced_hangups}; core log {r.core_log_problems[:4]}")
    return "\n".join(lines)


def parse_steps(text: str) -> list[int]:
    steps = [int(x) for x in text.split(",") if x.strip()]
    if not steps or min(steps) <= 0 or max(steps) > 1000:
        raise SystemExit("--steps: 1..1000 concurrent callers each")
    return sorted(steps)


def estimate_s(n: int, window: float) -> float:
    """Seconds one step of one kind takes (ramp, settle, window, hold tail, drain)."""
    return n / RAMP_RATE * 2 + SETTLE_S + window + 2 + 8


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    p.add_argument("--steps", default="50,100,200,300,400")
    p.add_argument("--agents", type=int, default=10)
    p.add_argument("--window", type=float, default=15.0)
    p.add_argument("--probes", type=int, default=6)
    p.add_argument("--kinds", default="bare,hotline")
    p.add_argument("--announce", type=int,
                   help="seconds between a waiting caller's announcements (default: the "
                        "shipped 30 s; a step's calls last about ramp + 22 s, so with 30 s "
                        "most waiting callers hang up before their first announcement)")
    p.add_argument("--budget", type=float, default=570.0,
                   help="seconds for the whole run; a step that would overrun is skipped")
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    args.steps = parse_steps(args.steps)
    kinds = [k for k in args.kinds.split(",") if k in KINDS]
    if not kinds or args.agents < 1 or args.window <= 0 or args.probes < 0:
        raise SystemExit("--kinds from bare,hotline; --agents >= 1; --window > 0")

    t0 = bench_start()
    harness = LoadHarness(args)
    args.agent_ids = harness.agent_ids
    results: list[StepResult] = []
    with bench_guard("harness", harness.stop):
        harness.start()
        stopped: set[str] = set()
        for n in args.steps:
            for kind in kinds:
                if kind in stopped:
                    continue
                if time.monotonic() - t0 + estimate_s(n, args.window) > args.budget:
                    print(f"{kind} {n}: skipped (would overrun --budget)", flush=True)
                    stopped.add(kind)
                    continue
                r = harness.run_step(kind, n)
                results.append(r)
                print(f"{kind:>7} {n:>4}: placed {r.placed} ok {r.successful} failed "
                      f"{r.failed}, channels {r.channels}, fallback {r.fallback}, cpu "
                      f"{ {k: round(v, 1) for k, v in r.cpu.items()} }, probes "
                      f"{_probe_cell(r.all_probes)} [{r.seconds:.0f} s, load "
                      f"{r.load[0]:.1f}]", flush=True)
                if not r.ok:
                    stopped.add(kind)
    print()
    print(report(results, args))
    print(bench_end_line(t0))
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
