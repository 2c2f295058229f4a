"""``[core] instances`` (issue 14, item 5): how many core processes serve the one Asterisk.

* Validated at start-up, naming the setting: 1 to 8 instances; their FastAGI ports
  (``agi.port + i``) must stay below 65536 and clear of the other ports.
* What it changes: the FastAGI address list the dialplan rotates over (``HOTLINE_AGI``),
  the addresses ``hotline status`` prints, and which ``--instance`` a core may be.
  (The running behaviour — spread, failover, ownership, one leader — is
  tests/e2e/test_two_cores.py.)
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from hotline_core.config_errors import ConfigError
from stack.asterisk import AsteriskSpec, conf_texts
from stack.settings import REPO_ROOT, load_settings

ENV = {"HOTLINE_AMI_SECRET": "x"}


def _settings(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "hotline.toml"
    config = REPO_ROOT / "config"
    path.write_text(text + f'\n[paths]\nstate_dir = "{tmp_path / "var"}"\n'
                    f'lines_file = "{config / "lines.toml"}"\n'
                    f'agents_file = "{config / "agents.toml"}"\n'
                    f'distribution_file = "{config / "distribution.toml"}"\n'
                    f'campaigns_file = "{config / "campaigns.toml"}"\n'
                    f'centres_file = "{config / "centres.toml"}"\n'
                    f'transfer_list_file = "{config / "transfer_list.toml"}"\n'
                    f'prompts_file = "{REPO_ROOT / "asterisk_conf" / "prompts.txt"}"\n')
    return path


def _agi_global(spec: AsteriskSpec) -> str:
    ext = conf_texts(spec, "/usr/lib/asterisk/modules")["extensions.conf"]
    found = re.search(r"^HOTLINE_AGI = (.*)$", ext, re.M)
    assert found, "no HOTLINE_AGI global"
    return found.group(1)


def test_one_instance_by_default_two_when_set(tmp_path: Path) -> None:
    from stack.instance import spec_from_settings

    one = load_settings(_settings(tmp_path, "[agi]\nport = 4600"), env=ENV)
    assert one.core_instances == 1
    assert one.agi_ports == (4600,)
    assert _agi_global(spec_from_settings(one)) == "agi://127.0.0.1:4600"

    two = load_settings(_settings(tmp_path, "[agi]\nport = 4600\n[core]\ninstances = 2"),
                        env=ENV)
    assert two.agi_ports == (4600, 4601)
    assert two.addresses()["fastagi"] == "127.0.0.1:4600, 127.0.0.1:4601"
    assert _agi_global(spec_from_settings(two)) == "agi://127.0.0.1:4600|agi://127.0.0.1:4601"


@pytest.mark.parametrize(("text", "problem"), [
    ("[core]\ninstances = 0", "greater than or equal to 1"),
    ("[core]\ninstances = 9", "less than or equal to 8"),
    ('[core]\ninstances = "two"', "integer"),
    ("[agi]\nport = 65535\n[core]\ninstances = 2", "passes port 65535"),
    ("[agi]\nport = 8079\n[core]\ninstances = 2", "include network.http_port (8080)"),
    ("[agi]\nport = 5037\n[core]\ninstances = 3", "include ami.port (5038)"),
])
def test_bad_instance_counts_are_refused_naming_the_setting(tmp_path: Path, text: str,
                                                            problem: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(_settings(tmp_path, text), env=ENV)
    assert err.value.setting == "core.instances"
    assert problem in str(err.value)


def test_a_core_refuses_an_instance_number_beyond_the_setting(tmp_path: Path) -> None:
    path = _settings(tmp_path, "[agi]\nport = 4600\n[core]\ninstances = 2")
    run = subprocess.run(
        [sys.executable, "-m", "stack.core", "--config", str(path), "--instance", "2"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=60,
        env={"PATH": "/usr/bin:/bin", "HOTLINE_AMI_SECRET": "x"})
    assert run.returncode == 2, run.stderr
    assert "core.instances" in run.stderr and "--instance 2" in run.stderr
