"""A bad configuration stops `hotline up` with exit code 2 and a message naming the file, the
setting and the line, before any process starts.

Each case runs the real command line on a settings file that is valid except for one
defect. Its Asterisk root does not exist, so a stack that wrongly starts anyway fails with
exit code 1 instead of 2 (it never reaches a running Asterisk).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from hotline_core.config_errors import ConfigError, line_of
from stack.settings import REPO_ROOT, load_settings
from testkit.redis_server import free_port


def _paths(tmp_path: Path, **override: str) -> str:
    files = {
        "state_dir": str(tmp_path / "var"),
        "lines_file": str(REPO_ROOT / "config" / "lines.toml"),
        "agents_file": str(REPO_ROOT / "config" / "agents.toml"),
        "distribution_file": str(REPO_ROOT / "config" / "distribution.toml"),
        "prompts_file": str(REPO_ROOT / "asterisk_conf" / "prompts.txt"),
    } | override
    return "".join(f'{key} = "{value}"\n' for key, value in files.items())


def _config(tmp_path: Path, head: str, paths: str | None = None, tail: str = "") -> Path:
    """Settings with ``head`` on the first lines (so the test knows their line numbers)."""
    text = (f"{head}[paths]\n{paths or _paths(tmp_path)}"
            f'[asterisk]\nchroot = "{tmp_path / "no-asterisk-here"}"\n'
            f"[redis]\nport = {free_port()}\n{tail}")
    path = tmp_path / "hotline.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _up(config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "stack.cli", "--config", str(config), "up"],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)


def test_invalid_utf8_in_the_settings_file_is_named_with_its_line(tmp_path: Path) -> None:
    """On 4b97079 `hotline up` died with a UnicodeDecodeError traceback (exit code 1) that
    named neither the file nor the line."""
    config = tmp_path / "hotline.toml"
    config.write_bytes(b'[network]\nhttp_port = 8080\n# caf\xe9 (Latin-1, not UTF-8)\n'
                       + f"[paths]\n{_paths(tmp_path)}".encode())
    res = _up(config)
    assert res.returncode == 2, res.stdout + res.stderr
    # The bad byte is on line 3 of the file.
    assert f"{config}:3:" in res.stderr
    assert "not valid UTF-8" in res.stderr


def test_invalid_utf8_in_a_referenced_file_names_that_file_and_setting(
        tmp_path: Path) -> None:
    """On 4b97079 a lines file in GBK stopped `hotline up` with a UnicodeDecodeError
    traceback (exit code 1) naming neither the file nor the setting."""
    lines = tmp_path / "lines.toml"
    lines.write_bytes('# 12345 热线\n[[line]]\nname = "市民热线"\n'.encode("gbk"))
    config = _config(tmp_path, "", _paths(tmp_path, lines_file=str(lines)))
    res = _up(config)
    assert res.returncode == 2, res.stdout + res.stderr
    # The first non-ASCII byte is in the comment on line 1.
    assert f"{lines}:1:" in res.stderr
    assert "'paths.lines_file'" in res.stderr


def test_misspelt_preset_is_named_with_the_shipped_ones(tmp_path: Path) -> None:
    """On 4b97079 `preset = "gaotia"` stopped `hotline up` with a FileNotFoundError
    traceback for presets/gaotia.toml (exit code 1), not naming the setting."""
    config = _config(tmp_path, '[workorders]\npreset = "gaotia"\n')
    res = _up(config)
    assert res.returncode == 2, res.stdout + res.stderr
    assert f"{config}:2: setting 'workorders.preset'" in res.stderr
    assert "gaotai" in res.stderr      # the preset the operator meant is offered


def test_missing_distribution_file_names_the_setting(tmp_path: Path) -> None:
    """On 4b97079 a distribution_file that does not exist stopped `hotline up` with a
    FileNotFoundError traceback (exit code 1), not naming the setting."""
    missing = tmp_path / "distributon.toml"
    paths = _paths(tmp_path, distribution_file=str(missing))
    config = _config(tmp_path, "", paths)
    res = _up(config)
    assert res.returncode == 2, res.stdout + res.stderr
    # [paths] is line 1; distribution_file is its fifth key: line 5.
    assert f"{config}:5: setting 'paths.distribution_file'" in res.stderr
    assert str(missing) in res.stderr


@pytest.mark.parametrize(("head", "setting", "line"), [
    ("[network]\nhttp_port = 8081\nhttp_prot = 8080\n", "network.http_prot", 3),
    ("[calls]\nring_timout = 5\n", "calls.ring_timout", 2),
])
def test_unknown_key_in_a_section_stops_start_up(tmp_path: Path, head: str, setting: str,
                                                 line: int) -> None:
    """On 4b97079 only unknown sections were refused: a misspelt key inside a known section
    was silently ignored and the stack started with the default (here it went on to start
    redis-server and failed only at the missing Asterisk, exit code 1)."""
    config = _config(tmp_path, head)
    res = _up(config)
    assert res.returncode == 2, res.stdout + res.stderr
    assert f"{config}:{line}: setting '{setting}': unknown setting" in res.stderr


def test_a_password_in_the_settings_file_is_refused(tmp_path: Path) -> None:
    """Secrets never live in the settings file. On 4b97079 `[redis] password = …` was
    silently ignored (and Redis ran without any password)."""
    config = tmp_path / "hotline.toml"
    config.write_text(f'[redis]\nport = {free_port()}\npassword = "in-the-file"\n'
                      f"[paths]\n{_paths(tmp_path)}"
                      f'[asterisk]\nchroot = "{tmp_path / "no-asterisk-here"}"\n')
    res = _up(config)
    assert res.returncode == 2, res.stdout + res.stderr
    assert f"{config}:3: setting 'redis.password': unknown setting" in res.stderr
    assert "in-the-file" not in res.stderr


@pytest.mark.parametrize(("head", "setting", "line"), [
    ('[speech]\nmodel_dir = ""\nmodel_dri = "/m"\n', "speech.model_dri", 3),
    ("[dialing]\nper_number_per_hour = 3\nper_number_an_hour = 5\n",
     "dialing.per_number_an_hour", 3),
])
def test_unknown_key_in_speech_and_dialing_is_refused_at_load(
        tmp_path: Path, head: str, setting: str, line: int) -> None:
    """Before the schema, [speech] and [dialing] keys were left to their own readers, so
    `load_settings` accepted a misspelt key there; now every table of hotline.toml is one
    model and the misspelling is named with its line."""
    path = tmp_path / "hotline.toml"
    path.write_text(f"{head}[paths]\n{_paths(tmp_path)}")
    with pytest.raises(ConfigError) as err:
        load_settings(path, env={})
    assert (err.value.setting, err.value.line, err.value.problem) == (
        setting, line, "unknown setting")
    path.write_text(f'[speech]\nmodel_dir = ""\n[paths]\n{_paths(tmp_path)}')
    assert load_settings(path, env={}).speech == {"model_dir": ""}


def test_line_of_finds_keys_in_their_own_section_only() -> None:
    text = '[network]\nport = 1\n\n[redis]  # comment\n"port" = 2\n[paths.more]\nport = 3\n'
    assert line_of(text, "network", "port") == 2
    assert line_of(text, "redis", "port") == 5
    assert line_of(text, "redis") == 4
    assert line_of(text, "paths.more", "port") == 7
    assert line_of(text, "calls", "port") is None
