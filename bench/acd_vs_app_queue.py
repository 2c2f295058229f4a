"""The core's call distribution vs Asterisk's app_queue, on the same Asterisk and phones.

    .venv/bin/python bench/acd_vs_app_queue.py [--calls 40] [--agents 2] [--keep]

Starts one stack with :class:`testkit.stack.HotlineStack` (redis-server, an Asterisk 22
instance in the sid chroot, the core as a subprocess) with every prompt replaced by 20 ms of
8 kHz silence, and ``--agents`` SIPp phones (uas, ``bench/sipp/bench_agent.xml``) that ring
50 ms, answer, talk and then hang up themselves. Callers are one SIPp uac per phase
(``bench/sipp/bench_caller.xml``): each call has its own caller number (injection file), sends
0.6 s of G.711 a-law (Answer() waits for the first inbound frame) and waits until the
platform sends BYE. Every SIPp runs with ``-trace_msg``: all latencies below are taken
from SIPp's own message traces (the time SIPp sent or received each SIP message, one clock:
all processes run on this machine), nothing from AMI.

Two paths, the same Asterisk, the same phones, the same Answer() step:

* ``core``      line 12345: ``from-trunk`` → ``hotline-inbound`` (Answer, MixMonitor,
  FastAGI inbound flow: call record, 20 ms greeting, Redis enqueue) → the distributor picks
  the agent → AMI Redirect to ``hotline-connect/<agent>`` → Dial(PJSIP/<agent>).
  Agents are logged in to the core (wrap-up 0 in the test stack).
* ``app_queue`` a bench-only extension ``99001`` in ``from-trunk`` (extra dialplan text):
  Answer() then straight to Queue(fallback-general) (strategy leastrecent, retry 1,
  wrapuptime 0 — the real fallback queue whose members are the same agents). No AGI, so the
  core never sees these calls; the agents are not logged in to the core while it runs
  (the app_queue phases run first).

Cases (per path):

1. ``free agent``: calls one at a time (1 call/s, ``--calls`` calls), every agent free.
   Measured: caller's INVITE sent → the agent's phone receives its INVITE (the agent INVITE is
   matched to the caller by the caller number in its From). For the core this interval also
   holds MixMonitor, the FastAGI flow and the 20 ms greeting that app_queue does not do;
   the table also shows caller's 200 OK received → agent INVITE received.
2. ``agent frees up``: ``--calls`` + agents + 4 callers arrive at once (50/s); agents talk
   300–1300 ms (uniform, so agent turnovers do not lock to app_queue's 1 s retry) and hang
   up. Measured on each agent's phone: it sends BYE (its call ends) → it receives the next
   INVITE. A sample counts only if the BYE came after every caller had been answered by
   Asterisk + 0.3 s (all callers are in the waiting state) and a next INVITE came at all.

Bounded: every SIPp run has ``-m`` and a global ``-timeout``; the stack (Asterisk, core,
redis-server, phones) is stopped and its files removed on exit, failure, Ctrl-C or SIGTERM
(``--keep`` keeps the files). Loopback only.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from testkit import processes  # noqa: E402

SCENARIOS = Path(__file__).resolve().parent / "sipp"
APPQ_EXTEN = "99001"
LINE = "12345"
RING_MS = 50
GREETING_S = 0.02
PCAP_PACKETS = 20          # 20 × 30 ms of a-law from sip-tester's g711a.pcap
WARMUP_CALLERS = 4

# Merged into the rendered extensions.conf: pbx_config adds a repeated [context] to the
# existing one, and the exact extension wins over from-trunk's _X. pattern.
BENCH_DIALPLAN = f"""
; bench only (bench/acd_vs_app_queue.py): the same agents through app_queue, no AGI.
[from-trunk]
exten => {APPQ_EXTEN},1,Goto(bench-app-queue,s,1)

[bench-app-queue]
exten => s,1,Set(CDR(hotline_route)=bench-app-queue)
 same => n,Answer()
 same => n,Queue(fallback-general)
 same => n,Hangup()
"""


# ============================================================================ helpers


def _write_silence(path: Path, seconds: float = 0.1) -> None:
    from testkit.sipp import write_silence_wav

    write_silence_wav(path, seconds)


def _short_pcap(src: Path, dest: Path, packets: int) -> None:
    from testkit.sipp import short_pcap

    short_pcap(src, dest, packets)



def _machine_ticks() -> tuple[int, int]:
    parts = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = parts[3] + parts[4]
    return sum(parts) - idle, sum(parts)


def pct(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile (p99 of fewer than 100 samples is the maximum)."""
    if not values:
        return None
    v = sorted(values)
    k = max(1, -(-len(v) * p // 100))   # ceil(n·p/100)
    return v[int(k) - 1]


# ============================================================================ SIPp traces

# -trace_msg writes, per message:
#   ----------------------------------------------- 2026-11-22T21:25:19.322290Z
#   UDP message received [899] bytes:
#   <the message>
_HEAD = re.compile(r"^-{20,} (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z?)\s*$")
_DIR = re.compile(r"^\S+ message (sent|received)")


@dataclass
class Msg:
    t: float          # seconds since the epoch
    sent: bool
    first: str        # request or status line
    headers: dict[str, str]


def parse_trace(path: Path) -> list[Msg]:
    if not path.exists():
        return []
    out: list[Msg] = []
    t: float | None = None
    sent = False
    lines: list[str] = []

    def flush() -> None:
        body = [ln for ln in lines if ln.strip()]
        if t is None or not body:
            return
        headers: dict[str, str] = {}
        for ln in body[1:]:
            name, sep, value = ln.partition(":")
            if sep and name.strip() and " " not in name.strip():
                headers.setdefault(name.strip().lower(), value.strip())
        out.append(Msg(t, sent, body[0].strip(), headers))

    for raw in path.read_text(errors="replace").splitlines():
        m = _HEAD.match(raw)
        if m:
            flush()
            lines = []
            stamp = m.group(1)
            t = dt.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
            continue
        d = _DIR.match(raw)
        if d and not lines:
            sent = d.group(1) == "sent"
            continue
        lines.append(raw)
    flush()
    return out


def _from_user(msg: Msg) -> str:
    m = re.search(r"sip:([^@;>]+)@", msg.headers.get("from", ""))
    return m.group(1) if m else ""


def _method(msg: Msg) -> str:
    return "" if msg.first.startswith("SIP/2.0") else msg.first.split(" ", 1)[0]


def _status(msg: Msg) -> int:
    return int(msg.first.split()[1]) if msg.first.startswith("SIP/2.0") else 0


def _cseq_method(msg: Msg) -> str:
    return msg.headers.get("cseq", " ").split()[-1]


@dataclass
class CallerView:
    invite_sent: dict[str, float] = field(default_factory=dict)      # number → t
    answered: dict[str, float] = field(default_factory=dict)         # number → 200 OK t
    released: dict[str, float] = field(default_factory=dict)         # number → BYE received


def caller_view(msgs: list[Msg]) -> CallerView:
    cv = CallerView()
    by_callid: dict[str, str] = {}
    for m in msgs:
        cid = m.headers.get("call-id", "")
        if m.sent and _method(m) == "INVITE":
            num = _from_user(m)
            by_callid[cid] = num
            cv.invite_sent.setdefault(num, m.t)
        elif not m.sent and _status(m) == 200 and _cseq_method(m) == "INVITE":
            num = by_callid.get(cid, "")
            cv.answered.setdefault(num, m.t)
        elif not m.sent and _method(m) == "BYE":
            cv.released.setdefault(by_callid.get(cid, ""), m.t)
    return cv


@dataclass
class AgentEvent:
    t: float
    kind: str          # "invite" (received) or "bye" (sent)
    caller: str = ""


def agent_events(msgs: list[Msg]) -> list[AgentEvent]:
    seen: set[tuple[str, str]] = set()
    out: list[AgentEvent] = []
    for m in msgs:
        cid = m.headers.get("call-id", "")
        if not m.sent and _method(m) == "INVITE" and ("invite", cid) not in seen:
            seen.add(("invite", cid))
            out.append(AgentEvent(m.t, "invite", _from_user(m)))
        elif m.sent and _method(m) == "BYE" and ("bye", cid) not in seen:
            seen.add(("bye", cid))
            out.append(AgentEvent(m.t, "bye"))
    out.sort(key=lambda e: e.t)
    return out


# ============================================================================ the bench


@dataclass
class PhaseResult:
    path: str
    case: str
    callers: int
    sipp_rc: int
    caller_placed: int = 0      # INVITEs the caller SIPp sent (it stops at its time budget)
    caller_ok: int = 0          # callers released by BYE after reaching an agent
    caller_failed: int = 0      # placed but not released (lost or cut by the budget)
    agent_invites: int = 0
    samples_ms: list[float] = field(default_factory=list)
    samples2_ms: list[float] = field(default_factory=list)    # case 1: 200 OK → agent INVITE
    excluded: int = 0
    unmatched: int = 0
    wall_s: float = 0.0
    load1: float = 0.0          # 1-minute load average when the phase started
    machine_busy: float = 0.0   # % of all CPUs busy during the phase (everyone's work)
    fallback_rows: int = 0      # CDR rows of this phase that went to the fallback queue
    notes: list[str] = field(default_factory=list)


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        from testkit.stack import Agent, HotlineStack

        self.args = args
        self.stack = HotlineStack(
            agents=[Agent(str(1001 + i), {"general": 1}, ring_ms=RING_MS)
                    for i in range(args.agents)],
            rtp_ports=2 * (args.calls + args.agents + WARMUP_CALLERS) * 2 + 40,
            extra_dialplan=BENCH_DIALPLAN)
        self.phones: dict[str, subprocess.Popen[bytes]] = {}
        self.callers: subprocess.Popen[bytes] | None = None
        self.number_base = 13900000000
        self.inside = ""            # set in start(): our SIPp directory as SIPp sees it
        self.work = Path("/nonexistent")

    # -- set-up / tear-down ------------------------------------------------------------
    def start(self) -> None:
        from stack.prompts import read_prompts
        from stack.settings import REPO_ROOT

        prompts = self.stack.tmp / "config" / "prompts"
        prompts.mkdir(parents=True, exist_ok=True)
        for p in read_prompts(REPO_ROOT / "asterisk_conf" / "prompts.txt"):
            _write_silence(prompts / f"{p.name}.wav", GREETING_S)
        t0 = time.monotonic()
        self.stack.start()
        # The stack's own phones answer and wait for BYE; ours hang up themselves and trace.
        for proc in self.stack.phones.values():
            processes.stop(proc)
        self.stack.phones.clear()
        # Our SIPp files live in the chroot's /tmp, apart from the instance directory.
        self.inside = f"/tmp/acd-vs-app-queue-{os.getpid()}"
        self.work = self.stack.spec.root / self.inside.lstrip("/")
        self.work.mkdir(parents=True, exist_ok=True)
        work, inside = self.work, self.inside
        _short_pcap(self.stack.spec.root / "usr/share/sip-tester/g711a.pcap",
                    work / "bench-short.pcap", PCAP_PACKETS)
        caller = (SCENARIOS / "bench_caller.xml").read_text()
        (work / "bench-caller.xml").write_text(
            caller.replace("PCAP_FILE", f"{inside}/bench-short.pcap"))
        agent = (SCENARIOS / "bench_agent.xml").read_text()
        for name, lo, hi in (("short", 200, 200), ("uniform", 300, 1300)):
            (work / f"bench-agent-{name}.xml").write_text(
                agent.replace("TALK_MIN", str(lo)).replace("TALK_MAX", str(hi)))
        assert self.stack.asterisk is not None
        dialplan = self.stack.asterisk.cli(f"dialplan show {APPQ_EXTEN}@from-trunk")
        if "bench-app-queue" not in dialplan:
            raise RuntimeError(f"bench extension not loaded:\n{dialplan}")
        print(f"stack up in {time.monotonic() - t0:.1f} s: Asterisk instance "
              f"{self.stack.spec.name}, SIP 127.0.0.1:{self.stack.settings.sip_port}, "
              f"agents {', '.join(a.id for a in self.stack.agents)}; tmp {self.stack.tmp}",
              flush=True)

    def stop(self) -> None:
        if self.callers is not None and self.callers.poll() is None:
            processes.stop(self.callers, grace=5, group=True)
        self._stop_phones()
        if not self.args.keep:
            self.stack.stop()
            if self.inside:
                shutil.rmtree(self.work, ignore_errors=True)
        else:
            os.environ["HOTLINE_KEEP_E2E"] = "1"
            self.stack.stop()
            print(f"kept: {self.stack.tmp}, {self.stack.spec.host_dir} and {self.work}")

    def _stop_phones(self) -> None:
        for proc in self.phones.values():
            if proc.poll() is None:
                processes.stop(proc, grace=5, group=True)
        self.phones.clear()

    def _start_phones(self, phase: str, talk: str) -> None:
        from stack.asterisk import sipp_argv

        self._stop_phones()
        work, inside = self.work, self.inside
        for a in self.stack.agents:
            (work / f"agent-{a.id}-{phase}.msg").unlink(missing_ok=True)
            argv = sipp_argv(
                self.stack.spec.root, "-sf", f"{inside}/bench-agent-{talk}.xml",
                "-d", str(RING_MS), "-i", "127.0.0.1", "-p", str(a.port),
                "-mp", str(a.media_port), "-rtp_echo", "-nostdin",
                "-trace_msg", "-message_file", f"{inside}/agent-{a.id}-{phase}.msg",
                "-trace_err", "-error_file", f"{inside}/agent-{a.id}-{phase}.err",
                f"127.0.0.1:{self.stack.settings.sip_port}")
            log = open(work / f"agent-{a.id}-{phase}.log", "wb")  # noqa: SIM115
            self.phones[a.id] = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                                 stdin=subprocess.DEVNULL,
                                                 start_new_session=True)
        time.sleep(0.5)
        for aid, proc in self.phones.items():
            if proc.poll() is not None:
                raise RuntimeError(f"agent phone {aid} exited: "
                                   f"{(work / f'agent-{aid}-{phase}.log').read_text()[-2000:]}")

    def _media_port(self) -> int:
        from testkit.stack import free_udp_port
        lo, hi = self.stack.settings.rtp_start, self.stack.settings.rtp_end
        while True:
            media = free_udp_port() // 2 * 2
            if not lo - 2 <= media <= hi + 2 and media < 65000 and \
                    all(abs(media - a.media_port) > 4 for a in self.stack.agents):
                return media

    # -- one phase ---------------------------------------------------------------------
    def run_phase(self, path: str, case: str) -> PhaseResult:
        from stack.asterisk import sipp_argv
        from testkit.stack import free_udp_port

        args = self.args
        phase = f"{path}-{case}"
        free = case == "free"
        n = args.calls if free else args.calls + args.agents + WARMUP_CALLERS
        self._start_phones(phase, "short" if free else "uniform")
        work, inside = self.work, self.inside
        numbers = [str(self.number_base + i) for i in range(1, n + 1)]
        self.number_base += 1000
        (work / f"callers-{phase}.csv").write_text(
            "SEQUENTIAL\n" + "".join(f"{x};\n" for x in numbers))
        (work / f"caller-{phase}.msg").unlink(missing_ok=True)
        number = LINE if path == "core" else APPQ_EXTEN
        rate, limit = ("1", "1") if free else ("50", str(n))
        budget = (n * 2.0 + 30) if free else (n * 1.6 + 30)
        argv = sipp_argv(
            self.stack.spec.root, "-sf", f"{inside}/bench-caller.xml",
            "-inf", f"{inside}/callers-{phase}.csv", "-s", number,
            "-i", "127.0.0.1", "-p", str(free_udp_port()), "-mp", str(self._media_port()),
            "-r", rate, "-m", str(n), "-l", limit, "-nostdin",
            "-timeout", f"{int(budget)}s", "-timeout_error", "-recv_timeout", "60000",
            "-trace_msg", "-message_file", f"{inside}/caller-{phase}.msg",
            "-trace_stat", "-stf", f"{inside}/caller-{phase}.csv", "-fd", "1",
            "-trace_err", "-error_file", f"{inside}/caller-{phase}.err",
            f"127.0.0.1:{self.stack.settings.sip_port}")
        res = PhaseResult(path, case, n, 0)
        print(f"[{phase}] {n} callers{' one at a time' if free else ' at once'} → "
              f"{'line ' + LINE if path == 'core' else 'exten ' + APPQ_EXTEN + ' (Queue)'}",
              flush=True)
        res.load1 = os.getloadavg()[0]
        busy0, all0 = _machine_ticks()
        cdr_rows0 = self._cdr_rows()
        t0 = time.monotonic()
        log = open(work / f"caller-{phase}.log", "wb")  # noqa: SIM115
        self.callers = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            self.callers.wait(timeout=budget + 15)
        except subprocess.TimeoutExpired:
            res.notes.append("caller SIPp killed after its time budget")
            processes.stop(self.callers, grace=5, group=True)
        res.sipp_rc = self.callers.returncode
        res.wall_s = time.monotonic() - t0
        busy1, all1 = _machine_ticks()
        res.machine_busy = 100.0 * (busy1 - busy0) / max(1, all1 - all0)
        time.sleep(0.5)   # the last BYE/200 reach the phones' traces
        self._stop_phones()
        res.fallback_rows = sum(1 for row in self._cdr_rows()[len(cdr_rows0):]
                                if row and row[-1] == "fallback")
        self._collect(res, phase)
        return res

    def _cdr_rows(self) -> list[list[str]]:
        path = self.stack.spec.cdr_file
        if not path.exists():
            return []
        return list(csv.reader(io.StringIO(path.read_text(errors="replace"))))

    def _collect(self, res: PhaseResult, phase: str) -> None:
        work = self.work
        cv = caller_view(parse_trace(work / f"caller-{phase}.msg"))
        res.caller_placed = len(cv.invite_sent)
        res.caller_ok = len(cv.released)
        res.caller_failed = res.caller_placed - res.caller_ok
        per_agent = {a.id: agent_events(parse_trace(work / f"agent-{a.id}-{phase}.msg"))
                     for a in self.stack.agents}
        invites = [e for evs in per_agent.values() for e in evs if e.kind == "invite"]
        res.agent_invites = len(invites)
        if res.case == "free":
            first_invite: dict[str, float] = {}
            for e in sorted(invites, key=lambda e: e.t):
                first_invite.setdefault(e.caller, e.t)
            for num, t_inv in cv.invite_sent.items():
                t_agent = first_invite.get(num)
                if t_agent is None:
                    res.unmatched += 1
                    continue
                res.samples_ms.append((t_agent - t_inv) * 1000)
                if num in cv.answered:
                    res.samples2_ms.append((t_agent - cv.answered[num]) * 1000)
        else:
            all_waiting = max(cv.answered.values(), default=0.0) + 0.3
            for evs in per_agent.values():
                for i, e in enumerate(evs):
                    if e.kind != "bye":
                        continue
                    nxt = next((x for x in evs[i + 1:] if x.kind == "invite"), None)
                    if nxt is None:
                        continue   # nobody left waiting
                    if e.t < all_waiting:
                        res.excluded += 1
                        continue
                    res.samples_ms.append((nxt.t - e.t) * 1000)

    # -- the core's view -----------------------------------------------------------------
    def login_all(self) -> None:
        for a in self.stack.agents:
            self.stack.login(a.id)

    def logout_all(self) -> None:
        for a in self.stack.agents:
            self.stack.api("POST", f"/api/agents/{a.id}/logout", {}, as_=a.id)

    def core_records(self) -> dict[str, int]:
        calls = self.stack.api("GET", "/api/calls?limit=1000").get("calls", [])
        out: dict[str, int] = {}
        for c in calls:
            key = str(c.get("disposition"))
            out[key] = out.get(key, 0) + 1
        return out

    def cdr_routes(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for row in self._cdr_rows():
            key = row[-1] if row and row[-1] else "(none)"
            out[key] = out.get(key, 0) + 1
        return out

    def core_log_problems(self) -> list[str]:
        text = self.stack.core_log()
        return [ln for ln in text.splitlines()
                if re.search(r"\b(ERROR|CRITICAL|Traceback|WARNING)\b", ln)]


# ============================================================================ report


def _fmt(v: float | None) -> str:
    return "—" if v is None else (f"{v:.1f}" if v < 100 else f"{v:.0f}")


def table(results: dict[str, PhaseResult]) -> str:
    rows = [
        ("free agent: caller INVITE → agent INVITE", "free", "samples_ms"),
        ("free agent: caller 200 OK → agent INVITE", "free", "samples2_ms"),
        ("agent frees up: agent BYE → next INVITE", "waiting", "samples_ms"),
    ]
    out = ["| metric | n core/app_queue | core p50 ms | core p99 ms | app_queue p50 ms "
           "| app_queue p99 ms | ratio p50 (app_queue/core) | ratio p99 |",
           "|---|---|---|---|---|---|---|---|"]
    for label, case, attr in rows:
        c = getattr(results.get(f"core-{case}"), attr, []) or []
        q = getattr(results.get(f"app_queue-{case}"), attr, []) or []
        c50, c99, q50, q99 = pct(c, 50), pct(c, 99), pct(q, 50), pct(q, 99)
        r50 = f"{q50 / c50:.2f}×" if c50 and q50 else "—"
        r99 = f"{q99 / c99:.2f}×" if c99 and q99 else "—"
        out.append(f"| {label} | {len(c)}/{len(q)} | {_fmt(c50)} | {_fmt(c99)} | "
                   f"{_fmt(q50)} | {_fmt(q99)} | {r50} | {r99} |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--calls", type=int, default=40, help="samples per case and path")
    ap.add_argument("--agents", type=int, default=2)
    ap.add_argument("--keep", action="store_true", help="keep the stack's files")
    ap.add_argument("--json", type=Path, help="also write the raw samples here")
    args = ap.parse_args(argv)
    if args.calls < 1 or args.agents < 1:
        ap.error("--calls and --agents must be positive")

    def on_term(_sig: int, _frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    bench = Bench(args)
    results: dict[str, PhaseResult] = {}
    problems_before: list[str] = []
    try:
        bench.start()
        # app_queue first: nobody is logged in to the core, so it distributes nothing.
        for case in ("free", "waiting"):
            r = bench.run_phase("app_queue", case)
            results[f"app_queue-{case}"] = r
            _print_phase(r)
        problems_before = bench.core_log_problems()
        bench.login_all()
        for case in ("free", "waiting"):
            r = bench.run_phase("core", case)
            results[f"core-{case}"] = r
            _print_phase(r)
        time.sleep(1.0)
        records = bench.core_records()
        routes = bench.cdr_routes()
        problems = bench.core_log_problems()
        print()
        print(table(results))
        print()
        print(f"core call records by disposition: {records}")
        print(f"CDR rows by route: {routes}")
        print(f"core log warnings/errors: {len(problems_before)} before the core phases, "
              f"{len(problems) - len(problems_before)} during them")
        for ln in problems[:20]:
            print("   ", ln[:300])
        if args.json:
            args.json.write_text(json.dumps({k: vars(v) for k, v in results.items()},
                                            indent=1))
        lost = sum(r.caller_failed for r in results.values())
        return 0 if lost == 0 and all(r.sipp_rc == 0 for r in results.values()) else 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        bench.stop()


def _print_phase(r: PhaseResult) -> None:
    s = r.samples_ms
    print(f"  {r.path}/{r.case}: {r.wall_s:.1f} s, SIPp rc {r.sipp_rc}, callers released "
          f"{r.caller_ok}/{r.caller_placed} placed of {r.callers}, "
          f"agent INVITEs {r.agent_invites}, samples {len(s)}"
          f" (excluded warm-up {r.excluded}, unmatched {r.unmatched}); "
          f"p50 {_fmt(pct(s, 50))} ms, p99 {_fmt(pct(s, 99))} ms, "
          f"max {_fmt(max(s) if s else None)} ms; load {r.load1:.1f}, machine busy "
          f"{r.machine_busy:.0f} %, fallback CDR rows {r.fallback_rows}"
          + (f"; {'; '.join(r.notes)}" if r.notes else ""), flush=True)


if __name__ == "__main__":
    sys.exit(main())
