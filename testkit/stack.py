"""A whole hotline stack for end-to-end tests: real redis-server, real Asterisk (chroot),
the core as its own process (so a test can kill it), SIPp callers and agents' phones.

Everything listens on loopback, on ports picked for this test run.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stack.asterisk import AsteriskProcess
from stack.instance import spec_from_settings
from stack.services import Redis, core_log_name
from stack.settings import REPO_ROOT, load_settings
from stack.tokens import token_of
from testkit import processes
from testkit.port_blocks import MEDIA_PORTS, PortBlocks, media_ports_free
from testkit.redis_server import free_port
from testkit.sipp import Sipp
from testkit.tcp_proxy import TcpProxy

CHROOT = Path(os.environ.get("HOTLINE_CHROOT", "/var/cache/hotline/asterisk-sid"))
# Media ports for the callers a test has on the line at once (MEDIA_PORTS each).
CALLER_PORTS = 20 * MEDIA_PORTS


def free_udp_port() -> int:
    while True:
        port = free_port()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port


def free_port_run(count: int) -> int:
    """The first of ``count`` consecutive free TCP ports on loopback (one FastAGI port per
    core instance)."""
    while True:
        first = free_port()
        if first + count > 65536:
            continue
        held: list[socket.socket] = []
        try:
            for port in range(first, first + count):
                s = socket.socket()
                held.append(s)
                s.bind(("127.0.0.1", port))
            return first
        except OSError:
            continue
        finally:
            for s in held:
                s.close()


@dataclass
class Agent:
    id: str
    skills: dict[str, int]
    port: int = 0
    media_port: int = 0
    ring_ms: int = 200
    scenario: str = "agent.xml"
    rtp_echo: bool = True          # the phone sends back what it hears
    # A phone that REGISTERs (from 127.0.0.2, the test starts it) instead of a fixed contact.
    registers: bool = False


@dataclass
class HotlineStack:
    agents: list[Agent]
    # Extra lines for the [calls] settings section (e.g. "announce_seconds = 3").
    calls_settings: str = ""
    # A citizen's phone behind the carrier trunk, for callbacks (virtual hold).
    citizen_phone: bool = False
    # The [speech] settings table (TOML text); empty: no transcription.
    speech: str = ""
    # The [dialing] settings table body (TOML text): the outbound number policy.
    dialing: str = ""
    # The [workorders] settings table body (TOML text), e.g. a preset file.
    workorders: str = ""
    # The module run as the core (python -m); a test module may wrap stack.core to inject a
    # fault a real part cannot produce on demand.
    core_module: str = "stack.core"
    # Edits of config/distribution.toml for this stack (e.g. a shorter overflow wait).
    distribution_edit: Callable[[str], str] = field(default=lambda text: text)
    # Optional hooks (benchmarks): RTP ports for Asterisk (2 per call), raw pjsip.conf and
    # extensions.conf text appended to the rendered instance.
    rtp_ports: int = 80
    extra_endpoints: str = ""
    extra_dialplan: str = ""
    # The emergency centres file (TOML text of config/centres.toml); empty: the shipped one.
    centres: str = ""
    # The outbound dialer's rules (TOML text of config/campaigns.toml); empty: the shipped one.
    campaigns: str = ""
    # The database URL ([database] url); empty: SQLite in the state directory.
    database_url: str = ""
    # A TCP proxy (testkit/tcp_proxy.py) the core reaches Asterisk's AMI through, so a test
    # can cut the connection; its target is set to Asterisk's AMI port at start.
    ami_proxy: TcpProxy | None = None
    # [core] instances: core processes on the one Asterisk (stack/cluster.py); ``core`` is
    # the first, ``cores`` all of them by index.
    cores: int = 1
    tmp: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="hotline-e2e-")))
    _exit: ExitStack = field(default_factory=ExitStack)
    phones: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    core: subprocess.Popen[bytes] | None = None
    core_procs: dict[int, subprocess.Popen[bytes]] = field(default_factory=dict)
    asterisk: AsteriskProcess | None = None
    _ports: set[int] = field(default_factory=set)

    # -- set-up -----------------------------------------------------------------------------
    def start(self) -> HotlineStack:
        # Registered first so it runs last: redis-server saves into tmp when asked to stop,
        # and with its directory gone it refuses SIGTERM (10 s grace, then SIGKILL).
        self._exit.callback(self._cleanup_instance)
        redis_port = free_port()
        self.instance = f"e2e-{os.getpid()}-{free_port()}"
        self.http_port = free_port()
        # One block of media ports for this stack alone (testkit/port_blocks.py): Asterisk's
        # RTP range, then each phone's, then the callers'.
        phones = MEDIA_PORTS * (len(self.agents) + 1)    # the agents' and the citizen's
        blocks = PortBlocks(self.rtp_ports + phones + CALLER_PORTS)
        self._exit.callback(blocks.release)
        rtp = blocks.start
        for i, a in enumerate(self.agents):
            a.port, a.media_port = free_udp_port(), rtp + self.rtp_ports + i * MEDIA_PORTS
            self._ports.add(a.port)
        self._citizen_media = rtp + self.rtp_ports + phones - MEDIA_PORTS
        self._callers = range(rtp + self.rtp_ports + phones, blocks.end - MEDIA_PORTS + 1,
                              MEDIA_PORTS)
        self._next_caller = 0
        self.citizen_port = free_udp_port() if self.citizen_phone else 0
        self.config = self._write_config(redis_port, rtp)
        self.settings = load_settings(self.config)
        # The stack's own redis-server, as `hotline up` runs it: password required.
        redis = self.redis = Redis(self.settings)   # a fault test kills and restarts it
        redis.start()
        self._exit.callback(redis.stop)
        self.spec = spec_from_settings(self.settings)
        if self.extra_endpoints or self.extra_dialplan:
            self.spec = dataclasses.replace(self.spec, extra_endpoints=self.extra_endpoints,
                                            extra_dialplan=self.extra_dialplan)
        self.asterisk = AsteriskProcess(self.spec)
        self.asterisk.start()
        self.sipp = Sipp(self.spec.root, self.spec.host_dir / "sipp", f"{self.spec.inst}/sipp",
                         self.settings.sip_port)
        for a in self.agents:
            if a.registers:
                continue
            self.phones[a.id] = self.sipp.phone(a.id, port=a.port, media_port=a.media_port,
                                                ring_ms=a.ring_ms, scenario=a.scenario,
                                                rtp_echo=a.rtp_echo)
        if self.citizen_phone:
            self.phones["citizen"] = self.sipp.phone(
                "citizen", port=self.citizen_port, media_port=self._citizen_media, ring_ms=3000,
                scenario="citizen_phone.xml")
        self.core_config = self.config
        if self.ami_proxy is not None:
            self.ami_proxy.target_port = self.settings.ami_port
            self.ami_proxy.start()
            self._exit.callback(self.ami_proxy.stop)
            self.core_config = self.config.with_name("hotline-core.toml")
            self.core_config.write_text(self.config.read_text().replace(
                f"[ami]\nport = {self.settings.ami_port}", f"[ami]\nport = {self.ami_proxy.port}"))
        self.start_core()
        return self

    def _write_config(self, redis_port: int, rtp: int) -> Path:
        cfg = self.tmp / "config"
        cfg.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(REPO_ROOT / "config" / "lines.toml", cfg / "lines.toml")
        (cfg / "centres.toml").write_text(
            self.centres or (REPO_ROOT / "config" / "centres.toml").read_text())
        shutil.copyfile(REPO_ROOT / "config" / "transfer_list.toml", cfg / "transfer_list.toml")
        (cfg / "campaigns.toml").write_text(
            self.campaigns or (REPO_ROOT / "config" / "campaigns.toml").read_text())
        agents = "\n".join(
            f'[[agent]]\nid = "{a.id}"\nname = "agent {a.id}"\ngroup = "call-taking"\n'
            f"skills = {{ {', '.join(f'{k} = {v}' for k, v in a.skills.items())} }}\n"
            + ("" if a.registers else f'contact = "sip:{a.id}@127.0.0.1:{a.port}"\n')
            for a in self.agents)
        (cfg / "agents.toml").write_text(agents)
        dist = (REPO_ROOT / "config" / "distribution.toml").read_text()
        dist = dist.replace("wrapup_seconds = 15", "wrapup_seconds = 0")
        (cfg / "distribution.toml").write_text(self.distribution_edit(dist))
        toml = f"""
[network]
bind_address = "127.0.0.1"
sip_port = {free_udp_port()}
http_port = {self.http_port}
rtp_start = {rtp}
rtp_end = {rtp + self.rtp_ports - 1}
[ami]
port = {free_port()}
[agi]
port = {free_port_run(self.cores)}
[core]
instances = {self.cores}
[redis]
port = {redis_port}
[paths]
state_dir = "{self.tmp / 'var'}"
lines_file = "{cfg / 'lines.toml'}"
agents_file = "{cfg / 'agents.toml'}"
distribution_file = "{cfg / 'distribution.toml'}"
campaigns_file = "{cfg / 'campaigns.toml'}"
prompts_file = "{REPO_ROOT / 'asterisk_conf' / 'prompts.txt'}"
prompts_override_dir = "{cfg / 'prompts'}"
[asterisk]
mode = "chroot"
chroot = "{CHROOT}"
instance = "{self.instance}"
[trunk]
carrier_ips = ["127.0.0.1"]
outbound_uri = "{f'sip:127.0.0.1:{self.citizen_port}' if self.citizen_phone else ''}"
[calls]
ring_timeout = 8
heartbeat_seconds = 1
core_dead_after = 3
{self.calls_settings}
"""
        if self.database_url:
            toml += f'[database]\nurl = "{self.database_url}"\n'
        if self.dialing:
            toml += f"[dialing]\n{self.dialing}\n"
        if self.workorders:
            toml += f"[workorders]\n{self.workorders}\n"
        if self.speech:
            toml += f"[speech]\nwork_dir = \"{self.tmp / 'speech'}\"\n{self.speech}\n"
        path = cfg / "hotline.toml"
        path.write_text(toml)
        return path

    def start_core(self, index: int | None = None) -> None:
        """Start every core instance (``index`` None) or the one given, and wait until it
        serves FastAGI (its own port) and the shared HTTP API is healthy."""
        for i in range(self.cores) if index is None else (index,):
            log = open(self.tmp / core_log_name(i), "ab")  # noqa: SIM115
            env = dict(os.environ, HOTLINE_AMI_SECRET=self.settings.ami_secret)
            proc = subprocess.Popen(
                [sys.executable, "-m", self.core_module, "--config",
                 str(getattr(self, "core_config", self.config)), "--instance", str(i)],
                cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT, env=env,
                start_new_session=True)
            self.core_procs[i] = proc
            if i == 0:
                self.core = proc
            if self.cores > 1:
                self._wait_agi(i)
            self.wait_healthy()

    def _wait_agi(self, index: int, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        proc = self.core_procs[index]
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"core {index} exited: {self.core_log(index)[-3000:]}")
            try:
                with socket.create_connection(
                        ("127.0.0.1", self.settings.agi_ports[index]), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"core {index} does not serve FastAGI within {timeout}s")

    def start_speech_workers(self) -> subprocess.Popen[bytes]:
        log = open(self.tmp / "speech.log", "ab")  # noqa: SIM115
        proc = subprocess.Popen(
            [sys.executable, "-m", "stack.speech_service", "--config", str(self.config)],
            cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self._exit.callback(processes.stop, proc, 30)
        return proc

    def wait_healthy(self, timeout: float = 120.0) -> dict[str, Any]:
        # The health endpoint is the core's readiness signal; poll it until all is up.
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            if self.core is not None and self.core.poll() is not None:
                raise RuntimeError(f"core exited: {self.core_log()[-3000:]}")
            try:
                last = self._request("GET", "/api/health", token=None)
                if last.get("ok"):
                    # Up; the component details are for supervisors.
                    return dict(self._request("GET", "/api/health", self.token("supervisor")))
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            time.sleep(0.1)
        raise RuntimeError(f"core not healthy within {timeout}s: {last}\n{self.core_log()[-3000:]}")

    def phone_log(self, name: str) -> str:
        return "".join(p.read_text(errors="replace")
                       for p in (self.spec.host_dir / "sipp").glob(f"phone-{name}-*"))

    def core_log(self, index: int = 0) -> str:
        return (self.tmp / core_log_name(index)).read_text(errors="replace")

    def kill_core(self, index: int = 0) -> None:
        proc = self.core_procs.get(index, self.core) if self.core_procs else self.core
        assert proc is not None
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)

    # -- use --------------------------------------------------------------------------------
    def token(self, name: str) -> str:
        tok = token_of(self.settings.api_tokens_file, name)
        assert tok is not None, f"no API token for {name}"
        return tok

    def _request(self, method: str, path: str, token: str | None, body: Any = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(f"http://127.0.0.1:{self.http_port}{path}", data=data,
                                     method=method)
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as exc:
            payload = exc.read()
            try:
                return {"status": exc.code, **json.loads(payload)}
            except ValueError:
                return {"status": exc.code, "error": payload.decode(errors="replace")}

    def api(self, method: str, path: str, body: Any = None, as_: str = "supervisor") -> Any:
        return self._request(method, path, self.token(as_), body)

    async def aapi(self, method: str, path: str, body: Any = None, as_: str = "supervisor") -> Any:
        return await asyncio.to_thread(self.api, method, path, body, as_)

    def login(self, agent_id: str) -> None:
        res = self.api("POST", f"/api/agents/{agent_id}/login", {}, as_=agent_id)
        assert res.get("state") == "ready", res

    async def call(self, number: str, caller: str, talk_ms: int = 3000,
                   source_ip: str = "127.0.0.1", scenario: str = "caller.xml") -> Any:
        return await self.sipp.call(number, caller, local_port=free_udp_port(),
                                    media_port=self._media_port(), talk_ms=talk_ms,
                                    source_ip=source_ip, scenario=scenario)

    def _media_port(self) -> int:
        """An even media port of this stack's own block that nothing holds now (a caller's,
        a centre's phone)."""
        for _ in self._callers:
            port = self._callers[self._next_caller % len(self._callers)]
            self._next_caller += 1
            if media_ports_free(port):
                return port
        raise RuntimeError(f"all {len(self._callers)} callers' media ports are in use")

    async def wait_call(self, predicate: Callable[[dict[str, Any]], bool],
                        timeout: float = 30.0) -> dict[str, Any]:
        """The first call record that satisfies ``predicate``, waiting for it to appear."""
        deadline = time.monotonic() + timeout
        calls: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            calls = (await self.aapi("GET", "/api/calls?limit=1000"))["calls"]
            for c in calls:
                if predicate(c):
                    return c
            await asyncio.sleep(0.2)
        raise AssertionError(f"no call record matched within {timeout}s; records: {calls}")

    def reset_for_next_test(self, timeout: float = 30.0) -> None:
        """The stack as a fresh one starts, for the next test of a module sharing it: every
        channel hung up, nobody waiting, every agent logged out (call records, orders and
        the rest of the database are kept: tests tell their calls apart by the caller)."""
        assert self.asterisk is not None
        self.asterisk.cli("channel request hangup all")   # only after a failed test is one left
        deadline = time.monotonic() + timeout
        while not self._settled():
            if time.monotonic() > deadline:
                raise RuntimeError(f"the stack did not settle within {timeout}s")
            time.sleep(0.2)

    def _settled(self) -> bool:
        """No channel, nobody waiting, every agent logged out; logs out whoever is not (an
        agent still on a call that is ending may refuse: asked again on the next look)."""
        assert self.asterisk is not None
        waiting = sum(f["waiting"] for f in self.api("GET", "/api/queues")["lines"].values())
        logged_in = [a["agent_id"] for a in self.api("GET", "/api/agents")["agents"]
                     if a["state"] != "logged_out"]
        for agent_id in logged_in:
            self.api("POST", f"/api/agents/{agent_id}/logout", {})
        return (self.asterisk.cli("core show channels concise").strip() == "" and waiting == 0
                and not logged_in)

    # -- tear-down --------------------------------------------------------------------------
    def stop(self) -> None:
        for proc in self.phones.values():
            processes.stop(proc)
        for core in {id(p): p for p in (self.core, *self.core_procs.values())}.values():
            processes.stop(core, grace=15)
        if self.asterisk is not None:
            self.asterisk.stop()
        self._exit.close()

    def _cleanup_instance(self) -> None:
        if os.environ.get("HOTLINE_KEEP_E2E"):
            return
        spec = getattr(self, "spec", None)   # absent when start() failed before Asterisk
        if spec is not None:
            shutil.rmtree(spec.host_dir, ignore_errors=True)
        shutil.rmtree(self.tmp, ignore_errors=True)
