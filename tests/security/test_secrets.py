"""Secrets of an installation: the stack's own Redis requires a password, a secret file is
written whole or not at all, and an empty one is refused, naming it."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from hotline_core.agent_directory import load_agents
from hotline_core.config_errors import ConfigError
from stack.services import Redis
from stack.settings import Settings, load_settings, stored_secret
from stack.tokens import ensure_tokens_file
from testkit.redis_server import free_port


def _settings(tmp_path: Path, text: str = "", env: dict[str, str] | None = None) -> Settings:
    path = tmp_path / "hotline.toml"
    path.write_text(f'{text}\n[paths]\nstate_dir = "{tmp_path / "var"}"\n')
    return load_settings(path, env=env if env is not None else {})


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[Settings]:
    """The stack's own redis-server, started the way `hotline up` starts it."""
    settings = _settings(tmp_path, f"[redis]\nport = {free_port()}")
    server = Redis(settings)
    server.start()
    try:
        yield settings
    finally:
        server.stop()


def test_own_redis_refuses_a_client_without_the_password(own_redis: Settings) -> None:
    """On 4b97079 the stack's redis-server had no password: any local user (or any process
    that reached 127.0.0.1) could read the waiting callers' numbers and rewrite the call
    distribution's state."""
    anonymous = redis.Redis(host="127.0.0.1", port=own_redis.redis_port, socket_timeout=5)
    with pytest.raises(redis.AuthenticationError):
        anonymous.ping()
    anonymous.close()
    # The clients of the stack use the settings' URL, which carries the password.
    client = redis.Redis.from_url(own_redis.redis_url, socket_timeout=5)
    assert client.ping() is True
    client.close()


def test_own_redis_password_is_not_on_its_command_line(own_redis: Settings) -> None:
    """Every user of the machine can read a command line (ps): the password goes to
    redis-server as configuration on stdin."""
    password = (own_redis.state_dir / "secrets" / "redis").read_text()
    assert len(password) >= 20
    pids = [p for p in os.listdir("/proc") if p.isdigit()]
    redis_cmdlines = []
    for pid in pids:
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if f"{own_redis.redis_port}" in cmdline and "redis-server" in cmdline:
            redis_cmdlines.append(cmdline)
    assert redis_cmdlines, "the test's redis-server was not found in /proc"
    assert not any(password in line for line in redis_cmdlines)


def test_redis_password_comes_from_the_environment_or_is_generated_once(
        tmp_path: Path) -> None:
    """HOTLINE_REDIS_PASSWORD wins; otherwise one generated secret, the same on every
    start, kept in var/secrets/redis (0600); an external URL gets the password from the
    environment (compose), a URL that has one keeps it."""
    port = free_port()
    given = _settings(tmp_path, f"[redis]\nport = {port}",
                      env={"HOTLINE_REDIS_PASSWORD": "p@ss word"})
    # Percent-encoded in the URL: "@" is %40 and the space %20.
    assert given.redis_url == f"redis://:p%40ss%20word@127.0.0.1:{port}/0"
    assert given.redis_owned
    first = _settings(tmp_path, f"[redis]\nport = {port}")
    secret_file = tmp_path / "var" / "secrets" / "redis"
    generated = secret_file.read_text()
    assert first.redis_url == f"redis://:{generated}@127.0.0.1:{port}/0"
    assert _settings(tmp_path, f"[redis]\nport = {port}").redis_url == first.redis_url
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    external = _settings(tmp_path, '[redis]\nurl = "redis://redis:6379/0"',
                         env={"HOTLINE_REDIS_PASSWORD": "pw"})
    assert (external.redis_url, external.redis_owned) == ("redis://:pw@redis:6379/0", False)
    keeps = _settings(tmp_path, '[redis]\nurl = "redis://:own@redis:6379/0"',
                      env={"HOTLINE_REDIS_PASSWORD": "pw"})
    assert keeps.redis_url == "redis://:own@redis:6379/0"
    # `hotline status` shows where Redis is, never the password.
    assert generated not in first.addresses()["redis"]
    assert first.addresses()["redis"] == f"redis://:***@127.0.0.1:{port}/0"


def test_empty_secret_file_is_refused_naming_it(tmp_path: Path) -> None:
    """On 4b97079 an empty var/secrets/ami (a disk that filled up, a careless edit) was read
    as the AMI secret "": Asterisk's manager user got an empty secret."""
    secrets_dir = tmp_path / "var" / "secrets"
    secrets_dir.mkdir(parents=True)
    (secrets_dir / "ami").write_text("\n")
    with pytest.raises(ConfigError) as err:
        _settings(tmp_path)
    assert err.value.source == str(secrets_dir / "ami")
    assert "empty" in str(err.value)


def test_empty_tokens_file_is_refused_naming_it(tmp_path: Path) -> None:
    """On 4b97079 an empty api_tokens.yaml was taken as an existing tokens file; only the
    access policy, read later, said "'tokens' must be a non-empty list". Now the empty
    secret file itself is refused, naming it."""
    tokens = tmp_path / "secrets" / "api_tokens.yaml"
    tokens.parent.mkdir()
    tokens.write_text("")
    agents = load_agents(Path(__file__).resolve().parents[2] / "config" / "agents.toml")
    with pytest.raises(ConfigError) as err:
        ensure_tokens_file(tokens, agents)
    assert err.value.source == str(tokens)


class _FailingWrites:
    """A file object whose write fails as on a full disk."""

    def __init__(self, real: Any) -> None:
        self.real = real

    def __enter__(self) -> _FailingWrites:
        return self

    def __exit__(self, *exc: object) -> None:
        self.real.close()

    def write(self, _text: str) -> int:
        raise OSError(28, "No space left on device")


def test_a_secret_is_never_left_half_written(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """On 4b97079 the secret file was created under its final name and then written: a
    write that failed (full disk, killed process) left an empty file there, and every later
    start used "" as the secret. Now the file appears whole or not at all."""
    real_fdopen = os.fdopen
    monkeypatch.setattr(os, "fdopen", lambda *a, **k: _FailingWrites(real_fdopen(*a, **k)))
    with pytest.raises(OSError, match="No space left"):
        stored_secret(tmp_path, "ami")
    monkeypatch.undo()
    folder = tmp_path / "secrets"
    assert not (folder / "ami").exists()
    assert [p.name for p in folder.iterdir()] == []       # no temporary file left either
    value = stored_secret(tmp_path, "ami")
    assert len(value) >= 20
    assert (folder / "ami").read_text() == value


def test_two_starts_at_once_agree_on_one_secret(tmp_path: Path) -> None:
    """A secret written while another process already wrote it keeps the first one."""
    from stack.secret_files import write_secret_file

    path = tmp_path / "secrets" / "redis"
    assert write_secret_file(path, "first") == "first"
    assert write_secret_file(path, "second") == "first"
    assert path.read_text() == "first"
