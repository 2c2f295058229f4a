"""Who may do what (权限): bearer tokens mapped to a role and, for unit users, a unit.

The mapping is configuration (a YAML file, see ``config/api_tokens.sample.yaml``)::

    unmasked_roles: [callback]       # roles that see full phone numbers (they call back)
    tokens:
      - name: 话务员01
        role: operator
        token_sha256: 5e88...        # sha256 hex of the token (preferred), or
        token: dev-operator          # the token itself, for development only
      - name: 城关镇联络员
        role: unit
        unit: town-chengguan

Roles: ``operator`` (agent, 话务员), ``dispatcher`` (派单员), ``unit`` (承办单位),
``supervisor`` (督办), ``callback`` (回访员).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml


class Role(StrEnum):
    OPERATOR = "operator"
    DISPATCHER = "dispatcher"
    UNIT = "unit"
    SUPERVISOR = "supervisor"
    CALLBACK = "callback"


@dataclass(frozen=True)
class Principal:
    name: str
    role: Role
    unit: str | None = None


class AccessConfigError(ValueError):
    """The token file is malformed; the message names the entry and the field."""


@dataclass(frozen=True)
class AccessPolicy:
    tokens: Mapping[str, Principal]  # sha256(token) -> principal
    unmasked_roles: frozenset[Role]

    def principal_for(self, token: str) -> Principal | None:
        return self.tokens.get(hashlib.sha256(token.encode()).hexdigest())

    def sees_full_number(self, who: Principal) -> bool:
        return who.role in self.unmasked_roles


def policy_from_mapping(data: Mapping[str, Any], source: str = "access config") -> AccessPolicy:
    entries = data.get("tokens")
    if not isinstance(entries, list) or not entries:
        raise AccessConfigError(f"{source}: 'tokens' must be a non-empty list")
    tokens: dict[str, Principal] = {}
    for i, entry in enumerate(entries, start=1):
        where = f"{source}: tokens[{i}]"
        if not isinstance(entry, Mapping):
            raise AccessConfigError(f"{where}: must be a mapping")
        try:
            role = Role(str(entry.get("role")))
        except ValueError:
            raise AccessConfigError(
                f"{where}.role: {entry.get('role')!r} is not one of {[r.value for r in Role]}"
            ) from None
        unit = entry.get("unit")
        if role is Role.UNIT and not unit:
            raise AccessConfigError(f"{where}.unit: a unit user needs its unit code")
        digest = entry.get("token_sha256")
        if not digest and entry.get("token"):
            digest = hashlib.sha256(str(entry["token"]).encode()).hexdigest()
        if not digest:
            raise AccessConfigError(f"{where}: give token_sha256 (or token)")
        name = str(entry.get("name") or f"{role}-{i}")
        tokens[str(digest).lower()] = Principal(name=name, role=role,
                                                unit=str(unit) if unit else None)
    try:
        unmasked = frozenset(Role(r) for r in data.get("unmasked_roles", [Role.CALLBACK]))
    except ValueError as exc:
        raise AccessConfigError(f"{source}: unmasked_roles: {exc}") from None
    return AccessPolicy(tokens=tokens, unmasked_roles=unmasked)


def load_policy(path: Path) -> AccessPolicy:
    with path.open(encoding="utf-8") as f:
        data = yaml.safe_load(f) or {}
    if not isinstance(data, Mapping):
        raise AccessConfigError(f"{path}: must be a YAML mapping")
    return policy_from_mapping(data, str(path))
