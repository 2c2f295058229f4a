"""The token file is validated at start-up and says which entry is wrong."""

from __future__ import annotations

import hashlib

import pytest

from hotline_core.access import Role, load_policy, policy_from_mapping
from hotline_core.config_errors import ConfigError
from tests.workorders.conftest import CONFIG


def test_sample_token_file_loads() -> None:
    policy = load_policy(CONFIG / "api_tokens.sample.yaml")
    who = policy.principal_for("dev-town-chengguan")
    assert who is not None and who.role is Role.UNIT and who.unit == "town-chengguan"
    assert policy.principal_for("wrong") is None


def test_hashed_tokens_are_accepted() -> None:
    digest = hashlib.sha256(b"s3cret").hexdigest()
    policy = policy_from_mapping({"tokens": [{"role": "supervisor", "token_sha256": digest}]})
    who = policy.principal_for("s3cret")
    assert who is not None and who.role is Role.SUPERVISOR


@pytest.mark.parametrize(("entry", "message"), [
    ({"role": "mayor", "token": "x"}, r"setting 'tokens\[0\]\.role': Input should be 'operator'"),
    ({"role": "unit", "token": "x"}, r"setting 'tokens\[0\]': .*needs its unit code"),
    ({"role": "operator"}, r"setting 'tokens\[0\]': .*give token_sha256"),
])
def test_bad_entries_are_named(entry: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        policy_from_mapping({"tokens": [entry]})
