"""API tokens for a fresh installation: generated once, kept in the state directory.

Tokens are secrets, so none is committed; an operator can point ``paths.api_tokens_file``
at their own file (see hotline_core.access for the format).
"""

from __future__ import annotations

import secrets
from pathlib import Path

import yaml

from hotline_core.agent_directory import AgentEntry
from stack.secret_files import read_secret_file, write_secret_file


def ensure_tokens_file(path: Path, agents: tuple[AgentEntry, ...]) -> Path:
    if path.exists():
        read_secret_file(path)            # an empty tokens file stops start-up, named
        return path
    entries = [{"name": "supervisor", "role": "supervisor", "token": secrets.token_urlsafe(24)}]
    entries += [{"name": a.id, "role": "operator", "token": secrets.token_urlsafe(24)}
                for a in agents]
    # Written whole or not at all (mode 0600); a core starting at the same moment keeps the
    # file that was written first.
    write_secret_file(path, yaml.safe_dump({"unmasked_roles": ["callback"], "tokens": entries},
                                           allow_unicode=True))
    return path


def token_of(path: Path, name: str) -> str | None:
    data = yaml.safe_load(path.read_text())
    for entry in data.get("tokens", []):
        if entry.get("name") == name and "token" in entry:
            return str(entry["token"])
    return None
