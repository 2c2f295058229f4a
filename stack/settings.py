"""Deployment settings: read from TOML, validated at start-up, secrets from the environment.

Every problem raises :class:`ConfigError` naming the file and the setting, so an operator
knows what to fix before anything starts.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hotline_core.call_figures_day import parse_reset_at
from hotline_core.clock import zone_named
from hotline_core.config_errors import ConfigError, line_of, read_config_text
from hotline_core.redis_keys import DEFAULT_NAMESPACE, check_namespace
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
            "fastagi": f"127.0.0.1:{self.agi_port}",
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


def load_settings(path: Path | None = None, env: dict[str, str] | None = None) -> Settings:
    env = dict(os.environ) if env is None else env
    path = path or Path(env.get("HOTLINE_CONFIG", DEFAULT_CONFIG))
    text = read_config_text(path, "HOTLINE_CONFIG")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        at = re.search(r"at line (\d+)", str(exc))
        raise ConfigError(path, "(file)", f"not valid TOML: {exc}",
                          int(at.group(1)) if at else None) from exc
    r = _Reader(path, data, text)
    base = path.parent.parent if path.parent.name == "config" else path.parent
    state_dir = r.path("paths", "state_dir", "var", base)
    database_url = r.str("database", "url", "")
    if not database_url:
        database_url = f"sqlite:///{state_dir / 'hotline.db'}"
    elif "@" in database_url and ":" not in database_url.split("://", 1)[1].split("@")[0]:
        pw = env.get("HOTLINE_DB_PASSWORD")
        if pw:
            scheme, rest = database_url.split("://", 1)
            user, host = rest.split("@", 1)
            database_url = f"{scheme}://{user}:{pw}@{host}"
    redis_port = r.port("redis", "port", 6379)
    redis_url, redis_owned = _redis_url(r.str("redis", "url", ""), redis_port, env, state_dir)
    redis_namespace = r.str("redis", "namespace", DEFAULT_NAMESPACE)
    if (problem := check_namespace(redis_namespace)) is not None:
        raise r.error("redis", "namespace", problem)
    tls = r.str("network", "tls", "auto")
    if tls not in ("auto", "on", "off"):
        raise r.error("network", "tls", f"{tls!r} must be \"auto\", \"on\" or \"off\"")
    tls_cert = r.path("network", "tls_cert", "", base) if r.str("network", "tls_cert", "") else None
    tls_key = r.path("network", "tls_key", "", base) if r.str("network", "tls_key", "") else None
    if (tls_cert is None) != (tls_key is None):
        missing = "tls_key" if tls_key is None else "tls_cert"
        raise r.error("network", missing, "network.tls_cert and network.tls_key go together")
    mode = r.str("asterisk", "mode", "chroot")
    if mode not in ("chroot", "system"):
        raise r.error("asterisk", "mode", "must be 'chroot' or 'system'")
    chroot_value = env.get("HOTLINE_CHROOT") or r.str("asterisk", "chroot",
                                                      "/var/cache/hotline/asterisk-sid")
    rtp_start, rtp_end = r.port("network", "rtp_start", 10000), r.port("network", "rtp_end", 10999)
    if rtp_end <= rtp_start:
        raise r.error("network", "rtp_end", "must be greater than network.rtp_start")
    settings = Settings(
        source=path,
        bind_address=r.address("network", "bind_address", "127.0.0.1"),
        sip_port=r.port("network", "sip_port", 5060),
        http_port=r.port("network", "http_port", 8080),
        tls=tls,
        tls_cert=tls_cert,
        tls_key=tls_key,
        rtp_start=rtp_start,
        rtp_end=rtp_end,
        ami_port=r.port("ami", "port", 5038),
        ami_username=r.str("ami", "username", "hotline"),
        ami_secret=_ami_secret(env, state_dir),
        ami_timeout=r.positive("ami", "timeout", 5.0),
        agi_port=r.port("agi", "port", 4573),
        agi_command_timeout=r.positive("agi", "command_timeout", 10.0),
        redis_port=redis_port,
        redis_url=redis_url,
        redis_owned=redis_owned,
        redis_namespace=redis_namespace,
        database_url=database_url,
        state_dir=state_dir,
        lines_file=r.path("paths", "lines_file", "config/lines.toml", base),
        agents_file=r.path("paths", "agents_file", "config/agents.toml", base),
        distribution_file=r.path("paths", "distribution_file", "config/distribution.toml", base),
        api_tokens_file=(r.path("paths", "api_tokens_file", "", base)
                         if r.str("paths", "api_tokens_file", "")
                         else state_dir / "secrets" / "api_tokens.yaml"),
        prompts_file=r.path("paths", "prompts_file", "asterisk_conf/prompts.txt", base),
        prompts_override_dir=r.path("paths", "prompts_override_dir", "config/prompts", base),
        asterisk_mode=mode,
        chroot=Path(chroot_value) if mode == "chroot" else None,
        instance=r.str("asterisk", "instance", "main"),
        carrier_ips=r.ip_list("trunk", "carrier_ips", ["127.0.0.1"]),
        ring_timeout=int(r.positive("calls", "ring_timeout", 20)),
        heartbeat_seconds=int(r.positive("calls", "heartbeat_seconds", 2)),
        core_dead_after=int(r.positive("calls", "core_dead_after", 6)),
        auto_login=tuple(r.str_list("calls", "auto_login", [])),
        announce_seconds=int(r.positive("calls", "announce_seconds", 30)),
        callback_offer_seconds=int(r.positive("calls", "callback_offer_seconds", 60)),
        carrier_outbound_uri=r.str("trunk", "outbound_uri", ""),
        speech=r.table("speech"),
        dialing=r.table("dialing"),
        preset=r.str("workorders", "preset", "gaotai"),
        calendar_overrides=(r.path("workorders", "calendar_overrides", "", base)
                            if r.str("workorders", "calendar_overrides", "") else None),
        time_zone=r.str("workorders", "time_zone", "Asia/Shanghai"),
        figures_reset_at=r.str("calls", "figures_reset_at", "00:00"),
    )
    try:
        zone_named(settings.time_zone)
    except ValueError as exc:
        raise r.error("workorders", "time_zone", str(exc)) from None
    try:
        parse_reset_at(settings.figures_reset_at)
    except ValueError as exc:
        raise r.error("calls", "figures_reset_at", str(exc)) from None
    if settings.carrier_outbound_uri and not settings.carrier_outbound_uri.startswith("sip:"):
        raise r.error("trunk", "outbound_uri", "must be a sip: URI of the carrier")
    if settings.core_dead_after <= settings.heartbeat_seconds:
        raise r.error("calls", "core_dead_after", "must exceed calls.heartbeat_seconds")
    # [speech] and [dialing] are checked key by key by their own readers.
    r.refuse_unknown_keys(skip={"speech", "dialing"})
    return settings


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


class _Reader:
    def __init__(self, path: Path, data: dict[str, Any], text: str = "") -> None:
        self.path_ = path
        self.data = data
        self.text = text
        self.read: set[tuple[str, str]] = set()
        known = {"network", "ami", "agi", "redis", "database", "paths", "asterisk", "trunk",
                 "calls", "workorders", "speech", "dialing"}
        for section in data:
            if section not in known:
                raise ConfigError(path, section, "unknown section", line_of(text, section))

    def error(self, section: str, key: str, problem: str) -> ConfigError:
        return ConfigError(self.path_, f"{section}.{key}", problem,
                           line_of(self.text, section, key))

    def _get(self, section: str, key: str, default: Any) -> Any:
        table = self.data.get(section, {})
        if not isinstance(table, dict):
            raise ConfigError(self.path_, section, "must be a table", line_of(self.text, section))
        self.read.add((section, key))
        return table.get(key, default)

    def refuse_unknown_keys(self, skip: set[str]) -> None:
        """A key no setting reads is a typo or a leftover: it stops start-up, named."""
        for section, table in self.data.items():
            if section in skip or not isinstance(table, dict):
                continue
            for key in table:
                if (section, key) not in self.read:
                    raise self.error(section, key, "unknown setting")

    def table(self, section: str) -> dict[str, Any]:
        table = self.data.get(section, {})
        if not isinstance(table, dict):
            raise ConfigError(self.path_, section, "must be a table", line_of(self.text, section))
        return dict(table)

    def str(self, section: str, key: str, default: str) -> str:
        value = self._get(section, key, default)
        if not isinstance(value, str):
            raise self.error(section, key, "must be a string")
        return value

    def port(self, section: str, key: str, default: int) -> int:
        value = self._get(section, key, default)
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 65535:
            raise self.error(section, key, f"{value!r} is not a port (1-65535)")
        return value

    def positive(self, section: str, key: str, default: float) -> float:
        value = self._get(section, key, default)
        if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
            raise self.error(section, key, f"{value!r} must be a positive number")
        return float(value)

    def address(self, section: str, key: str, default: str) -> str:
        value = self.str(section, key, default)
        try:
            ipaddress.ip_address(value)
        except ValueError as exc:
            raise self.error(section, key, f"{value!r} is not an IP address") from exc
        return value

    def ip_list(self, section: str, key: str, default: list[str]) -> tuple[str, ...]:
        values = self.str_list(section, key, default)
        for v in values:
            try:
                ipaddress.ip_network(v, strict=False)
            except ValueError as exc:
                raise self.error(section, key, f"{v!r} is not an IP address") from exc
        return tuple(values)

    def str_list(self, section: str, key: str, default: list[str]) -> list[str]:
        value = self._get(section, key, default)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.error(section, key, "must be a list of strings")
        return value

    def path(self, section: str, key: str, default: str, base: Path) -> Path:
        p = Path(self.str(section, key, default))
        return p if p.is_absolute() else base / p
