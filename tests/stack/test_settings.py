"""A missing or bad setting stops start-up with a message that names the setting."""

from __future__ import annotations

from pathlib import Path

import pytest

from hotline_core.agent_directory import load_agents
from hotline_core.config_errors import ConfigError
from hotline_core.lines import LineKind, load_lines
from stack.settings import REPO_ROOT, load_settings


def _settings(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "hotline.toml"
    path.write_text(text + f'\n[paths]\nstate_dir = "{tmp_path / "var"}"\n')
    return path


def test_shipped_settings_load(tmp_path: Path) -> None:
    s = load_settings(REPO_ROOT / "config" / "hotline.toml", env={"HOTLINE_AMI_SECRET": "x"})
    # Defaults from the issue: SIP 5060 and HTTP 8080 on loopback, AMI 5038, FastAGI 4573.
    assert (s.bind_address, s.sip_port, s.http_port) == ("127.0.0.1", 5060, 8080)
    assert (s.ami_port, s.agi_port) == (5038, 4573)
    assert s.addresses()["ami"] == "127.0.0.1:5038"
    assert s.addresses()["fastagi"] == "127.0.0.1:4573"


@pytest.mark.parametrize(("text", "setting"), [
    ('[network]\nsip_port = 70000', "network.sip_port"),
    ('[network]\nbind_address = "lan"', "network.bind_address"),
    ('[network]\nrtp_start = 2000\nrtp_end = 1000', "network.rtp_end"),
    ('[calls]\nring_timeout = -1', "calls.ring_timeout"),
    ('[asterisk]\nmode = "docker"', "asterisk.mode"),
    ('[trunk]\ncarrier_ips = ["carrier.example"]', "trunk.carrier_ips[0]"),
    ('[netwrok]\nsip_port = 5060', "netwrok"),
])
def test_bad_setting_is_named(tmp_path: Path, text: str, setting: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(_settings(tmp_path, text), env={"HOTLINE_AMI_SECRET": "x"})
    assert err.value.setting == setting
    assert setting in str(err.value)


def test_missing_settings_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="HOTLINE_CONFIG"):
        load_settings(tmp_path / "nope.toml", env={})


def test_ami_secret_comes_from_the_environment_or_is_generated_once(tmp_path: Path) -> None:
    path = _settings(tmp_path, "")
    assert load_settings(path, env={"HOTLINE_AMI_SECRET": "from-env"}).ami_secret == "from-env"
    first = load_settings(path, env={}).ami_secret
    assert first == load_settings(path, env={}).ami_secret   # stable across restarts
    secret_file = tmp_path / "var" / "secrets" / "ami"
    assert secret_file.stat().st_mode & 0o077 == 0            # readable by its owner only


def test_shipped_lines_cover_the_hotlines_numbers() -> None:
    plan = load_lines(REPO_ROOT / "config" / "lines.toml")
    numbers = {line.number for line in plan.lines}
    # R-LINES: 12345, merged 12333 and 96119, the five special seats, a dual-number line.
    assert {"12345", "12333", "96119", "12351", "12338", "12328", "12366", "12348"} <= numbers
    assert any(line.kind is LineKind.DUAL and line.department for line in plan.lines)


@pytest.mark.parametrize(("body", "setting"), [
    ('[[line]]\nnumber = "12a45"\nname = "x"\nskills = ["general"]\ngreeting = "g"',
     "line[0].number"),
    ('[[line]]\nnumber = "12345"\nname = "x"\nskills = []\ngreeting = "g"', "line[0].skills"),
    ('[[line]]\nnumber = "96116"\nname = "x"\nkind = "dual"\nskills = ["general"]\n'
     'greeting = "g"', "line[0].department"),
    ('[[line]]\nnumber = "12345"\nname = "x"\nskills = ["general"]\ngreeting = "g"\n'
     'colour = "red"', "line[0].colour"),
])
def test_bad_line_is_named(tmp_path: Path, body: str, setting: str) -> None:
    path = tmp_path / "lines.toml"
    path.write_text(body)
    with pytest.raises(ConfigError) as err:
        load_lines(path)
    assert err.value.setting == setting


def test_bad_agent_is_named(tmp_path: Path) -> None:
    path = tmp_path / "agents.toml"
    path.write_text('[[agent]]\nid = "1001"\nskills = { general = 0 }')
    with pytest.raises(ConfigError) as err:
        load_agents(path)
    assert err.value.setting == "agent[0].skills.general"
