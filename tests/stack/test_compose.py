"""docker-compose.yml describes the same stack and is valid for a Docker host.

No Docker engine runs here, so the file is checked as YAML against what Compose requires
and against the repository (every file the image copies exists)."""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path

import redis
import yaml

from stack.settings import REPO_ROOT, load_settings
from tests.helpers.redis_server import free_port

COMPOSE = REPO_ROOT / "docker-compose.yml"


def test_compose_file_parses_and_has_the_stack() -> None:
    data = yaml.safe_load(COMPOSE.read_text())
    assert set(data["services"]) >= {"asterisk", "core", "redis", "postgres", "speech"}
    # AMI and FastAGI stay on loopback: the core shares Asterisk's network namespace.
    assert data["services"]["core"]["network_mode"] == "service:asterisk"
    for service in data["services"].values():
        build = service.get("build")
        if build:
            assert (REPO_ROOT / build["context"] / build["dockerfile"]).is_file()


def test_compose_commits_no_secret() -> None:
    text = COMPOSE.read_text()
    for line in text.splitlines():
        if re.search(r"(SECRET|PASSWORD)\w*:", line):
            assert "${" in line, f"secret given literally: {line.strip()}"


def test_dockerfile_copies_only_existing_paths() -> None:
    dockerfile = (REPO_ROOT / "docker" / "Dockerfile").read_text()
    for src in re.findall(r"^COPY (\S+)", dockerfile, flags=re.M):
        assert (REPO_ROOT / src).exists(), src


def test_docker_settings_are_valid() -> None:
    settings = load_settings(REPO_ROOT / "config" / "hotline.docker.toml",
                             env={"HOTLINE_DB_PASSWORD": "pw", "HOTLINE_AMI_SECRET": "s"})
    assert settings.asterisk_mode == "system"
    assert settings.database_url == "postgresql+psycopg://hotline:pw@postgres/hotline"
    assert Path(settings.state_dir) == Path("/srv/hotline/state")


def test_compose_redis_requires_the_password_from_the_environment(tmp_path: Path) -> None:
    """The compose redis service runs its own command (Compose's "$$" is a literal "$") with
    a real sh and redis-server, on a free loopback port: a client without the password is
    refused, one with HOTLINE_REDIS_PASSWORD is served, and the password is on no command
    line. On 4b97079 the service ran `redis-server --appendonly yes`: no password."""
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    for client in ("core", "speech"):
        assert services[client]["environment"]["HOTLINE_REDIS_PASSWORD"].startswith("${")
    shell, flag, script = services["redis"]["command"]
    assert (shell, flag) == ("sh", "-c")
    port = free_port()
    script = script.replace("$$", "$").replace(
        "redis-server - --appendonly yes",
        f"redis-server - --appendonly no --save '' --port {port} --bind 127.0.0.1 "
        f"--dir {tmp_path}")
    env = dict(os.environ, HOTLINE_REDIS_PASSWORD="compose-pw-123")
    proc = subprocess.Popen(["sh", "-c", script], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        anonymous = redis.Redis(host="127.0.0.1", port=port, socket_timeout=5)
        deadline = time.monotonic() + 10
        while True:       # redis-server gives no readiness signal but its port
            try:
                anonymous.ping()
                raise AssertionError("redis answered a client without the password")
            except redis.AuthenticationError:
                break
            except redis.ConnectionError:
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)
        authed = redis.Redis(host="127.0.0.1", port=port, password="compose-pw-123",
                             socket_timeout=5)
        assert authed.ping() is True
        cmdline = Path(f"/proc/{proc.pid}/cmdline").read_bytes()
        assert b"compose-pw-123" not in cmdline
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_compose_clients_get_the_redis_password() -> None:
    settings = load_settings(REPO_ROOT / "config" / "hotline.docker.toml",
                             env={"HOTLINE_DB_PASSWORD": "pw", "HOTLINE_AMI_SECRET": "s",
                                  "HOTLINE_REDIS_PASSWORD": "rpw"})
    assert settings.redis_url == "redis://:rpw@redis:6379/0"
    assert settings.https          # bound to 0.0.0.0: the API is served over HTTPS
