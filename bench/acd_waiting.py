"""Callers waiting at once on the running stack: announcements and the core's CPU per caller.

    .venv/bin/python bench/acd_waiting.py [--steps 50,100,200,400] [--window 36]
                                          [--announce 12] [--json out.json]

Issue 14 item 2. Starts its own stack (:class:`testkit.stack.HotlineStack`: redis-server,
an Asterisk instance in the sid chroot, the core as a subprocess) with one agent logged in
and paused, so every caller takes the real path — the inbound flow, then the waiting loop
(music on hold, and every ``--announce`` seconds the ``waiting`` FastAGI flow: position and
estimated wait). Prompts are 0.1 s of silence so the announcement's length does not hide
the core's time.

For each step N, one SIPp (uac, G.711 a-law RTP from sip-tester's g711a.pcap) places N calls
at 50 calls/s that all stay on the line: they wait together. Once all are in (ramp + 5 s),
for ``--window`` seconds the bench measures the CPU of the core, Asterisk and redis-server
(/proc ticks) and the core counts every ``waiting`` flow (a timing shim around
``WaitingFlow.__call__`` in the real core, dumped on SIGUSR1): how many ran, how many failed
(an exception, e.g. a Redis timeout — dead air for that caller), how long each took, how many
distinct callers heard one, and per caller the gap between two announcements (on time means
close to ``--announce`` + the announcement itself). Then the callers hang up and the next
step starts on an empty line.

Bounded: every SIPp run has ``-m N`` and a global timeout; the stack is stopped and removed
on exit, failure, Ctrl-C or SIGTERM. Loopback only.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
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

from bench import agi_asterisk as agi  # noqa: E402
from testkit import processes  # noqa: E402

LINE = "12345"
RAMP_RATE = 50      # calls/s while the line fills


# ================================================================== core shim (subprocess)


def core_shim(config: str, stats_file: str) -> int:
    """The real core (``stack.core.main``) with the waiting flow timed; SIGUSR1 dumps."""
    import stack.core as core_mod
    from ivr.agi.session import AgiSession
    from ivr.flows.waiting import WaitingFlow

    runs: list[tuple[str, float, float, str]] = []   # call, start, seconds, outcome
    orig = WaitingFlow.__call__

    async def flow(self: WaitingFlow, session: AgiSession) -> None:
        t0 = time.monotonic()
        outcome = "ok"
        try:
            await orig(self, session)
        except Exception as exc:
            outcome = f"error {type(exc).__name__}"
            raise
        except BaseException:
            outcome = "hangup/cancelled"
            raise
        finally:
            runs.append((session.env.get("uniqueid", ""), t0, time.monotonic() - t0,
                         outcome))

    WaitingFlow.__call__ = flow  # type: ignore[method-assign]

    def dump(_sig: int, _frame: Any) -> None:
        taken = runs[:]
        del runs[: len(taken)]
        tmp = stats_file + ".tmp"
        with open(tmp, "w") as fh:
            json.dump(taken, fh)
        os.replace(tmp, stats_file)

    signal.signal(signal.SIGUSR1, dump)
    return core_mod.main(["--config", config])


# ================================================================== bench side


def _pct(values: list[float], p: float) -> float:
    v = sorted(values)
    return v[min(len(v) - 1, max(0, int(round(p / 100 * len(v) + 0.5)) - 1))] if v else 0.0


@dataclass
class Step:
    callers: int
    window: float = 0.0
    load: tuple[float, float, float] = (0.0, 0.0, 0.0)
    created: int = 0
    successful: int = 0
    failed: int = 0
    waiting_in_redis: int = -1
    flows: int = 0
    flows_failed: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    callers_announced: int = 0
    flow_p50_ms: float = 0.0
    flow_p99_ms: float = 0.0
    flow_max_ms: float = 0.0
    gap_p50_s: float = 0.0
    gap_max_s: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)   # % of one core over the window
    forced_hangups: int = 0
    core_log_problems: list[str] = field(default_factory=list)

    @property
    def core_ms_per_caller_s(self) -> float:
        """Core CPU milliseconds per second per waiting caller."""
        return self.cpu.get("core", 0.0) * 10 / self.callers


class WaitingBench:
    def __init__(self, args: argparse.Namespace) -> None:
        from testkit.stack import Agent, HotlineStack

        self.args = args
        bench = self

        class BenchStack(HotlineStack):
            def start_core(self) -> None:
                log = open(self.tmp / "core.log", "ab")  # noqa: SIM115
                env = dict(os.environ, HOTLINE_AMI_SECRET=self.settings.ami_secret)
                self.core = subprocess.Popen(
                    [sys.executable, str(Path(__file__).resolve()), "--core-shim",
                     "--config", str(self.config), "--stats-file", str(bench.stats_file)],
                    cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=env,
                    start_new_session=True)
                self.wait_healthy()

        most = max(args.steps)
        self.stack = BenchStack(agents=[Agent("1001", {"general": 1})],
                                rtp_ports=2 * (most + 50),
                                calls_settings=f"announce_seconds = {args.announce}")
        self.stats_file = self.stack.tmp / "waiting-stats.json"
        self.sipp_proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        from stack.prompts import read_prompts
        from stack.settings import REPO_ROOT

        prompts = self.stack.tmp / "config" / "prompts"
        prompts.mkdir(parents=True, exist_ok=True)
        for p in read_prompts(REPO_ROOT / "asterisk_conf" / "prompts.txt"):
            agi._write_silence(prompts / f"{p.name}.wav")
        t0 = time.monotonic()
        self.stack.start()
        self.stack.login("1001")
        self.stack.api("POST", "/api/agents/1001/pause", {"reason": "bench"})
        print(f"stack up in {time.monotonic() - t0:.1f} s (Asterisk {self.stack.spec.name})",
              flush=True)
        proc = self.stack.redis.proc   # redis-server rewrites its command line: no search
        self.redis_pid = proc.pid if proc is not None else None
        self.sip_port = agi.Bench._free_port_pair(self)  # type: ignore[arg-type]
        xml = (ROOT / "tests" / "sipp" / "caller.xml").read_text()
        (self.stack.sipp.work / "waiting-caller.xml").write_text(xml)

    def stop(self) -> None:
        if self.sipp_proc is not None and self.sipp_proc.poll() is None:
            processes.stop(self.sipp_proc, grace=5, group=True)
        if self.args.keep_core_log and (self.stack.tmp / "core.log").exists():
            import shutil
            shutil.copyfile(self.stack.tmp / "core.log", self.args.keep_core_log)
        self.stack.stop()

    def _dump_runs(self) -> list[tuple[str, float, float, str]]:
        self.stats_file.unlink(missing_ok=True)
        assert self.stack.core is not None
        os.kill(self.stack.core.pid, signal.SIGUSR1)
        deadline = time.monotonic() + 30
        while not self.stats_file.exists():
            if time.monotonic() > deadline:
                raise RuntimeError("the core did not dump its waiting-flow stats")
            time.sleep(0.1)
        return [tuple(r) for r in json.loads(self.stats_file.read_text())]

    def _waiting_in_redis(self) -> int:
        import redis as redis_sync

        from hotline_core.redis_keys import RedisKeys
        client = redis_sync.Redis.from_url(self.stack.settings.redis_url, socket_timeout=10)
        try:
            return int(client.zcard(RedisKeys(self.stack.settings.redis_namespace).acd.waiting))
        finally:
            client.close()

    def run_step(self, n: int) -> Step:
        from stack.asterisk import sipp_argv

        args = self.args
        st = Step(n, window=args.window)
        ramp = n / RAMP_RATE
        hold_s = ramp + 5 + args.window + 5
        inside, work = self.stack.sipp.inside, self.stack.sipp.work
        stat = f"waiting-{n}.csv"
        (work / stat).unlink(missing_ok=True)
        sip, media = self.sip_port
        argv = sipp_argv(
            self.stack.spec.root, "-sf", f"{inside}/waiting-caller.xml", "-s", LINE,
            "-key", "caller", agi.CALLER, "-d", str(int(hold_s * 1000)), "-i", "127.0.0.1",
            "-p", str(sip), "-mp", str(media), "-r", str(RAMP_RATE), "-m", str(n),
            "-l", str(n), "-nostdin", "-timeout", f"{int(hold_s + 90)}s",
            "-recv_timeout", "20000", "-trace_stat", "-stf", f"{inside}/{stat}", "-fd", "1",
            f"127.0.0.1:{self.stack.settings.sip_port}")
        log_off = (self.stack.tmp / "core.log").stat().st_size
        self.sipp_proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL,
                                          stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
                                          start_new_session=True)
        time.sleep(ramp + 5)
        st.waiting_in_redis = self._waiting_in_redis()
        pids = {"core": self.stack.core.pid if self.stack.core else None,
                "asterisk": self.stack.asterisk.proc.pid if self.stack.asterisk
                and self.stack.asterisk.proc else None,
                "redis": self.redis_pid}
        self._dump_runs()                     # forget the ramp
        before = {k: agi._cpu_ticks(p) for k, p in pids.items()}
        m0 = agi._machine_ticks()
        t0 = time.monotonic()
        time.sleep(args.window)
        runs = self._dump_runs()
        wall = time.monotonic() - t0
        after = {k: agi._cpu_ticks(p) for k, p in pids.items()}
        m1 = agi._machine_ticks()
        st.load = os.getloadavg()
        hz = os.sysconf("SC_CLK_TCK")
        st.cpu = {k: (after[k] - before[k]) / hz / wall * 100 for k in pids}
        st.cpu["machine"] = ((m1[0] - m0[0]) / max(1, m1[1] - m0[1]) * 100
                             * (os.cpu_count() or 1))
        st.waiting_in_redis = min(st.waiting_in_redis, self._waiting_in_redis())
        self._summarise(st, runs)
        deadline = time.monotonic() + hold_s + 90
        while self.sipp_proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.5)
        if self.sipp_proc.poll() is None:
            processes.stop(self.sipp_proc, grace=5, group=True)
        fake = argparse.Namespace()
        fake.created = fake.successful = fake.failed = 0
        fake.failed_detail = {}
        fake.answer_ms = None
        agi.Bench._read_sipp_stats(self, fake, work / stat)  # type: ignore[arg-type]
        st.created, st.successful, st.failed = fake.created, fake.successful, fake.failed
        st.forced_hangups = agi.Bench._drain(self)  # type: ignore[arg-type]
        st.core_log_problems = agi.Bench._log_problems(self, log_off)  # type: ignore[arg-type]
        return st

    def _summarise(self, st: Step, runs: list[tuple[str, float, float, str]]) -> None:
        st.flows = len(runs)
        for _, _, _, outcome in runs:
            st.outcomes[outcome] = st.outcomes.get(outcome, 0) + 1
        st.flows_failed = sum(v for k, v in st.outcomes.items() if k.startswith("error"))
        seconds = [r[2] for r in runs]
        st.flow_p50_ms = _pct(seconds, 50) * 1000
        st.flow_p99_ms = _pct(seconds, 99) * 1000
        st.flow_max_ms = max(seconds, default=0.0) * 1000
        starts: dict[str, list[float]] = {}
        for call, t0, _, _ in runs:
            starts.setdefault(call, []).append(t0)
        st.callers_announced = len(starts)
        gaps = [b - a for s in starts.values() for a, b in zip(sorted(s), sorted(s)[1:],
                                                               strict=False)]
        st.gap_p50_s = _pct(gaps, 50)
        st.gap_max_s = max(gaps, default=0.0)


def report(steps: list[Step], announce: int) -> None:
    print(f"\nannouncements every {announce} s; window per step as given; CPU in % of one "
          "core over the window")
    print("| waiting | SIPp ok/failed | in line (Redis) | waiting flows (failed) | callers "
          "announced | flow p50 / p99 / max ms | gap p50 / max s | core % | core ms/s per "
          "caller | Asterisk % | redis % | machine % | load 1/5/15 |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for s in steps:
        print(f"| {s.callers} | {s.successful}/{s.failed} | {s.waiting_in_redis} | "
              f"{s.flows} ({s.flows_failed}) | {s.callers_announced} | "
              f"{s.flow_p50_ms:.0f} / {s.flow_p99_ms:.0f} / {s.flow_max_ms:.0f} | "
              f"{s.gap_p50_s:.1f} / {s.gap_max_s:.1f} | {s.cpu.get('core', 0):.1f} | "
              f"{s.core_ms_per_caller_s:.3f} | {s.cpu.get('asterisk', 0):.1f} | "
              f"{s.cpu.get('redis', 0):.1f} | {s.cpu.get('machine', 0):.0f} | "
              f"{s.load[0]:.1f}/{s.load[1]:.1f}/{s.load[2]:.1f} |")
    for s in steps:
        if s.outcomes or s.core_log_problems or s.forced_hangups:
            print(f"{s.callers}: outcomes {s.outcomes}; forced hangups {s.forced_hangups}; "
                  f"core log problems {len(s.core_log_problems)}: "
                  f"{s.core_log_problems[:3]}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--steps", default="50,100,200,400")
    p.add_argument("--window", type=float, default=36.0)
    p.add_argument("--announce", type=int, default=12)
    p.add_argument("--json", type=Path)
    p.add_argument("--keep-core-log", type=Path)
    p.add_argument("--core-shim", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--config", help=argparse.SUPPRESS)
    p.add_argument("--stats-file", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.core_shim:
        return core_shim(args.config, args.stats_file)
    args.steps = [int(x) for x in str(args.steps).split(",") if x.strip()]
    if not args.steps or min(args.steps) <= 0 or max(args.steps) > 1000 or args.window <= 0:
        raise SystemExit("--steps: 1..1000 callers each; --window > 0")

    def on_term(_sig: int, _frame: Any) -> None:
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_term)

    bench = WaitingBench(args)
    steps: list[Step] = []
    show: Callable[[Step], str] = lambda s: (  # noqa: E731
        f"{s.callers:>4} waiting: SIPp ok {s.successful} failed {s.failed}, waiting flows "
        f"{s.flows} failed {s.flows_failed}, callers announced {s.callers_announced}, "
        f"core {s.cpu.get('core', 0):.1f} %")
    try:
        bench.start()
        for n in args.steps:
            s = bench.run_step(n)
            steps.append(s)
            print(show(s), flush=True)
    except KeyboardInterrupt:
        print("interrupted: stopping the stack", file=sys.stderr)
    except Exception:
        traceback.print_exc()
        print("bench failed: stopping the stack, reporting what was measured", file=sys.stderr)
    finally:
        bench.stop()
    report(steps, args.announce)
    if args.json:
        args.json.write_text(json.dumps([vars(s) for s in steps], indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
