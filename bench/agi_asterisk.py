"""FastAGI on a real Asterisk: the whole inbound call path under a fixed call rate.

    .venv/bin/python bench/agi_asterisk.py [--seconds 10] [--rates 50,100,200,300,400]
                                           [--talk-ms 1000] [--no-mirror]

Starts its own stack with :class:`testkit.stack.HotlineStack` (redis-server, an Asterisk
instance in the sid chroot, the core as a subprocess) with every prompt replaced by 0.1 s of
8 kHz silence, so the greeting's length does not dominate. For each rate R, one SIPp (uac,
sending G.711 a-law RTP from a 0.6 s cut of sip-tester's g711a.pcap, because Answer() waits
for the first inbound frame) places R calls/s for ``--seconds`` and hangs each call up
``--talk-ms`` after the answer. The same load goes, on the SAME Asterisk, to:

* ``agi``    line 12345: ``from-trunk`` → ``hotline-inbound`` (Answer, MixMonitor,
  AGI(agi://…/inbound) running the real InboundFlow: GET VARIABLE, SQLite insert of the call
  record, STREAM FILE greeting, SET VARIABLE, Redis enqueue) → ``hotline-wait`` (music on hold);
* ``plain``  a bench-only context: Answer, Playback(greeting), Wait, Hangup — no AGI;
* ``mirror`` a bench-only context doing the same media work as the real path without the AGI
  (Answer, MixMonitor, Playback(greeting), MusicOnHold), so ``mirror`` vs ``agi`` isolates
  what FastAGI and the core cost.

The bench-only context is reached through a bench-only pjsip endpoint identified by the
address its SIPp sends from (127.0.0.3; the carrier is 127.0.0.1, and Asterisk identifies by
address first), From user ``benchplain``; both come from HotlineStack's
``extra_endpoints``/``extra_dialplan``. (Before 2026-11-30 19:30 the plain and mirror callers
came from 127.0.0.1: since the carrier is identified by address they were the carrier's
calls and got 404 for ``plain`` — every plain call failed.)

Per rate it prints SIPp's counters (created, successful, failed) and, for ``agi``, how many
calls took the core path vs the fallback. A call counts as core path when the inbound flow ran
to its end and set ``HOTLINE_NEXT=wait`` (counted in the core, see below); everything else is a
FastAGI failure: fallback (CDR ``route=fallback`` in hotline-cdr.csv), the caller hanging up
while the AGI was still running (Asterisk's "AGI Script ... returning 4" in messages.log), a
flow error. As cross-checks it also reads the call records (SQLite in the stack's state dir:
present, route, ended) and the core log's warnings and errors.

FastAGI per-command round trip, measured on the server side: the core runs as
``bench/agi_asterisk.py --core-shim`` which wraps ``AgiSession.command`` (the real core, the
real flow, only timed: from the command's write to its reply being handed back to the flow,
as the flow sees it, event-loop delays included) and also times the call-record insert,
the Redis enqueue, the whole flow and the core's event-loop lag (a 10 ms sleeper). The
AgiServer itself exposes only counters (no timings). Each phase ends with SIGUSR1 to the core,
which writes the stats to a JSON file and resets them.

Bounded: every SIPp run has ``-m`` (R × seconds calls) and a global timeout; the stack
(Asterisk, core, redis-server, recordings) is stopped and removed on exit, failure, Ctrl-C
or SIGTERM. Loopback only.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from testkit import processes  # noqa: E402

BENCH_ENDPOINT_USER = "benchplain"
BENCH_SOURCE_IP = "127.0.0.3"
BENCH_ENDPOINT = f"""
; bench only: calls whose From user is {BENCH_ENDPOINT_USER} land in bench-plain
[{BENCH_ENDPOINT_USER}](media)
type = endpoint
context = bench-plain

; Requests are identified by address first (endpoint_identifier_order = ip,username): from the
; carrier's 127.0.0.1 a From user of {BENCH_ENDPOINT_USER} is the carrier's call (404 for
; "plain"), so the plain and mirror callers come from their own loopback address.
[{BENCH_ENDPOINT_USER}-identify]
type = identify
endpoint = {BENCH_ENDPOINT_USER}
match = {BENCH_SOURCE_IP}
"""
BENCH_DIALPLAN = """
; bench only (bench/agi_asterisk.py): the same load without AGI.
[bench-plain]
exten => plain,1,Answer()
 same => n,Playback(${HOTLINE_SOUNDS}/greeting-12345)
 same => n,Wait(60)
 same => n,Hangup()
exten => mirror,1,Answer()
 same => n,MixMonitor(${HOTLINE_RECORDINGS}/bench/${UNIQUEID}.wav)
 same => n,Playback(${HOTLINE_SOUNDS}/greeting-12345)
 same => n,MusicOnHold(default,60)
 same => n,Hangup()
"""
LINE = "12345"
CALLER = "13800138000"
PCAP_PACKETS = 20          # 20 × 30 ms of a-law from sip-tester's g711a.pcap


# ================================================================== core shim (subprocess)


class _Timings:
    def __init__(self) -> None:
        self.samples: dict[str, list[int]] = {}
        self.counts: dict[str, int] = {}

    def add(self, key: str, ns: int) -> None:
        self.samples.setdefault(key, []).append(ns)

    def count(self, key: str) -> None:
        self.counts[key] = self.counts.get(key, 0) + 1

    def swap(self) -> tuple[dict[str, list[int]], dict[str, int]]:
        out, self.samples = self.samples, {}
        counts, self.counts = self.counts, {}
        return out, counts


def _timed_sync(timings: _Timings, key: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter_ns()
        try:
            return fn(*args, **kwargs)
        finally:
            timings.add(key, time.perf_counter_ns() - t0)   # list.append: thread-safe
    return wrapper


def _summary_us(values: list[int]) -> dict[str, float]:
    v = sorted(values)
    n = len(v)

    def pct(p: float) -> float:
        return v[min(n - 1, max(0, int(round(p / 100 * n + 0.5)) - 1))] / 1000

    return {"n": n, "p50": pct(50), "p90": pct(90), "p99": pct(99), "max": v[-1] / 1000,
            "mean": sum(v) / n / 1000}


def core_shim(config: str, stats_file: str) -> int:
    """Run the real core (``stack.core.main``) with timing wrappers; SIGUSR1 dumps stats."""
    import asyncio

    import stack.core as core_mod
    from hotline_core.acd import Distributor
    from hotline_core.call_records import CallLog
    from ivr.agi import AgiHangup
    from ivr.agi.server import AgiServer
    from ivr.agi.session import AgiSession
    from ivr.call_events import CallEventBridge
    from ivr.flows.inbound import InboundFlow
    from ivr.records import AsyncCallLog

    timings = _Timings()
    servers: list[AgiServer] = []
    clock = time.perf_counter_ns

    def timed(key_of: Callable[..., str], fn: Callable[..., Any]) -> Callable[..., Any]:
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            t0 = clock()
            try:
                return await fn(*args, **kwargs)
            finally:
                timings.add(key_of(*args, **kwargs), clock() - t0)
        return wrapper

    def verb(_self: Any, line: str, *a: Any, **k: Any) -> str:
        words = line.split(None, 2)
        two = " ".join(words[:2])
        return "cmd " + (two if two in ("GET VARIABLE", "SET VARIABLE", "STREAM FILE")
                         else words[0])

    AgiSession.command = timed(verb, AgiSession.command)  # type: ignore[method-assign]
    AsyncCallLog.offered = timed(lambda *a, **k: "db insert call record",  # type: ignore[method-assign]
                                 AsyncCallLog.offered)
    AsyncCallLog.ended = timed(lambda *a, **k: "db update call ended",  # type: ignore[method-assign]
                               AsyncCallLog.ended)
    Distributor.enqueue = timed(lambda *a, **k: "redis enqueue",  # type: ignore[method-assign]
                                Distributor.enqueue)
    CallLog.offered = _timed_sync(  # type: ignore[method-assign]
        timings, "sqlite insert (in thread)", CallLog.offered)
    CallLog.ended = _timed_sync(  # type: ignore[method-assign]
        timings, "sqlite update (in thread)", CallLog.ended)

    orig_set = AgiSession.set_variable

    async def set_variable(self: AgiSession, name: str, value: str) -> None:
        await orig_set(self, name, value)
        if name == "HOTLINE_NEXT":
            self._bench_next = value  # type: ignore[attr-defined]

    AgiSession.set_variable = set_variable  # type: ignore[method-assign]
    orig_flow = InboundFlow.__call__

    async def flow(self: InboundFlow, session: AgiSession) -> None:
        t0 = clock()
        outcome = "error"
        try:
            await orig_flow(self, session)
            outcome = f"next={getattr(session, '_bench_next', 'unset')}"
        except AgiHangup:
            outcome = "hangup"
            raise
        except Exception as exc:
            outcome = f"error {type(exc).__name__}"
            raise
        finally:
            timings.add("flow total", clock() - t0)
            timings.count(f"flow outcome: {outcome}")

    InboundFlow.__call__ = flow  # type: ignore[method-assign]

    orig_handle = CallEventBridge.handle

    async def handle(self: CallEventBridge, event: Any) -> None:
        timings.count(f"ami event {event.get('Event')}")
        t0 = clock()
        try:
            await orig_handle(self, event)
        finally:
            timings.add("ami event handling (bridge)", clock() - t0)

    CallEventBridge.handle = handle  # type: ignore[method-assign]

    orig_agi_start = AgiServer.start

    async def agi_start(self: AgiServer) -> None:
        servers.append(self)
        await orig_agi_start(self)

        async def lag() -> None:
            while True:
                t0 = clock()
                await asyncio.sleep(0.01)
                timings.add("event-loop lag", max(0, clock() - t0 - 10_000_000))

        task = asyncio.get_running_loop().create_task(lag(), name="bench-loop-lag")
        servers_tasks.append(task)

    servers_tasks: list[asyncio.Task[None]] = []
    AgiServer.start = agi_start  # type: ignore[method-assign]

    def dump(_sig: int, _frame: Any) -> None:
        data, counts = timings.swap()
        out: dict[str, Any] = {k: _summary_us(v) for k, v in data.items() if v}
        out["counts"] = counts
        out["agi_server"] = servers[0].stats if servers else {}
        tmp = stats_file + ".tmp"
        with open(tmp, "w") as fh:
            json.dump(out, fh)
        os.replace(tmp, stats_file)

    sync = os.environ.get("BENCH_SQLITE_SYNCHRONOUS")
    if sync:
        # Experiment only (--sqlite-synchronous): the same engine plus one PRAGMA.
        from sqlalchemy import event
        orig_make_engine = core_mod.make_engine  # type: ignore[attr-defined]

        def make_engine(url: str) -> Any:
            engine = orig_make_engine(url)
            if url.startswith("sqlite"):
                @event.listens_for(engine, "connect")
                def _sync(dbapi_conn: Any, _record: Any) -> None:
                    dbapi_conn.execute(f"PRAGMA synchronous={sync}")
            return engine

        core_mod.make_engine = make_engine  # type: ignore[attr-defined]

    profile: list[Any] = []
    if os.environ.get("BENCH_PROFILE"):
        # Experiment only (--profile): cProfile of the core's main thread (the event loop),
        # top functions by own time written next to the stats at every dump.
        import cProfile
        import pstats
        profile.append(cProfile.Profile())
        profile[0].enable()
        plain_dump = dump

        def dump_with_profile(sig: int, frame: Any) -> None:
            prof = profile[0]
            prof.disable()
            out = io.StringIO()
            pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(30)
            Path(stats_file + ".prof.txt").write_text(out.getvalue())
            prof.dump_stats(stats_file + ".pstats")   # for callers/callees afterwards
            profile[0] = cProfile.Profile()
            profile[0].enable()
            plain_dump(sig, frame)

        signal.signal(signal.SIGUSR1, dump_with_profile)
    else:
        signal.signal(signal.SIGUSR1, dump)
    return core_mod.main(["--config", config])


# ================================================================== bench side


def _write_silence(path: Path, seconds: float = 0.1) -> None:
    from testkit.sipp import write_silence_wav

    write_silence_wav(path, seconds)


def _short_pcap(src: Path, dest: Path, packets: int) -> None:
    from testkit.sipp import short_pcap

    short_pcap(src, dest, packets)


def _cpu_ticks(pid: int | None) -> int:
    if not pid:
        return 0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])   # utime + stime (all threads)


def _machine_ticks() -> tuple[int, int]:
    parts = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = parts[3] + parts[4]
    return sum(parts) - idle, sum(parts)


def _pid_listening(needle: str) -> int | None:
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if needle in cmd:
            return int(d.name)
    return None


@dataclass
class Phase:
    kind: str
    rate: int
    seconds: int
    created: int = 0
    successful: int = 0
    failed: int = 0
    failed_detail: dict[str, int] = field(default_factory=dict)
    wall: float = 0.0
    answer_ms: float | None = None
    cpu: dict[str, float] = field(default_factory=dict)
    load: float = 0.0
    cdr_calls: int = 0
    fallback: int = 0
    with_record: int = 0
    core_ok: int = 0
    no_record: int = 0
    records_not_ended: int = 0
    bridge_catchup_s: float | None = None
    record_routes: dict[str, int] = field(default_factory=dict)
    stats: dict[str, Any] = field(default_factory=dict)
    core_log_problems: list[str] = field(default_factory=list)
    sipp_rc: int = 0
    forced_hangups: int = 0   # channels still up 60 s after SIPp ended, hung up by the bench
    flows: dict[str, int] = field(default_factory=dict)      # core side: flow outcomes
    agi_results: dict[str, int] = field(default_factory=dict)  # Asterisk side: AGI() results
    # redis-server's own counters over the phase (INFO stats): commands and new connections
    redis_commands: int = 0
    redis_connections: int = 0

    @property
    def agi_failed(self) -> int:
        return self.created - self.core_ok


_TIME = re.compile(r"^(\d+):(\d+):(\d+):(\d+)$")


def _achieved(ph: Phase, talk_ms: int) -> float:
    """Calls per second SIPp really placed (the last call's talk time is not load)."""
    return ph.created / max(0.1, ph.wall - talk_ms / 1000)


def _ms(value: str) -> float | None:
    m = _TIME.match(value.strip())
    if not m:
        return None
    h, mi, s, frac = m.groups()
    # SIPp writes hh:mm:ss:mmm, or hh:mm:ss:mmmmmm with -trace_stat microseconds
    scale = 1000.0 if len(frac) > 3 else 1.0
    return ((int(h) * 60 + int(mi)) * 60 + int(s)) * 1000 + int(frac) / scale


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        from testkit.stack import Agent, HotlineStack

        self.args = args
        max_rate = max(args.rates)
        calls_at_once = int(max_rate * (args.talk_ms / 1000 + 2.5)) + 50

        bench = self

        class BenchStack(HotlineStack):
            def start_core(self, index: int | None = None) -> None:
                # the real core (one instance), run through the timing shim
                log = open(self.tmp / "core.log", "ab")  # noqa: SIM115
                env = dict(os.environ, HOTLINE_AMI_SECRET=self.settings.ami_secret)
                if bench.args.profile:
                    env["BENCH_PROFILE"] = "1"
                if bench.args.sqlite_synchronous:
                    env["BENCH_SQLITE_SYNCHRONOUS"] = bench.args.sqlite_synchronous
                self.core = subprocess.Popen(
                    [sys.executable, str(Path(__file__).resolve()), "--core-shim",
                     "--config", str(self.config), "--stats-file", str(bench.stats_file)],
                    cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=env,
                    start_new_session=True)
                self.wait_healthy()

        # One agent logged in but on a break: callers take the real path (greeting, then
        # the waiting line) rather than the voice-message path for a line nobody serves.
        self.stack = BenchStack(agents=[Agent("1001", {"general": 1})],
                                rtp_ports=2 * calls_at_once,
                                extra_endpoints=BENCH_ENDPOINT, extra_dialplan=BENCH_DIALPLAN)
        self.stats_file = self.stack.tmp / "agi-stats.json"
        self.sipp_proc: subprocess.Popen[bytes] | None = None

    # -- set-up -------------------------------------------------------------------------
    def start(self) -> None:
        from stack.prompts import read_prompts
        from stack.settings import REPO_ROOT

        prompts = self.stack.tmp / "config" / "prompts"
        prompts.mkdir(parents=True, exist_ok=True)
        for p in read_prompts(REPO_ROOT / "asterisk_conf" / "prompts.txt"):
            _write_silence(prompts / f"{p.name}.wav")
        t0 = time.monotonic()
        self.stack.start()
        self.stack.login("1001")
        self.stack.api("POST", "/api/agents/1001/pause", {"reason": "bench"})
        print(f"stack up in {time.monotonic() - t0:.1f} s: Asterisk instance "
              f"{self.stack.spec.name}, SIP 127.0.0.1:{self.stack.settings.sip_port}, "
              f"RTP {self.stack.settings.rtp_start}-{self.stack.settings.rtp_end}, "
              f"FastAGI 127.0.0.1:{self.stack.settings.agi_port}", flush=True)
        work = self.stack.sipp.work
        pcap = self.stack.spec.root / "usr/share/sip-tester/g711a.pcap"
        _short_pcap(pcap, work / "short.pcap", PCAP_PACKETS)
        inside = self.stack.sipp.inside
        xml = (ROOT / "tests" / "sipp" / "caller.xml").read_text()
        xml = xml.replace("/usr/share/sip-tester/g711a.pcap", f"{inside}/short.pcap")
        (work / "bench-caller.xml").write_text(xml)
        (self.stack.spec.recordings_dir / "bench").mkdir(parents=True, exist_ok=True)
        os.chmod(self.stack.spec.recordings_dir / "bench", 0o777)
        redis_port = self.stack.settings.redis_url.rsplit(":", 1)[1].split("/")[0]
        self.redis_pid = _pid_listening(f"--port {redis_port}")
        self.db = self.stack.settings.state_dir / "hotline.db"
        self.cdr = self.stack.spec.cdr_file
        self.messages = self.stack.spec.host_dir / "log" / "messages.log"
        self.sip_port = self._free_port_pair()

    def _free_port_pair(self) -> tuple[int, int]:
        from testkit.stack import free_udp_port
        lo, hi = self.stack.settings.rtp_start, self.stack.settings.rtp_end
        sip = free_udp_port()
        while True:
            media = free_udp_port() // 2 * 2
            if not lo - 2 <= media <= hi + 2 and media < 65000:
                return sip, media

    def stop(self) -> None:
        if self.sipp_proc is not None and self.sipp_proc.poll() is None:
            processes.stop(self.sipp_proc, grace=5, group=True)
        if self.args.keep_core_log and (self.stack.tmp / "core.log").exists():
            shutil.copyfile(self.stack.tmp / "core.log", self.args.keep_core_log)
        self.stack.stop()

    # -- one phase ----------------------------------------------------------------------
    def run_phase(self, kind: str, rate: int) -> Phase:
        from stack.asterisk import sipp_argv

        args = self.args
        ph = Phase(kind, rate, args.seconds)
        count = rate * args.seconds
        inside, work = self.stack.sipp.inside, self.stack.sipp.work
        stat = f"bench-{kind}-{rate}.csv"
        (work / stat).unlink(missing_ok=True)
        number, caller = (LINE, CALLER) if kind == "agi" else (kind, BENCH_ENDPOINT_USER)
        sip, media = self.sip_port
        limit = int(rate * (args.talk_ms / 1000 + 2.5)) + 50
        argv = sipp_argv(
            self.stack.spec.root, "-sf", f"{inside}/bench-caller.xml", "-s", number,
            "-key", "caller", caller, "-d", str(args.talk_ms),
            "-i", "127.0.0.1" if kind == "agi" else BENCH_SOURCE_IP,
            "-p", str(sip), "-mp", str(media), "-r", str(rate), "-m", str(count),
            "-l", str(limit), "-nostdin", "-timeout", f"{args.seconds + 60}s",
            "-recv_timeout", "15000", "-trace_stat", "-stf", f"{inside}/{stat}", "-fd", "1",
            "-trace_err", "-error_file", f"{inside}/bench-{kind}-{rate}.err",
            f"127.0.0.1:{self.stack.settings.sip_port}")
        cdr_off = self.cdr.stat().st_size if self.cdr.exists() else 0
        msg_off = self.messages.stat().st_size if self.messages.exists() else 0
        log_off = (self.stack.tmp / "core.log").stat().st_size
        pids = {"asterisk": self.stack.asterisk.proc.pid if self.stack.asterisk and
                self.stack.asterisk.proc else None,
                "core": self.stack.core.pid if self.stack.core else None,
                "redis": self.redis_pid}
        ph.load = os.getloadavg()[0]
        redis0 = self._redis_counters()
        before = {k: _cpu_ticks(p) for k, p in pids.items()}
        m_busy0, m_all0 = _machine_ticks()
        t0 = time.monotonic()
        self.sipp_proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL,
                                          stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
                                          start_new_session=True)
        sipp_pid = self.sipp_proc.pid
        sipp_ticks = 0
        while self.sipp_proc.poll() is None:
            sipp_ticks = max(sipp_ticks, _cpu_ticks(sipp_pid))
            if time.monotonic() - t0 > args.seconds + 90:
                processes.stop(self.sipp_proc, grace=5, group=True)
                break
            time.sleep(0.2)
        ph.sipp_rc = self.sipp_proc.returncode
        ph.wall = time.monotonic() - t0
        after = {k: _cpu_ticks(p) for k, p in pids.items()}
        m_busy1, m_all1 = _machine_ticks()
        hz = os.sysconf("SC_CLK_TCK")
        ph.cpu = {k: (after[k] - before[k]) / hz / ph.wall * 100 for k in pids}
        ph.cpu["sipp"] = sipp_ticks / hz / ph.wall * 100
        ncpu = os.cpu_count() or 1
        ph.cpu["machine"] = (m_busy1 - m_busy0) / max(1, m_all1 - m_all0) * 100 * ncpu
        self._read_sipp_stats(ph, work / stat)
        ph.forced_hangups = self._drain()
        redis1 = self._redis_counters()
        ph.redis_commands = redis1[0] - redis0[0]
        ph.redis_connections = redis1[1] - redis0[1]
        if kind == "agi":
            self._agi_outcome(ph, cdr_off)
            ph.agi_results = self._agi_results(msg_off)
        else:
            ph.cdr_calls = len([r for r in self._cdr_rows(cdr_off)
                                if r["dcontext"] == "bench-plain"])
        ph.core_log_problems = self._log_problems(log_off)
        return ph

    def _redis_counters(self) -> tuple[int, int]:
        """redis-server's commands processed and connections received so far."""
        import redis

        client = redis.Redis.from_url(self.stack.settings.redis_url, socket_timeout=5)
        try:
            stats = client.info("stats")
        finally:
            client.close()
        return (int(stats["total_commands_processed"]),
                int(stats["total_connections_received"]))

    def _read_sipp_stats(self, ph: Phase, path: Path) -> None:
        try:
            rows = list(csv.reader(io.StringIO(path.read_text()), delimiter=";"))
        except OSError:
            return
        if len(rows) < 2:
            return
        head, last = rows[0], rows[-1]
        row = dict(zip(head, last, strict=False))
        ph.created = int(row.get("TotalCallCreated", 0) or 0)
        ph.successful = int(row.get("SuccessfulCall(C)", 0) or 0)
        ph.failed = int(row.get("FailedCall(C)", 0) or 0)
        ph.failed_detail = {k[:-3]: int(v) for k, v in row.items()
                            if k.startswith("Failed") and k.endswith("(C)") and k != "FailedCall(C)"
                            and v.isdigit() and int(v)}
        ph.answer_ms = _ms(row.get("ResponseTime1(C)", ""))

    def _drain(self, timeout: float = 60.0) -> int:
        """Wait until Asterisk has no channels left (every call hung up); after ``timeout``
        hang the rest up so the next phase starts clean. Returns channels hung up so."""
        ast = self.stack.asterisk
        assert ast is not None

        def channels() -> int | None:
            try:
                out = ast.cli("core show channels count")
            except subprocess.TimeoutExpired:
                return None    # Asterisk too busy to answer its CLI: still draining
            m = re.search(r"(\d+) active channels?", out)
            return int(m.group(1)) if m else None

        forced = 0
        for limit, force in ((timeout, True), (30.0, False)):
            deadline = time.monotonic() + limit
            left = None
            while time.monotonic() < deadline:
                left = channels()
                if left == 0:
                    time.sleep(1.0)
                    return forced
                time.sleep(0.5)
            if force:
                forced = left or 0
                with contextlib.suppress(subprocess.TimeoutExpired):
                    ast.cli("channel request hangup all", timeout=30)
        time.sleep(1.0)
        return forced

    def _cdr_rows(self, offset: int) -> list[dict[str, str]]:
        from ivr.reconcile import COLUMNS
        if not self.cdr.exists():
            return []
        with open(self.cdr, "rb") as fh:
            fh.seek(offset)
            text = fh.read().decode("utf-8", errors="replace")
        return [dict(zip(COLUMNS, r, strict=True)) for r in csv.reader(io.StringIO(text))
                if len(r) == len(COLUMNS)]

    def _agi_outcome(self, ph: Phase, cdr_off: int) -> None:
        calls: dict[str, list[dict[str, str]]] = {}
        for r in self._cdr_rows(cdr_off):
            if r["line"] == LINE:
                calls.setdefault(r["uniqueid"], []).append(r)
        ph.cdr_calls = len(calls)
        fallback = {u for u, rows in calls.items() if any(r["route"] == "fallback" for r in rows)}
        ph.fallback = len(fallback)
        # The event bridge marks records ended from AMI Hangup events: wait for it to catch up.
        t0 = time.monotonic()
        records: dict[str, tuple[str, str, Any]] = {}
        while True:
            records = self._records(list(calls))
            not_ended = sum(1 for _, _, ended in records.values() if ended is None)
            if not_ended == 0 or time.monotonic() - t0 > 30:
                break
            time.sleep(0.5)
        ph.bridge_catchup_s = time.monotonic() - t0
        ph.records_not_ended = not_ended
        ph.with_record = len(records)
        ph.no_record = len(set(calls) - set(records) - fallback)
        routes: dict[str, int] = {}
        for route, _, _ in records.values():
            routes[route] = routes.get(route, 0) + 1
        ph.record_routes = routes
        if self.stack.core is not None and self.stack.core.poll() is None:
            self.stats_file.unlink(missing_ok=True)
            os.kill(self.stack.core.pid, signal.SIGUSR1)
            for _ in range(50):
                if self.stats_file.exists():
                    ph.stats = json.loads(self.stats_file.read_text())
                    prof = Path(str(self.stats_file) + ".prof.txt")
                    if self.args.profile and prof.exists():
                        with open(self.args.profile, "a") as fh:
                            fh.write(f"==== {ph.kind} {ph.rate}/s\n{prof.read_text()}\n")
                        raw = Path(str(self.stats_file) + ".pstats")
                        if raw.exists():
                            shutil.copyfile(raw, f"{self.args.profile}.{ph.kind}-{ph.rate}.pstats")
                    break
                time.sleep(0.1)
        # The core path: the flow ran to its end and told the dialplan to wait for an agent.
        ph.flows = dict(ph.stats.get("counts", {}))
        ph.core_ok = ph.flows.get("flow outcome: next=wait", 0)

    def _agi_results(self, offset: int) -> dict[str, int]:
        """Asterisk's side: 'AGI Script ... completed, returning N' (0 ok, 4 hung up in AGI,
        -1 could not connect)."""
        names = {"0": "ok", "4": "hangup during AGI", "-1": "failure"}
        out: dict[str, int] = {}
        pat = re.compile(rb"AGI Script agi://\S+ completed, returning (-?\d+)")
        try:
            with open(self.messages, "rb") as fh:
                if fh.seek(0, os.SEEK_END) < offset:
                    offset = 0      # the log was rotated or recreated meanwhile
                fh.seek(offset)
                data = fh.read()
        except FileNotFoundError:
            return {"n/a (messages.log missing)": 0}
        for m in pat.finditer(data):
            key = names.get(m.group(1).decode(), m.group(1).decode())
            out[key] = out.get(key, 0) + 1
        return out

    def _records(self, ids: list[str]) -> dict[str, tuple[str, str, Any]]:
        if not ids or not self.db.exists():
            return {}
        out: dict[str, tuple[str, str, Any]] = {}
        con = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=10)
        try:
            for i in range(0, len(ids), 500):
                chunk = ids[i:i + 500]
                q = ("SELECT id, route, disposition, ended_at FROM call_records WHERE id IN "
                     f"({','.join('?' * len(chunk))})")
                for cid, route, disp, ended in con.execute(q, chunk):
                    out[cid] = (route, disp, ended)
        finally:
            con.close()
        return out

    def _log_problems(self, offset: int) -> list[str]:
        with open(self.stack.tmp / "core.log", "rb") as fh:
            fh.seek(offset)
            lines = fh.read().decode(errors="replace").splitlines()
        bad = [ln for ln in lines if " WARNING " in ln or " ERROR " in ln or "Traceback" in ln]
        counts: dict[str, int] = {}
        for ln in bad:
            key = re.sub(r"\d+(\.\d+)?", "N", ln.split(" ", 2)[-1])[:160]
            counts[key] = counts.get(key, 0) + 1
        return [f"{n}× {k}" for k, n in sorted(counts.items(), key=lambda kv: -kv[1])]



# ================================================================== report


def _fmt_cpu(cpu: dict[str, float]) -> str:
    return " ".join(f"{k} {v:.0f}%" for k, v in cpu.items() if k != "machine" and v >= 0.5) + \
        f" | machine {cpu.get('machine', 0):.0f}%"


def report(results: list[tuple[int, dict[str, Phase]]], args: argparse.Namespace) -> None:
    print()
    print(f"## {args.seconds} s per rate, talk {args.talk_ms} ms after answer, "
          f"{os.cpu_count()} CPUs")
    print()
    print("| rate/s | plain ok/created (failed) | mirror ok/created (failed) | "
          "line 12345 SIPp ok/created (failed) | core path | fallback | hung up in AGI | "
          "FastAGI failed | agi/plain | agi/mirror |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for rate, by in results:
        a, p, m = by.get("agi"), by.get("plain"), by.get("mirror")

        def cell(ph: Phase | None) -> str:
            return "–" if ph is None else f"{ph.successful}/{ph.created} ({ph.failed})"

        def ratio(x: Phase | None, a: Phase | None = a) -> str:
            if a is None or x is None or not x.successful:
                return "–"
            return f"{a.core_ok / x.successful:.2f}"

        print(f"| {rate} | {cell(p)} | {cell(m)} | {cell(a)} | "
              f"{a.core_ok if a else '–'} | {a.fallback if a else '–'} | "
              f"{a.agi_results.get('hangup during AGI', 0) if a else '–'} | "
              f"{a.agi_failed if a else '–'} | "
              f"{ratio(p)} | {ratio(m)} |")
    print()
    print("Achieved call rate (SIPp created / wall s), answer time (SIPp INVITE→200 mean), CPU "
          "(% of one core over the SIPp run):")
    for rate, by in results:
        for kind, ph in by.items():
            ans = f"{ph.answer_ms:.0f} ms" if ph.answer_ms is not None else "?"
            span = max(0.1, ph.wall - args.talk_ms / 1000)   # the last call's talk is no load
            per_call = ", ".join(
                f"{k} {ph.cpu.get(k, 0) / 100 * ph.wall / max(1, ph.created) * 1000:.1f}"
                for k in ("asterisk", "core"))
            ours = sum(v for k, v in ph.cpu.items() if k != "machine")
            print(f"  {rate:>4}/s {kind:<6} {ph.created / span:6.1f}/s over {ph.wall:5.1f} s, "
                  f"answer {ans}; {_fmt_cpu(ph.cpu)} (others "
                  f"{max(0.0, ph.cpu.get('machine', 0) - ours):.0f}%); CPU ms/call {per_call}"
                  + (f"; SIPp failures {ph.failed_detail}" if ph.failed_detail else "")
                  + (f"; {ph.forced_hangups} channels left 60 s after, hung up"
                     if ph.forced_hangups else ""))
    print()
    print("FastAGI (core side, µs: p50 / p99 / max; n):")
    for rate, by in results:
        a = by.get("agi")
        if a is None:
            continue
        st = a.stats
        parts = []
        for key in ("cmd GET VARIABLE", "cmd SET VARIABLE", "cmd STREAM FILE",
                    "db insert call record", "sqlite insert (in thread)", "redis enqueue",
                    "db update call ended", "sqlite update (in thread)", "flow total",
                    "ami event handling (bridge)", "event-loop lag"):
            s = st.get(key)
            if s:
                parts.append(f"{key}: {s['p50']:.0f} / {s['p99']:.0f} / {s['max']:.0f} "
                             f"(n={s['n']})")
        print(f"  {rate}/s: " + "\n         ".join(parts))
        outcomes = {k: v for k, v in a.flows.items() if k.startswith("flow")}
        events = sum(v for k, v in a.flows.items() if k.startswith("ami event"))
        top = sorted(((v, k[10:]) for k, v in a.flows.items() if k.startswith("ami event")),
                     reverse=True)[:6]
        print(f"        flow outcomes (core): {outcomes}; AGI() results (Asterisk): "
              f"{a.agi_results}; CDR route=fallback: {a.fallback}")
        print(f"        AMI events read by the core: {events} "
              f"({events / max(1, a.created):.1f} per call; top: "
              + ", ".join(f"{k} {v}" for v, k in top) + ")")
        srv = st.get("agi_server", {})
        print(f"        AgiServer counters (cumulative): {srv}")
        redis_per_call = a.redis_commands / max(1, a.created)
        print(f"        redis-server: {redis_per_call:.1f} commands per call, "
              f"{a.redis_connections} new connections")
        print(f"        records: {a.record_routes} routes; not ended after catch-up: "
              f"{a.records_not_ended} (waited {a.bridge_catchup_s or 0:.1f} s); "
              f"CDR calls {a.cdr_calls}, without a record and not fallback {a.no_record}")
    print()
    # A rate counts as sustained only if SIPp kept it: when answers slow down SIPp places
    # fewer calls per second than asked (0 failed at "200/s" may be 150/s achieved).
    for kind in ("plain", "mirror", "agi"):
        clean = [(rate, _achieved(by[kind], args.talk_ms)) for rate, by in results
                 if kind in by and by[kind].created > 0 and
                 (by[kind].agi_failed if kind == "agi"
                  else by[kind].created - by[kind].successful) == 0]
        best = max(clean, key=lambda c: c[1], default=None)
        print(f"highest rate with 0 failed calls, {kind}: "
              + (f"{best[0]}/s asked, {best[1]:.1f}/s achieved" if best else "none"))
    problems = [(rate, kind, ph.core_log_problems) for rate, by in results
                for kind, ph in by.items() if ph.core_log_problems]
    if problems:
        print()
        print("Core log warnings/errors during the phases:")
        for rate, kind, lines in problems:
            for ln in lines[:8]:
                print(f"  {rate}/s {kind}: {ln}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seconds", type=int, default=10)
    p.add_argument("--rates", default="50,100,200,300,400")
    p.add_argument("--talk-ms", type=int, default=1000)
    p.add_argument("--no-mirror", action="store_true")
    p.add_argument("--kinds", default="agi,plain,mirror",
                   help="phases per rate, from agi,plain,mirror")
    p.add_argument("--sqlite-synchronous", choices=("NORMAL", "OFF", "FULL"),
                   help="experiment: run the core with this PRAGMA synchronous on its SQLite "
                        "(the project's engine leaves SQLite's default, FULL in WAL mode)")
    p.add_argument("--json", type=Path, help="also write the raw results here")
    p.add_argument("--keep-core-log", type=Path, help="copy the core's log here at the end")
    p.add_argument("--profile", type=Path,
                   help="experiment: cProfile the core's event-loop thread; write the top "
                        "functions per agi phase into this file (slows the core down)")
    p.add_argument("--core-shim", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--config", help=argparse.SUPPRESS)
    p.add_argument("--stats-file", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.core_shim:
        return core_shim(args.config, args.stats_file)
    args.rates = [int(r) for r in str(args.rates).split(",") if r.strip()]
    if not args.rates or min(args.rates) <= 0 or args.seconds <= 0:
        raise SystemExit("--rates and --seconds must be positive")

    def on_term(_sig: int, _frame: Any) -> None:
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_term)

    bench = Bench(args)
    results: list[tuple[int, dict[str, Phase]]] = []
    try:
        bench.start()
        kinds = [k for k in args.kinds.split(",") if k in ("agi", "plain", "mirror")
                 and not (args.no_mirror and k == "mirror")]
        for rate in args.rates:
            by: dict[str, Phase] = {}
            for kind in kinds:
                ph = bench.run_phase(kind, rate)
                by[kind] = ph
                extra = (f", core path {ph.core_ok}, fallback {ph.fallback}, "
                         f"AGI() {ph.agi_results}" if kind == "agi" else "")
                print(f"{rate:>4}/s {kind:<6}: created {ph.created}, ok {ph.successful}, "
                      f"failed {ph.failed}{extra}  [{ph.wall:.1f} s; {_fmt_cpu(ph.cpu)}]",
                      flush=True)
            results.append((rate, by))
    except KeyboardInterrupt:
        print("interrupted: stopping the stack", file=sys.stderr)
    except Exception:
        traceback.print_exc()
        print("bench failed: stopping the stack, reporting what was measured", file=sys.stderr)
    finally:
        bench.stop()
    report(results, args)
    if args.json:
        args.json.write_text(json.dumps(
            [{"rate": r, **{k: vars(ph) for k, ph in by.items()}} for r, by in results],
            indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
