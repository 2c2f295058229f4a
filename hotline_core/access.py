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
``supervisor`` (督办), ``callback`` (回访员), ``quality`` (质检员), ``admin`` (系统管理员).
People sign in with the same roles (:mod:`hotline_core.users`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml
from pydantic import ConfigDict, Field, model_validator

from hotline_core.config_errors import ConfigError, read_config_text
from hotline_core.config_schema import ConfigModel, validate_data


class Role(StrEnum):
    OPERATOR = "operator"
    DISPATCHER = "dispatcher"
    UNIT = "unit"
    SUPERVISOR = "supervisor"
    CALLBACK = "callback"
    QUALITY = "quality"        # 质检员: reads calls and recordings to check them
    ADMIN = "admin"            # 系统管理员: manages the people who sign in


@dataclass(frozen=True)
class Principal:
    name: str
    role: Role
    unit: str | None = None


@dataclass(frozen=True)
class AccessPolicy:
    tokens: Mapping[str, Principal]  # sha256(token) -> principal
    unmasked_roles: frozenset[Role]

    def principal_for(self, token: str) -> Principal | None:
        return self.tokens.get(hashlib.sha256(token.encode()).hexdigest())

    def sees_full_number(self, who: Principal) -> bool:
        return who.role in self.unmasked_roles


class TokenEntry(ConfigModel):
    """One ``tokens`` entry: who holds the token, with which role (and unit)."""

    # YAML has no enum type (a role is text) and a name or token written as a number
    # (``name: 1001``) is its digits: not strict, unlike the TOML files.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=False,
                              coerce_numbers_to_str=True)

    role: Role
    name: str = ""
    unit: str | None = None
    token_sha256: str | None = Field(default=None, pattern=r"^[0-9a-fA-F]{64}$")
    token: str | None = None

    @model_validator(mode="after")
    def _complete(self) -> TokenEntry:
        if self.role is Role.UNIT and not self.unit:
            raise ValueError("a unit user needs its unit code ('unit')")
        if not self.token_sha256 and not self.token:
            raise ValueError("give token_sha256 (or token)")
        return self


class AccessFile(ConfigModel):
    """The API tokens file (``[paths] api_tokens_file``, YAML)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=False)

    tokens: list[TokenEntry] = Field(min_length=1)
    unmasked_roles: list[Role] = Field(default_factory=lambda: [Role.CALLBACK])


def policy_from_mapping(data: Mapping[str, Any], source: str = "access config",
                        text: str = "") -> AccessPolicy:
    """The policy a parsed token file describes; a bad entry raises :class:`ConfigError`
    naming ``source`` and the setting (``tokens.0.role``)."""
    config = validate_data(source, text, data, AccessFile)
    tokens: dict[str, Principal] = {}
    for i, entry in enumerate(config.tokens, start=1):
        digest = entry.token_sha256 or hashlib.sha256(str(entry.token).encode()).hexdigest()
        name = entry.name or f"{entry.role}-{i}"
        tokens[digest.lower()] = Principal(name=name, role=entry.role, unit=entry.unit or None)
    return AccessPolicy(tokens=tokens, unmasked_roles=frozenset(config.unmasked_roles))


def load_policy(path: Path) -> AccessPolicy:
    """The token file at ``path`` (YAML); any problem is one :class:`ConfigError`."""
    text = read_config_text(path, "paths.api_tokens_file")
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(path, "paths.api_tokens_file", f"not valid YAML: {exc}") from None
    if not isinstance(data, Mapping):
        raise ConfigError(path, "(file)", "must be a YAML mapping")
    return policy_from_mapping(data, str(path), text)
