"""The stack started from the command line (`hotline up --detach`, as tests/e2e/test_cli.py
does): its own files are private, no secret reaches its logs, its Redis wants the password
and its HTTP API speaks HTTPS when asked to (tls = "on" on 127.0.0.1: a non-loopback bind
address cannot be tested safely here, tests/security/test_tls.py shows "auto" turns on there).
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
import yaml

from hotline_core.agent_directory import load_agents
from stack.settings import REPO_ROOT, Settings, load_settings
from stack.tls import client_context
from testkit.redis_server import free_port
from testkit.stack import CHROOT, free_udp_port

pytestmark = pytest.mark.e2e


@dataclass
class CliStack:
    config: Path
    settings: Settings
    up: subprocess.CompletedProcess[str]


def _hotline(config: Path, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    # Secrets from the environment would not be in var/secrets: the stack generates its own.
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")}
    return subprocess.run([sys.executable, "-m", "stack.cli", "--config", str(config), *args],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout,
                          env=env)


@pytest.fixture(scope="module")
def cli_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CliStack]:
    tmp = tmp_path_factory.mktemp("hotline-files")
    http = free_port()
    config = tmp / "hotline.toml"
    config.write_text(f"""
[network]
sip_port = {free_udp_port()}
http_port = {http}
rtp_start = 41100
rtp_end = 41199
tls = "on"
[ami]
port = {free_port()}
[agi]
port = {free_port()}
[redis]
port = {free_port()}
[paths]
state_dir = "{tmp / 'var'}"
lines_file = "{REPO_ROOT / 'config' / 'lines.toml'}"
agents_file = "{REPO_ROOT / 'config' / 'agents.toml'}"
distribution_file = "{REPO_ROOT / 'config' / 'distribution.toml'}"
prompts_file = "{REPO_ROOT / 'asterisk_conf' / 'prompts.txt'}"
[asterisk]
chroot = "{CHROOT}"
instance = "files-{http}"
""")
    up = _hotline(config, "up", "--detach")
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        yield CliStack(config, load_settings(config, env={}), up)
    finally:
        _hotline(config, "down")
        shutil.rmtree(CHROOT / "srv" / "hotline" / f"files-{http}", ignore_errors=True)


def _others_may(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode) & 0o007


def test_stack_files_are_not_world_readable(cli_stack: CliStack) -> None:
    """On 4b97079 the database, logs, Redis AOF and recordings were created under the
    default umask 022: var/hotline.db, var/logs/*.log and var/redis/appendonlydir/* were
    0644 in 0755 directories, readable by every user of the machine."""
    var = cli_stack.settings.state_dir
    expected = ["hotline.db", "logs/stack.log", "logs/core.log", "logs/redis.log",
                "redis/appendonlydir", "secrets/ami", "secrets/redis", "secrets/api_tokens.yaml",
                "secrets/tls.key", "secrets/tls.crt", "run/hotline.pid"]
    for name in expected:
        assert (var / name).exists(), name
    entries = [var, *var.rglob("*")]
    assert len(entries) > len(expected)
    readable = [f"{p} {stat.filemode(p.lstat().st_mode)}" for p in entries if _others_may(p)
                and not p.is_symlink()]
    assert readable == []
    # Recordings live in the Asterisk instance; var/recordings links there.
    recordings = (var / "recordings").resolve()
    assert recordings.is_dir()
    assert _others_may(recordings) == 0, stat.filemode(recordings.stat().st_mode)


def _secrets_of(var: Path) -> dict[str, str]:
    found = {name: (var / "secrets" / name).read_text().strip() for name in ("ami", "redis")}
    for agent in load_agents(REPO_ROOT / "config" / "agents.toml"):
        found[f"sip-{agent.id}"] = (var / "secrets" / f"sip-{agent.id}").read_text().strip()
    tokens = yaml.safe_load((var / "secrets" / "api_tokens.yaml").read_text())["tokens"]
    for entry in tokens:
        found[f"token {entry['name']}"] = entry["token"]
    return found


def test_no_secret_in_any_log(cli_stack: CliStack) -> None:
    """On 4b97079 `hotline up --detach` wrote every agent's SIP password into
    var/logs/stack.log (the start-up banner went to the log, not to a terminal)."""
    var = cli_stack.settings.state_dir
    secrets = _secrets_of(var)
    # AMI, Redis, at least one agent's SIP password, supervisor and agents' API tokens.
    assert {"ami", "redis", "token supervisor"} <= set(secrets)
    assert any(name.startswith("sip-") for name in secrets)
    assert all(len(value) >= 16 for value in secrets.values())
    logs = {p: p.read_text(errors="replace") for p in (var / "logs").iterdir() if p.is_file()}
    # The banner is in stack.log: it names where the SIP passwords are, not what they are.
    assert "hotline is up" in logs[var / "logs" / "stack.log"]
    assert str(var / "secrets" / "sip-") in logs[var / "logs" / "stack.log"]
    leaks = [f"{name} in {path.name}" for path, text in logs.items()
             for name, value in secrets.items() if value in text]
    assert leaks == []
    # Nor in what `hotline up --detach` printed.
    assert not any(value in cli_stack.up.stdout + cli_stack.up.stderr
                   for value in secrets.values())


def test_redis_refuses_an_unauthenticated_client(cli_stack: CliStack) -> None:
    """On 4b97079 the stack's redis-server ran without a password: any local process could
    read the waiting callers and rewrite the call distribution's state."""
    port = cli_stack.settings.redis_port
    anonymous = redis.Redis(host="127.0.0.1", port=port, socket_timeout=5)
    with pytest.raises(redis.AuthenticationError):
        anonymous.get("anything")
    anonymous.close()
    password = (cli_stack.settings.state_dir / "secrets" / "redis").read_text()
    client = redis.Redis(host="127.0.0.1", port=port, password=password, socket_timeout=5)
    assert client.ping() is True
    client.close()


def test_http_api_speaks_https_and_status_verifies_it(cli_stack: CliStack) -> None:
    """With tls = "on" the core serves HTTPS with the generated certificate, and `hotline
    status` reaches it verified. On 4b97079 the `tls` key was silently ignored and the API
    was plain HTTP."""
    s = cli_stack.settings
    status = _hotline(cli_stack.config, "status")
    assert status.returncode == 0, status.stdout + status.stderr
    assert f"https://127.0.0.1:{s.http_port}/" in status.stdout
    url = f"https://127.0.0.1:{s.http_port}/api/health"
    with urllib.request.urlopen(url, timeout=10, context=client_context(s)) as resp:
        assert resp.status == 200
    with pytest.raises((urllib.error.URLError, ConnectionError)):
        urllib.request.urlopen(f"http://127.0.0.1:{s.http_port}/api/health", timeout=10)
    assert stat.S_IMODE((s.state_dir / "secrets" / "tls.key").stat().st_mode) == 0o600
