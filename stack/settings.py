"""Deployment settings: read from TOML, validated at start-up, secrets from the environment.

The file is declared as :class:`HotlineFile` (one model per table); every problem raises
the one :class:`ConfigError` naming the file, the setting and its line, so an operator
knows what to fix before anything starts.
"""

from __future__ import annotations

import ipaddress
import os
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
)

from hotline_core.call_figures_day import parse_reset_at
from hotline_core.clock import zone_named
from hotline_core.config_errors import ConfigError
from hotline_core.config_schema import ConfigModel, parse_toml, setting_error, validate_data
from hotline_core.dial_policy import DialingTable
from hotline_core.redis_keys import DEFAULT_NAMESPACE, check_namespace
from hotline_core.users import SigninTable
from speech.settings import SpeechTable
from stack.secret_files import stored_secret

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = REPO_ROOT / "config" / "hotline.toml"


@dataclass(frozen=True)
class Settings:
    source: Path
    bind_address: str
    sip_port: int
    http_port: int
    tls: str                        # "auto" (HTTPS beyond loopback), "on" or "off"
    tls_cert: Path | None           # None: a self-signed pair in <state_dir>/secrets/
    tls_key: Path | None
    rtp_start: int
    rtp_end: int
    ami_port: int
    ami_username: str
    ami_secret: str
    ami_timeout: float
    agi_port: int
    agi_command_timeout: float
    redis_port: int
    redis_url: str                  # with the password when there is one
    redis_owned: bool               # the stack starts its own redis-server on redis_port
    redis_namespace: str            # every key and channel of this hotline (redis_keys.py)
    database_url: str
    state_dir: Path
    lines_file: Path
    agents_file: Path
    distribution_file: Path
    centres_file: Path              # emergency centres' trunks (hotline_core/transfers.py)
    transfer_list_file: Path        # the two-way transfer list (双向转办清单)
    api_tokens_file: Path
    prompts_file: Path
    prompts_override_dir: Path
    asterisk_mode: str
    chroot: Path | None
    instance: str
    carrier_ips: tuple[str, ...]
    ring_timeout: int
    heartbeat_seconds: int
    core_dead_after: int
    auto_login: tuple[str, ...]
    announce_seconds: int
    callback_offer_seconds: int
    carrier_outbound_uri: str
    preset: str
    calendar_overrides: Path | None
    time_zone: str                  # the hotline's zone: where its days begin and end
    figures_reset_at: str           # [calls] start of the call-centre day, HH:MM in time_zone
    speech: dict[str, Any]          # the [speech] table; empty: no transcription
    dialing: dict[str, Any]         # the [dialing] table: the outbound number policy
    # config/campaigns.toml: the outbound dialer (calling hours, caps, retries per kind)
    campaigns_file: Path = Path("config/campaigns.toml")
    # [signin]: people's sign-in (lock-out, attempts, session length; hotline_core/users.py)
    signin: SigninTable = field(default_factory=SigninTable)
    # [core] instances: core processes `hotline up` starts on this Asterisk (stack/cluster.py);
    # instance i serves FastAGI on agi_port + i, all share http_port (SO_REUSEPORT).
    core_instances: int = 1

    @property
    def agi_ports(self) -> tuple[int, ...]:
        """The FastAGI port of each core instance, in instance order."""
        return tuple(self.agi_port + i for i in range(self.core_instances))

    @property
    def loopback(self) -> str:
        return "127.0.0.1"

    @property
    def https(self) -> bool:
        """HTTP is served over TLS: always with tls "on", beyond loopback with "auto"."""
        if self.tls == "auto":
            return not ipaddress.ip_address(self.bind_address).is_loopback
        return self.tls == "on"

    @property
    def http_host(self) -> str:
        """Where local clients (`hotline status`, health checks) reach the HTTP API."""
        return "127.0.0.1" if self.bind_address in ("0.0.0.0", "::") else self.bind_address

    @property
    def http_url(self) -> str:
        host = f"[{self.http_host}]" if ":" in self.http_host else self.http_host
        return f"{'https' if self.https else 'http'}://{host}:{self.http_port}/"

    def addresses(self) -> dict[str, str]:
        """Every address the stack listens on, for `hotline status`."""
        return {
            "sip (udp)": f"{self.bind_address}:{self.sip_port}",
            "http": (f"{'https' if self.https else 'http'}://{self.bind_address}:"
                     f"{self.http_port}/"),
            "rtp (udp)": f"{self.bind_address}:{self.rtp_start}-{self.rtp_end}",
            "ami": f"127.0.0.1:{self.ami_port}",
            "fastagi": ", ".join(f"127.0.0.1:{p}" for p in self.agi_ports),
            "redis": hide_password(self.redis_url),
            "database": hide_password(self.database_url),
        }


def hide_password(url: str) -> str:
    """``url`` with its password (if any) replaced by ``***``, for status output and logs."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        cred, host = rest.rsplit("@", 1)
        return f"{scheme}://{cred.split(':', 1)[0]}:***@{host}" if ":" in cred else url
    return url


Port = Annotated[int, Field(ge=1, le=65535)]
Positive = Annotated[float, Field(gt=0)]
PositiveInt = Annotated[int, Field(gt=0)]


def _ip_address(value: str) -> str:
    ipaddress.ip_address(value)           # ValueError names the value
    return value


def _ip_network(value: str) -> str:
    ipaddress.ip_network(value, strict=False)
    return value


class NetworkTable(ConfigModel):
    """``[network]``: where SIP, HTTP and RTP listen."""

    bind_address: Annotated[str, AfterValidator(_ip_address)] = "127.0.0.1"
    sip_port: Port = 5060
    http_port: Port = 8080
    tls: Literal["auto", "on", "off"] = Field(default="auto",
        description="auto: HTTPS beyond loopback")
    tls_cert: str = Field(default="",
        description="empty: a self-signed pair in <state_dir>/secrets/")
    tls_key: str = ""
    rtp_start: Port = 10000
    rtp_end: Port = 10999


class AmiTable(ConfigModel):
    """``[ami]``: the Asterisk Manager Interface (always 127.0.0.1)."""

    port: Port = 5038
    username: str = "hotline"
    timeout: Positive = 5.0


class CoreTable(ConfigModel):
    """``[core]``: how many core processes serve the one Asterisk (核心实例数)."""

    instances: int = Field(default=1, ge=1, le=8, description=(
        "core processes, all active: FastAGI on agi.port + i each (Asterisk fails over), "
        "one shared HTTP port, the periodic jobs on one leader"))


class AgiTable(ConfigModel):
    """``[agi]``: the core's FastAGI server (always 127.0.0.1)."""

    port: Port = 4573
    command_timeout: Positive = 10.0


class RedisTable(ConfigModel):
    """``[redis]``: the stack's own redis-server, or ``url`` of another one."""

    port: Port = 6379
    url: str = ""
    namespace: str = Field(default=DEFAULT_NAMESPACE, description="prefix of every key and channel")

    @field_validator("namespace")
    @classmethod
    def _namespace(cls, value: str) -> str:
        problem = check_namespace(value)
        if problem is not None:
            raise ValueError(problem)
        return value


class DatabaseTable(ConfigModel):
    """``[database]``: empty url = SQLite in the state directory."""

    url: str = ""


class PathsTable(ConfigModel):
    """``[paths]``: relative paths are relative to the repository root."""

    state_dir: str = "var"
    lines_file: str = "config/lines.toml"
    agents_file: str = "config/agents.toml"
    distribution_file: str = "config/distribution.toml"
    centres_file: str = Field(default="config/centres.toml",
        description="emergency centres' trunks; missing: none (transfers refused)")
    transfer_list_file: str = Field(default="config/transfer_list.toml",
        description="the two-way transfer list; missing: an empty list")
    campaigns_file: str = Field(default="config/campaigns.toml",
        description="the outbound dialer's rules; missing: the built-in defaults")
    api_tokens_file: str = Field(default="",
        description="empty: <state_dir>/secrets/api_tokens.yaml")
    prompts_file: str = "asterisk_conf/prompts.txt"
    prompts_override_dir: str = "config/prompts"


class AsteriskTable(ConfigModel):
    """``[asterisk]``: which Asterisk the stack runs."""

    mode: Literal["chroot", "system"] = "chroot"
    chroot: str = "/var/cache/hotline/asterisk-sid"
    instance: str = "main"


class TrunkTable(ConfigModel):
    """``[trunk]``: the carrier."""

    carrier_ips: list[Annotated[str, AfterValidator(_ip_network)]] = ["127.0.0.1"]
    outbound_uri: Annotated[str, StringConstraints(pattern=r"^(sip:.+)?$")] = Field(default="",
        description="a sip: URI of the carrier; empty: no outbound calls")


def _reset_at(value: str) -> str:
    parse_reset_at(value)
    return value


class CallsTable(ConfigModel):
    """``[calls]``: ringing, heartbeat, announcements, live figures."""

    ring_timeout: PositiveInt = 20
    heartbeat_seconds: PositiveInt = 2
    core_dead_after: PositiveInt = 6
    announce_seconds: PositiveInt = 30
    callback_offer_seconds: PositiveInt = 60
    auto_login: list[str] = []
    figures_reset_at: Annotated[str, AfterValidator(_reset_at)] = "00:00"

    @field_validator("core_dead_after")
    @classmethod
    def _after_heartbeat(cls, value: int, info: ValidationInfo) -> int:
        if value <= info.data.get("heartbeat_seconds", 0):
            raise ValueError("must exceed calls.heartbeat_seconds")
        return value


def _zone(value: str) -> str:
    zone_named(value)
    return value


class WorkordersTable(ConfigModel):
    """``[workorders]``: rule preset, calendar overrides, the hotline's time zone."""

    preset: str = Field(default="gaotai", description="presets/<name>.toml or a path to a copy")
    calendar_overrides: str = ""
    time_zone: Annotated[str, AfterValidator(_zone)] = "Asia/Shanghai"


class HotlineFile(ConfigModel):
    """``hotline.toml``: the deployment settings (部署设置)."""

    network: NetworkTable = NetworkTable()
    ami: AmiTable = AmiTable()
    agi: AgiTable = AgiTable()
    core: CoreTable = CoreTable()
    redis: RedisTable = RedisTable()
    database: DatabaseTable = DatabaseTable()
    paths: PathsTable = PathsTable()
    asterisk: AsteriskTable = AsteriskTable()
    trunk: TrunkTable = TrunkTable()
    dialing: DialingTable = DialingTable()
    calls: CallsTable = CallsTable()
    workorders: WorkordersTable = WorkordersTable()
    speech: SpeechTable = SpeechTable()
    signin: SigninTable = SigninTable()


def load_settings(path: Path | None = None, env: dict[str, str] | None = None) -> Settings:
    env = dict(os.environ) if env is None else env
    path = path or Path(env.get("HOTLINE_CONFIG", DEFAULT_CONFIG))
    text, data = parse_toml(path, "HOTLINE_CONFIG")
    f = validate_data(path, text, data, HotlineFile)
    net, paths, calls = f.network, f.paths, f.calls
    base = path.parent.parent if path.parent.name == "config" else path.parent

    def resolved(value: str) -> Path:
        p = Path(value)
        return p if p.is_absolute() else base / p

    def refused(setting: str, problem: str) -> ConfigError:
        return setting_error(path, text, setting.split("."), problem)

    if net.rtp_end <= net.rtp_start:
        raise refused("network.rtp_end", "must be greater than network.rtp_start")
    last_agi = f.agi.port + f.core.instances - 1
    if last_agi > 65535:
        raise refused("core.instances", f"agi.port {f.agi.port} + {f.core.instances} "
                      "instances passes port 65535")
    clashes = {net.http_port: "network.http_port", net.sip_port: "network.sip_port",
               f.ami.port: "ami.port", f.redis.port: "redis.port"}
    for port, setting in clashes.items():
        if f.agi.port <= port <= last_agi and f.core.instances > 1:
            raise refused("core.instances", f"the FastAGI ports {f.agi.port}-{last_agi} of "
                          f"{f.core.instances} instances include {setting} ({port})")
    if bool(net.tls_cert) != bool(net.tls_key):
        missing = "tls_cert" if not net.tls_cert else "tls_key"
        raise refused(f"network.{missing}", "network.tls_cert and network.tls_key go together")
    state_dir = resolved(paths.state_dir)
    redis_url, redis_owned = _redis_url(f.redis.url, f.redis.port, env, state_dir)
    chroot_value = env.get("HOTLINE_CHROOT") or f.asterisk.chroot
    return Settings(
        source=path,
        bind_address=net.bind_address,
        sip_port=net.sip_port,
        http_port=net.http_port,
        tls=net.tls,
        tls_cert=resolved(net.tls_cert) if net.tls_cert else None,
        tls_key=resolved(net.tls_key) if net.tls_key else None,
        rtp_start=net.rtp_start,
        rtp_end=net.rtp_end,
        ami_port=f.ami.port,
        ami_username=f.ami.username,
        ami_secret=_ami_secret(env, state_dir),
        ami_timeout=f.ami.timeout,
        agi_port=f.agi.port,
        agi_command_timeout=f.agi.command_timeout,
        redis_port=f.redis.port,
        redis_url=redis_url,
        redis_owned=redis_owned,
        redis_namespace=f.redis.namespace,
        database_url=_database_url(f.database.url, env, state_dir),
        state_dir=state_dir,
        lines_file=resolved(paths.lines_file),
        agents_file=resolved(paths.agents_file),
        distribution_file=resolved(paths.distribution_file),
        centres_file=resolved(paths.centres_file),
        transfer_list_file=resolved(paths.transfer_list_file),
        campaigns_file=resolved(paths.campaigns_file),
        api_tokens_file=(resolved(paths.api_tokens_file) if paths.api_tokens_file
                         else state_dir / "secrets" / "api_tokens.yaml"),
        prompts_file=resolved(paths.prompts_file),
        prompts_override_dir=resolved(paths.prompts_override_dir),
        asterisk_mode=f.asterisk.mode,
        chroot=Path(chroot_value) if f.asterisk.mode == "chroot" else None,
        instance=f.asterisk.instance,
        carrier_ips=tuple(f.trunk.carrier_ips),
        ring_timeout=calls.ring_timeout,
        heartbeat_seconds=calls.heartbeat_seconds,
        core_dead_after=calls.core_dead_after,
        auto_login=tuple(calls.auto_login),
        announce_seconds=calls.announce_seconds,
        callback_offer_seconds=calls.callback_offer_seconds,
        carrier_outbound_uri=f.trunk.outbound_uri,
        # [speech] and [dialing] as written: their own readers build their settings.
        speech=dict(data.get("speech", {})),
        dialing=dict(data.get("dialing", {})),
        preset=f.workorders.preset,
        calendar_overrides=(resolved(f.workorders.calendar_overrides)
                            if f.workorders.calendar_overrides else None),
        time_zone=f.workorders.time_zone,
        figures_reset_at=calls.figures_reset_at,
        signin=f.signin,
        core_instances=f.core.instances,
    )


def _database_url(configured: str, env: dict[str, str], state_dir: Path) -> str:
    """The database URL: SQLite in the state directory when empty; a PostgreSQL URL without
    a password gets HOTLINE_DB_PASSWORD."""
    if not configured:
        return f"sqlite:///{state_dir / 'hotline.db'}"
    if "@" in configured and ":" not in configured.split("://", 1)[1].split("@")[0]:
        pw = env.get("HOTLINE_DB_PASSWORD")
        if pw:
            scheme, rest = configured.split("://", 1)
            user, host = rest.split("@", 1)
            return f"{scheme}://{user}:{pw}@{host}"
    return configured


def _redis_url(configured: str, port: int, env: dict[str, str],
               state_dir: Path) -> tuple[str, bool]:
    """The Redis URL every client uses, and whether the stack starts that Redis itself.

    The stack's own redis-server always requires a password: HOTLINE_REDIS_PASSWORD, or
    one generated once into <state_dir>/secrets/redis. An external URL without a password
    gets HOTLINE_REDIS_PASSWORD when that is set (e.g. the compose file's redis service).
    """
    given = env.get("HOTLINE_REDIS_PASSWORD", "")
    if not configured:
        password = given or stored_secret(state_dir, "redis")
        return f"redis://:{urllib.parse.quote(password, safe='')}@127.0.0.1:{port}/0", True
    parts = urllib.parse.urlsplit(configured)
    if given and parts.password is None and parts.scheme in ("redis", "rediss"):
        user = urllib.parse.quote(parts.username or "", safe="")
        netloc = f"{user}:{urllib.parse.quote(given, safe='')}@{parts.netloc.rsplit('@', 1)[-1]}"
        return urllib.parse.urlunsplit(parts._replace(netloc=netloc)), False
    return configured, False


def _ami_secret(env: dict[str, str], state_dir: Path) -> str:
    """HOTLINE_AMI_SECRET, or one generated once for this installation (never committed)."""
    if env.get("HOTLINE_AMI_SECRET"):
        return env["HOTLINE_AMI_SECRET"]
    return stored_secret(state_dir, "ami")


def sip_password(state_dir: Path, agent_id: str, env: dict[str, str] | None = None) -> str:
    env = dict(os.environ) if env is None else env
    from_env = env.get(f"HOTLINE_SIP_PASSWORD_{agent_id}")
    return from_env or stored_secret(state_dir, f"sip-{agent_id}")
