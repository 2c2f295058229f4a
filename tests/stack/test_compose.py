"""docker-compose.yml describes the same stack and is valid for a Docker host.

No Docker engine runs here, so the file is checked as YAML against what Compose requires
and against the repository (every file the image copies exists)."""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import redis
import yaml

from stack.instance import spec_from_settings
from stack.settings import REPO_ROOT, load_settings
from stack.speech_service import speech_settings
from testkit.redis_server import free_port

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


DOCKER_SETTINGS = REPO_ROOT / "config" / "hotline.docker.toml"
HOTLINE = Path(sys.executable).with_name("hotline")


def _commands(service: dict[str, Any]) -> list[list[str]]:
    """The argument vectors a service runs: its command, and the commands of an `sh -c`
    script split at `&&`, `;` and `exec` (here-documents cut off)."""
    command = service.get("command")
    if not command:
        return []
    if command[:2] != ["sh", "-c"]:
        return [list(command)]
    script = command[2].split("<<")[0]
    words = shlex.split(script)
    vectors: list[list[str]] = [[]]
    for word in words:
        if word in ("&&", ";", "||"):
            vectors.append([])
        elif word != "exec":
            vectors[-1].append(word)
    return [v for v in vectors if v]


def _is_main_module(name: str) -> bool:
    """`python -m NAME` runs: NAME is importable and has a __main__ (module guard or
    package __main__)."""
    spec = importlib.util.find_spec(name)
    if spec is None:
        return False
    if spec.submodule_search_locations is not None:
        return importlib.util.find_spec(f"{name}.__main__") is not None
    assert spec.origin is not None
    return 'if __name__ == "__main__":' in Path(spec.origin).read_text()


def _service_env(service: dict[str, Any]) -> dict[str, str]:
    env = {}
    for key, value in (service.get("environment") or {}).items():
        env[key] = "x" if str(value).startswith("${") else str(value)
    return env


def test_every_command_the_compose_file_runs_exists(tmp_path: Path) -> None:
    """Every `hotline SUB` is a subcommand the installed `hotline` accepts, every
    `python -m MOD` is importable with a __main__, `asterisk -C FILE` names the file that
    `hotline render-asterisk` writes for the docker settings, and every other program is
    one the Dockerfile installs. On 4b97079 the speech service ran `python -m speech.worker`:
    importable, but without a __main__ (this test failed on it)."""
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    dockerfile = (REPO_ROOT / "docker" / "Dockerfile").read_text()
    settings = load_settings(DOCKER_SETTINGS, env={"HOTLINE_AMI_SECRET": "s"})
    # Rendering for real would write /srv/hotline on this machine: only the path is needed.
    settings = dataclasses.replace(settings, state_dir=tmp_path)
    asterisk_conf = spec_from_settings(settings).host_dir / "etc" / "asterisk.conf"
    checked = []
    for name, service in services.items():
        for argv in _commands(service):
            program = argv[0]
            if program == "hotline":
                run = subprocess.run([str(HOTLINE), argv[1], "--help"], capture_output=True,
                                     text=True, timeout=60)
                assert run.returncode == 0, f"{name}: hotline {argv[1]}: {run.stderr}"
            elif program == "python":
                assert argv[1] == "-m", f"{name}: {argv}"
                assert _is_main_module(argv[2]), f"{name}: python -m {argv[2]} cannot run"
            elif program == "asterisk":
                assert argv[argv.index("-C") + 1] == str(asterisk_conf), name
                assert " asterisk " in dockerfile
            elif program == "redis-server":
                assert services[name]["image"].startswith("redis:")
            else:
                raise AssertionError(f"{name}: unknown program {program}")
            checked.append((name, program))
    assert ("speech", "hotline") in checked and ("core", "hotline") in checked
    assert ("asterisk", "asterisk") in checked


def test_compose_speech_service_has_its_settings() -> None:
    """The speech service starts `hotline speech-workers` with the docker settings: they
    must turn transcription on (a [speech] model_dir), and that directory must be the mount
    target of the model volume in the speech and the core container (live transcripts run
    in the core). On 4b97079 hotline.docker.toml had no [speech]: the workers stopped with
    "transcription is off"."""
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    env = _service_env(services["speech"]) | {"HOTLINE_AMI_SECRET": "s"}
    speech = speech_settings(load_settings(DOCKER_SETTINGS, env=env))
    assert speech is not None, "transcription is off in hotline.docker.toml"
    for name in ("speech", "core"):
        targets = [v.split(":")[-2] if v.endswith((":ro", ":rw")) else v.split(":")[-1]
                   for v in services[name]["volumes"]]
        assert str(speech.model_dir) in targets, f"{name} does not mount {speech.model_dir}"
    assert speech.keywords_file is not None and speech.keywords_file.is_file()


def test_compose_variables_are_named_in_its_header() -> None:
    """Every ${VARIABLE} the compose file reads is named in its header comment, where an
    operator looks for what the .env file must hold."""
    text = COMPOSE.read_text()
    header = "".join(line for line in text.splitlines(keepends=True) if line.startswith("#"))
    used = set(re.findall(r"\$\{(\w+)", text))
    assert used, "no variables found"
    for variable in used:
        assert variable in header, variable
