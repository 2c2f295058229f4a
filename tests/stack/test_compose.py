"""docker-compose.yml describes the same stack and is valid for a Docker host.

No Docker engine runs here, so the file is checked as YAML against what Compose requires
and against the repository (every file the image copies exists)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from stack.settings import REPO_ROOT, load_settings

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
