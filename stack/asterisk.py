"""One Asterisk instance: its configuration rendered from asterisk_conf/, its process.

Each stack or test gets its own instance directory (``/srv/hotline/<name>`` inside the
Asterisk root), its own SIP/AMI/RTP ports and its own control socket, so several run side
by side in the same chroot.
"""

from __future__ import annotations

import os
import platform
import pwd
import re
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from hotline_core.agent_directory import AgentEntry
from hotline_core.lines import LinePlan
from hotline_core.transfers import Centres
from ivr.dialplan import (
    CDR_FILE,
    TECH,
    Context,
    Var,
    agi_addresses,
    cdr_mapping,
    centre_endpoint,
    fallback_queue,
    inherited,
)
from stack.prompts import build_prompts

CONF_DIR = Path(__file__).resolve().parent.parent / "asterisk_conf"
TEMPLATES = ("asterisk.conf", "modules.conf", "logger.conf", "rtp.conf", "manager.conf",
             "musiconhold.conf", "cdr.conf", "cdr_custom.conf", "pjsip.conf", "extensions.conf",
             "queues.conf", "confbridge.conf")
_PLACEHOLDER = re.compile(r"\{\{([a-z_]+)\}\}")
# Asterisk drops root right after start (-U/-G) and runs as this user of its root's
# /etc/passwd (Debian's package creates it). What it writes - recordings, CDR, logs - is
# created under umask 027: readable by the core (root) and its group, nobody else.
RUN_AS = "asterisk"
# The host system user `make provision` creates and gives the chroot's asterisk user's uid/gid.
HOST_RUN_AS = "hotline-asterisk"
ASTERISK_UMASK = 0o027
# Directories Asterisk writes to (recordings only one level deep: it may hold many files).
_WRITABLE = ("lib", "spool", "run", "log", "log/cdr-custom")


def system_user(root: Path, name: str = RUN_AS) -> tuple[int, int]:
    """uid and gid of ``name`` in ``root``'s /etc/passwd (the chroot's, or this machine's)."""
    try:
        lines = (root / "etc" / "passwd").read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise RuntimeError(f"cannot read {root / 'etc' / 'passwd'}: {exc}") from exc
    for line in lines:
        fields = line.split(":")
        if len(fields) >= 4 and fields[0] == name:
            return int(fields[2]), int(fields[3])
    raise RuntimeError(f"no user {name!r} in {root / 'etc' / 'passwd'}: Asterisk must not run "
                       f"as root (install Debian's asterisk package, which creates it)")


def check_host_user(uid: int, expected: str = HOST_RUN_AS) -> None:
    """Refuse a chroot asterisk uid that belongs to another host user (e.g. postgres): that
    user would own the recordings and could signal Asterisk. A uid no host user has is fine."""
    try:
        owner = pwd.getpwuid(uid).pw_name
    except KeyError:
        return
    if owner != expected:
        raise RuntimeError(f"the chroot's {RUN_AS!r} user has uid {uid}, which on this machine is "
                           f"{owner!r}: run `make provision` (it gives Asterisk the uid of the "
                           f"host user {expected!r})")


@dataclass(frozen=True)
class AgentPhone:
    agent: AgentEntry
    password: str


@dataclass(frozen=True)
class AsteriskSpec:
    name: str
    root: Path                     # chroot directory, or / for a system Asterisk
    bind_address: str
    sip_port: int
    rtp_start: int
    rtp_end: int
    ami_port: int
    ami_username: str
    ami_secret: str
    agi_port: int                  # the first core instance's; instance i: agi_port + i
    ring_timeout: int
    core_dead_after: int
    carrier_ips: tuple[str, ...]
    lines: LinePlan
    phones: tuple[AgentPhone, ...]
    prompts_file: Path
    prompts_override_dir: Path
    extra_endpoints: str = field(default="")   # raw pjsip.conf text appended (tests)
    announce_seconds: int = 30
    carrier_outbound_uri: str = ""             # empty: no outbound calls (no callbacks)
    extra_dialplan: str = field(default="")    # raw extensions.conf text appended (bench)
    centres: Centres = field(default_factory=lambda: Centres(line="", ring_seconds=30))
    core_instances: int = 1                    # [core] instances: FastAGI on agi_port + i

    @property
    def inst(self) -> str:
        """The instance directory as Asterisk sees it (inside its root)."""
        return f"/srv/hotline/{self.name}"

    @property
    def host_dir(self) -> Path:
        return self.root / self.inst.lstrip("/")

    def host_path(self, inside: str) -> Path:
        """Translate a path Asterisk reports (e.g. a recording) to this machine's view."""
        return self.root / inside.lstrip("/")

    @property
    def recordings_dir(self) -> Path:
        return self.host_dir / "recordings"

    @property
    def cdr_file(self) -> Path:
        return self.host_dir / "log" / "cdr-custom" / CDR_FILE


def _moddir(root: Path) -> str:
    for cand in (f"/usr/lib/{platform.machine()}-linux-gnu/asterisk/modules",
                 "/usr/lib/asterisk/modules"):
        if (root / cand.lstrip("/")).is_dir():
            return cand
    raise FileNotFoundError(f"no Asterisk modules directory under {root}")


def conf_texts(spec: AsteriskSpec, moddir: str) -> dict[str, str]:
    """The instance's configuration files, rendered: file name → text."""
    values = {
        "inst": spec.inst,
        "moddir": moddir,
        "bind_address": spec.bind_address,
        "media_address": "127.0.0.1" if spec.bind_address in ("0.0.0.0", "::")
        else spec.bind_address,
        "sip_port": str(spec.sip_port),
        "rtp_start": str(spec.rtp_start),
        "rtp_end": str(spec.rtp_end),
        "ami_port": str(spec.ami_port),
        "ami_username": spec.ami_username,
        "ami_secret": spec.ami_secret,
        "agi_addresses": agi_addresses(
            tuple(spec.agi_port + i for i in range(spec.core_instances))),
        "ring_timeout": str(spec.ring_timeout),
        "core_dead_after": str(spec.core_dead_after),
        "carrier_match": "\n".join(f"match = {ip}" for ip in spec.carrier_ips),
        "carrier_aor": (f"aors = carrier-out\n\n[carrier-out]\ntype = aor\n"
                        f"contact = {spec.carrier_outbound_uri}\n"
                        if spec.carrier_outbound_uri else ""),
        "announce_seconds": str(spec.announce_seconds),
        "agent_endpoints": (_agent_endpoints(spec) + _centre_endpoints(spec.centres)
                            + spec.extra_endpoints),
        "transfer_ring": str(spec.centres.ring_seconds),
        "centre_line": _centre_line(spec),
        "centre_transfers": _centre_transfers(spec.centres),
        "line_extensions": _line_extensions(spec.lines),
        "queues": _queues(spec),
        "cdr_file": CDR_FILE,
        "cdr_columns": cdr_mapping(),
    }
    out: dict[str, str] = {}
    for name in TEMPLATES:
        text = (CONF_DIR / name).read_text(encoding="utf-8")
        out[name] = _PLACEHOLDER.sub(lambda m: values[m.group(1)], text)
        if name == "extensions.conf" and spec.extra_dialplan:
            out[name] += "\n" + spec.extra_dialplan
    return out


def render(spec: AsteriskSpec) -> None:
    """Write the instance's configuration and prompts; keeps recordings and logs."""
    host = spec.host_dir
    for sub in ("etc", "recordings", "sounds", *_WRITABLE):
        (host / sub).mkdir(parents=True, exist_ok=True)
    for name, text in conf_texts(spec, _moddir(spec.root)).items():
        target = host / "etc" / name
        target.write_text(text, encoding="utf-8")
    build_prompts(spec.prompts_file, spec.prompts_override_dir, host / "sounds")
    _own(spec)


def _own(spec: AsteriskSpec) -> None:
    """Asterisk's user owns what it writes; its configuration stays root's, group-readable."""
    uid, gid = system_user(spec.root)
    check_host_user(uid)
    host = spec.host_dir
    for sub in ("etc", "sounds"):
        for path in (host / sub, *(host / sub).rglob("*")):
            os.chown(path, 0, gid)
            os.chmod(path, 0o750 if path.is_dir() else 0o640)
    os.chown(host, 0, gid)
    os.chmod(host, 0o750)
    for sub in _WRITABLE:
        for path in (host / sub, *(host / sub).rglob("*")):
            os.chown(path, uid, gid, follow_symlinks=False)
        os.chmod(host / sub, 0o750)
    recordings = host / "recordings"
    for path in (recordings, *(p for p in recordings.iterdir() if p.is_dir())):
        os.chown(path, uid, gid)
        os.chmod(path, 0o750)


def _agent_endpoints(spec: AsteriskSpec) -> str:
    blocks = []
    for phone in spec.phones:
        a = phone.agent
        contact = f"contact = {a.contact}\n" if a.contact else ""
        blocks.append(
            f"[{a.id}](media)\ntype = endpoint\ncontext = {Context.AGENTS}\nauth = {a.id}-auth\n"
            f"aors = {a.id}\ncallerid = \"{a.name}\" <{a.id}>\nforce_rport = yes\n"
            f"rewrite_contact = yes\n"
            # The phone's own transfer key (SIP REFER) is refused: a transfer goes through
            # the platform (POST /api/calls/{id}/transfer), which never drops the citizen.
            f"allow_transfer = no\n\n"
            f"[{a.id}-auth]\ntype = auth\nauth_type = digest\nusername = {a.id}\n"
            f"password = {phone.password}\n\n"
            f"[{a.id}]\ntype = aor\nmax_contacts = 1\nremove_existing = yes\n{contact}\n"
        )
    return "\n".join(blocks)


def _centre_endpoints(centres: Centres) -> str:
    """One trunk per emergency centre, identified by its source addresses only."""
    blocks = []
    for c in centres.centres:
        name = centre_endpoint(c.number)
        matches = "".join(f"match = {a}\n" for a in c.addresses)
        blocks.append(
            f"[{name}](media)\ntype = endpoint\ncontext = {Context.FROM_CENTRE}\n"
            f"identify_by = ip\ntrust_id_inbound = no\nsend_pai = no\nallow_transfer = no\n"
            f"aors = {name}\n\n"
            f"[{name}]\ntype = aor\ncontact = {c.uri}\n\n"
            f"[{name}]\ntype = identify\nendpoint = {name}\n{matches}\n")
    return "".join(blocks)


def _centre_line(spec: AsteriskSpec) -> str:
    """Whatever a centre dials lands on the centres' line (no line: not in service)."""
    line = spec.lines.by_number(spec.centres.line) if spec.centres.centres else None
    if line is None:
        return f"exten => _X.,1,Goto({Context.NOT_IN_SERVICE},s,1)"
    return (f"exten => _X.,1,Set({inherited(Var.LINE)}={line.number})\n"
            f" same => n,Set({inherited(Var.FALLBACK)}={fallback_queue(line.skills[0])})\n"
            f" same => n,Goto({Context.INBOUND},s,1)")


def _centre_transfers(centres: Centres) -> str:
    """One extension per configured centre: nothing else can be dialled from here."""
    return "\n".join(
        f"exten => {c.number},1,Set({Var.XFER_TRUNK}={centre_endpoint(c.number)})\n"
        f" same => n,Goto({Context.TRANSFER_DIAL},${{EXTEN}},1)"
        for c in centres.centres) or f"exten => _X.,1,Goto({Context.TRANSFER_BACK},s,1)"


def _line_extensions(lines: LinePlan) -> str:
    out = []
    for line in lines.lines:
        out.append(
            f"exten => {line.number},1,Set({inherited(Var.LINE)}={line.number})\n"
            f" same => n,Set({inherited(Var.FALLBACK)}={fallback_queue(line.skills[0])})\n"
            f" same => n,Goto({Context.INBOUND},s,1)"
        )
    return "\n".join(out)


def queue_weights(agents: list[AgentEntry]) -> dict[str, int]:
    """app_queue weight per skill queue, so an agent in two queues takes first the call of
    the skill it holds at the better level (1 = best), as the core does.

    app_queue has no per-member preference between queues, only a weight per queue (the
    higher weight gets a shared member first). Skill A must outrank B when some agent holds
    A at a better level than B; a queue's weight is the length of the longest such chain
    below it. Where agents disagree (A over B for one, B over A for another) app_queue
    cannot follow both, and which one is kept depends on the order of the agents and of
    their skill tables: only the core path honours both.
    """
    better: dict[str, set[str]] = {}
    for agent in agents:
        for a, la in agent.skills.items():
            for b, lb in agent.skills.items():
                if la < lb:
                    better.setdefault(a, set()).add(b)
    weight: dict[str, int] = {}
    on_path: set[str] = set()

    def depth(skill: str) -> int:
        if skill in weight:
            return weight[skill]
        on_path.add(skill)
        below = [depth(b) + 1 for b in sorted(better.get(skill, ())) if b not in on_path]
        on_path.discard(skill)
        weight[skill] = max(below, default=0)
        return weight[skill]

    for agent in agents:
        for skill in agent.skills:
            depth(skill)
    return weight


def _queues(spec: AsteriskSpec) -> str:
    out = []
    weights = queue_weights([p.agent for p in spec.phones])
    for skill in spec.lines.skills():
        # app_queue penalty 0 is best, like skill level 1.
        body = "".join(f"member => {TECH}/{p.agent.id},{p.agent.skills[skill] - 1}\n"
                       for p in spec.phones if skill in p.agent.skills)
        out.append(f"[{fallback_queue(skill)}](fallback)\nweight = {weights.get(skill, 0)}\n{body}")
    return "\n".join(out)


class AsteriskProcess:
    """Runs ``asterisk -f`` for one instance and waits until it is fully booted."""

    def __init__(self, spec: AsteriskSpec, log_file: Path | None = None) -> None:
        self.spec = spec
        self.log_file = log_file or spec.host_dir / "log" / "console.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def _argv(self, *extra: str) -> list[str]:
        conf = f"{self.spec.inst}/etc/asterisk.conf"
        base = ["/usr/sbin/asterisk", "-C", conf, *extra]
        if self.spec.root != Path("/"):
            return ["chroot", str(self.spec.root), *base]
        return base

    def start(self, timeout: float = 30.0) -> None:
        render(self.spec)
        (self.spec.host_dir / "run").mkdir(parents=True, exist_ok=True)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_file, "ab") as log:
            self.proc = subprocess.Popen(self._argv("-U", RUN_AS, "-G", RUN_AS, "-f", "-n", "-q"),
                                         stdout=log,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         start_new_session=True, umask=ASTERISK_UMASK)
        self.wait_booted(timeout)

    def wait_booted(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(
                    f"Asterisk exited with {self.proc.returncode}; see {self.log_file}")
            # The control socket appears a moment after the process starts; retrying the CLI
            # is the documented way to wait (core waitfullybooted blocks once connected).
            res = subprocess.run(self._argv("-rx", "core waitfullybooted"),
                                 capture_output=True, timeout=timeout)
            if res.returncode == 0 and b"fully booted" in res.stdout.lower():
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"Asterisk did not boot within {timeout}s; see {self.log_file}")
            time.sleep(0.1)

    def cli(self, command: str, timeout: float = 10.0) -> str:
        res = subprocess.run(self._argv("-rx", command), capture_output=True, timeout=timeout)
        return res.stdout.decode(errors="replace")

    def stop(self, timeout: float = 10.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            self.cli("core stop now", timeout=timeout)
            self.proc.wait(timeout=timeout)
        except (subprocess.TimeoutExpired, OSError):
            self.proc.kill()
            self.proc.wait(timeout=timeout)

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


def sipp_argv(root: Path, *args: str) -> list[str]:
    """Command line for SIPp (Debian's sip-tester), run inside the same root as Asterisk."""
    exe = "/usr/bin/sipp"
    if root != Path("/"):
        return ["chroot", str(root), exe, *args]
    found = shutil.which("sipp")
    return [found or exe, *args]
