"""API tokens for a fresh installation: generated once, kept in the state directory.

Tokens are secrets, so none is committed; an operator can point ``paths.api_tokens_file``
at their own file (see hotline_core.workorders.access for the format).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import yaml

from hotline_core.agent_directory import AgentEntry


def ensure_tokens_file(path: Path, agents: tuple[AgentEntry, ...]) -> Path:
    if path.exists():
        return path
    entries = [{"name": "supervisor", "role": "supervisor", "token": secrets.token_urlsafe(24)}]
    entries += [{"name": a.id, "role": "operator", "token": secrets.token_urlsafe(24)}
                for a in agents]
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        yaml.safe_dump({"unmasked_roles": ["callback"], "tokens": entries}, fh,
                       allow_unicode=True)
    return path


def token_of(path: Path, name: str) -> str | None:
    data = yaml.safe_load(path.read_text())
    for entry in data.get("tokens", []):
        if entry.get("name") == name and "token" in entry:
            return str(entry["token"])
    return None
