"""Deployment settings: read from TOML, validated at start-up, secrets from the environment.

Every problem raises :class:`ConfigError` naming the file and the setting, so an operator
knows what to fix before anything starts.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hotline_core.config_errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = REPO_ROOT / "config" / "hotline.toml"


@dataclass(frozen=True)
class Settings:
    source: Path
    bind_address: str
    sip_port: int
    http_port: int
    rtp_start: int
    rtp_end: int
    ami_port: int
    ami_username: str
    ami_secret: str
    ami_timeout: float
    agi_port: int
    agi_command_timeout: float
    redis_port: int
    redis_url: str
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
    speech: dict[str, Any]          # the [speech] table; empty: no transcription
    dialing: dict[str, Any]         # the [dialing] table: the outbound number policy

    @property
    def loopback(self) -> str:
        return "127.0.0.1"

    def addresses(self) -> dict[str, str]:
        """Every address the stack listens on, for `hotline status`."""
        return {
            "sip (udp)": f"{self.bind_address}:{self.sip_port}",
            "http": f"http://{self.bind_address}:{self.http_port}/",
            "rtp (udp)": f"{self.bind_address}:{self.rtp_start}-{self.rtp_end}",
            "ami": f"127.0.0.1:{self.ami_port}",
            "fastagi": f"127.0.0.1:{self.agi_port}",
            "redis": self.redis_url,
            "database": _hide_password(self.database_url),
        }


def _hide_password(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        cred, host = rest.rsplit("@", 1)
        return f"{scheme}://{cred.split(':', 1)[0]}:***@{host}" if ":" in cred else url
    return url


def load_settings(path: Path | None = None, env: dict[str, str] | None = None) -> Settings:
    env = dict(os.environ) if env is None else env
    path = path or Path(env.get("HOTLINE_CONFIG", DEFAULT_CONFIG))
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(path, "HOTLINE_CONFIG", "file not found") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(path, "(file)", f"not valid TOML: {exc}") from exc
    r = _Reader(path, data)
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
    mode = r.str("asterisk", "mode", "chroot")
    if mode not in ("chroot", "system"):
        raise ConfigError(path, "asterisk.mode", "must be 'chroot' or 'system'")
    chroot_value = env.get("HOTLINE_CHROOT") or r.str("asterisk", "chroot",
                                                      "/var/cache/hotline/asterisk-sid")
    rtp_start, rtp_end = r.port("network", "rtp_start", 10000), r.port("network", "rtp_end", 10999)
    if rtp_end <= rtp_start:
        raise ConfigError(path, "network.rtp_end", "must be greater than network.rtp_start")
    settings = Settings(
        source=path,
        bind_address=r.address("network", "bind_address", "127.0.0.1"),
        sip_port=r.port("network", "sip_port", 5060),
        http_port=r.port("network", "http_port", 8080),
        rtp_start=rtp_start,
        rtp_end=rtp_end,
        ami_port=r.port("ami", "port", 5038),
        ami_username=r.str("ami", "username", "hotline"),
        ami_secret=_ami_secret(env, state_dir),
        ami_timeout=r.positive("ami", "timeout", 5.0),
        agi_port=r.port("agi", "port", 4573),
        agi_command_timeout=r.positive("agi", "command_timeout", 10.0),
        redis_port=redis_port,
        redis_url=r.str("redis", "url", "") or f"redis://127.0.0.1:{redis_port}/0",
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
    )
    if settings.carrier_outbound_uri and not settings.carrier_outbound_uri.startswith("sip:"):
        raise ConfigError(path, "trunk.outbound_uri", "must be a sip: URI of the carrier")
    if settings.core_dead_after <= settings.heartbeat_seconds:
        raise ConfigError(path, "calls.core_dead_after", "must exceed calls.heartbeat_seconds")
    return settings


def _ami_secret(env: dict[str, str], state_dir: Path) -> str:
    """HOTLINE_AMI_SECRET, or one generated once for this installation (never committed)."""
    if env.get("HOTLINE_AMI_SECRET"):
        return env["HOTLINE_AMI_SECRET"]
    return stored_secret(state_dir, "ami")


def stored_secret(state_dir: Path, name: str) -> str:
    """A random secret kept in <state_dir>/secrets/<name> (mode 0600), made on first use."""
    folder = state_dir / "secrets"
    file = folder / name
    if file.exists():
        return file.read_text().strip()
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    value = secrets.token_urlsafe(18)
    fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(value)
    return value


def sip_password(state_dir: Path, agent_id: str, env: dict[str, str] | None = None) -> str:
    env = dict(os.environ) if env is None else env
    from_env = env.get(f"HOTLINE_SIP_PASSWORD_{agent_id}")
    return from_env or stored_secret(state_dir, f"sip-{agent_id}")


class _Reader:
    def __init__(self, path: Path, data: dict[str, Any]) -> None:
        self.path_ = path
        self.data = data
        known = {"network", "ami", "agi", "redis", "database", "paths", "asterisk", "trunk",
                 "calls", "workorders", "speech", "dialing"}
        for section in data:
            if section not in known:
                raise ConfigError(path, section, "unknown section")

    def _get(self, section: str, key: str, default: Any) -> Any:
        table = self.data.get(section, {})
        if not isinstance(table, dict):
            raise ConfigError(self.path_, section, "must be a table")
        return table.get(key, default)

    def table(self, section: str) -> dict[str, Any]:
        table = self.data.get(section, {})
        if not isinstance(table, dict):
            raise ConfigError(self.path_, section, "must be a table")
        return dict(table)

    def str(self, section: str, key: str, default: str) -> str:
        value = self._get(section, key, default)
        if not isinstance(value, str):
            raise ConfigError(self.path_, f"{section}.{key}", "must be a string")
        return value

    def port(self, section: str, key: str, default: int) -> int:
        value = self._get(section, key, default)
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 65535:
            raise ConfigError(self.path_, f"{section}.{key}", f"{value!r} is not a port (1-65535)")
        return value

    def positive(self, section: str, key: str, default: float) -> float:
        value = self._get(section, key, default)
        if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
            raise ConfigError(self.path_, f"{section}.{key}",
                              f"{value!r} must be a positive number")
        return float(value)

    def address(self, section: str, key: str, default: str) -> str:
        value = self.str(section, key, default)
        try:
            ipaddress.ip_address(value)
        except ValueError as exc:
            raise ConfigError(self.path_, f"{section}.{key}",
                              f"{value!r} is not an IP address") from exc
        return value

    def ip_list(self, section: str, key: str, default: list[str]) -> tuple[str, ...]:
        values = self.str_list(section, key, default)
        for v in values:
            try:
                ipaddress.ip_network(v, strict=False)
            except ValueError as exc:
                raise ConfigError(self.path_, f"{section}.{key}",
                                  f"{v!r} is not an IP address") from exc
        return tuple(values)

    def str_list(self, section: str, key: str, default: list[str]) -> list[str]:
        value = self._get(section, key, default)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(self.path_, f"{section}.{key}", "must be a list of strings")
        return value

    def path(self, section: str, key: str, default: str, base: Path) -> Path:
        p = Path(self.str(section, key, default))
        return p if p.is_absolute() else base / p
