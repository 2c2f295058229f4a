"""The emergency centres' configuration and the two-way transfer list (R-EMERG): the shipped
files load, agree with each other and with the keyword alerts, and bad entries are refused
naming the setting and its line."""

from __future__ import annotations

from pathlib import Path

import pytest

from hotline_core.config_errors import ConfigError
from hotline_core.transfers import EMERGENCY_NUMBERS, load_centres, load_transfer_list
from speech.keywords import load_keywords
from stack.settings import REPO_ROOT

CONFIG = REPO_ROOT / "config"


def test_shipped_list_covers_every_centre_and_every_alert_names_a_listed_target() -> None:
    transfer_list = load_transfer_list(CONFIG / "transfer_list.toml")
    centres = load_centres(CONFIG / "centres.toml")
    assert transfer_list.targets() == set(EMERGENCY_NUMBERS) == {
        c.number for c in centres.centres}
    assert {c.source for c in transfer_list.inbound} <= set(EMERGENCY_NUMBERS)
    assert transfer_list.target_of("燃气泄漏") == "119"
    assert transfer_list.target_of("路灯不亮") is None        # inbound only
    alert_lines = {a.line for a in load_keywords(CONFIG / "keywords.toml").alerts}
    assert alert_lines and alert_lines <= transfer_list.targets()


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(("text", "setting", "line"), [
    ('[[outbound]]\ncategory = "x"\ntarget = "911"\nitems = ["a"]\n',
     "outbound[0].target", 3),
    ('[[outbound]]\ncategory = "x"\ntarget = "110"\nitems = ["a"]\n'
     '[[outbound]]\ncategory = "y"\ntarget = "119"\nitems = ["b", "a"]\n',
     "outbound[1].items", 8),
    ('[[inbound]]\ncategory = "x"\nsource = "110"\nitems = []\n', "inbound[0].items", 4),
    ('[[inbound]]\ncategory = "x"\nsource = "110"\nitems = ["a"]\ntarget = "110"\n',
     "inbound[0].target", 5),
])
def test_bad_transfer_list_entries_name_setting_and_line(
        tmp_path: Path, text: str, setting: str, line: int) -> None:
    with pytest.raises(ConfigError) as err:
        load_transfer_list(_write(tmp_path, "transfer_list.toml", text))
    assert err.value.setting == setting
    assert err.value.line == line


_CENTRE = '[[centre]]\nnumber = "{n}"\nname = "c"\naddresses = ["{ip}"]\nuri = "sip:{ip}:5060"\n'


@pytest.mark.parametrize(("text", "setting"), [
    ('line = "12345000"\n' + _CENTRE.format(n="911", ip="127.0.0.9"), "centre[0].number"),
    ('line = "12345000"\n' + _CENTRE.format(n="110", ip="not-an-ip"), "centre[0].addresses"),
    ('line = "12345000"\n' + _CENTRE.format(n="110", ip="127.0.0.9")
     + _CENTRE.format(n="119", ip="127.0.0.9"), "centre[1].addresses"),
    ('line = "12345000"\n' + _CENTRE.format(n="110", ip="127.0.0.9")
     + _CENTRE.format(n="110", ip="127.0.0.8"), "centre[1].number"),
    ('line = "12345000"\n' + _CENTRE.format(n="110", ip="127.0.0.9")
     + 'reference_header = "X-Ref\\r\\nEvil: 1"\n', "centre[0].reference_header"),
    ('line = "12345000"\n' + _CENTRE.format(n="110", ip="127.0.0.9").replace(
        'uri = "sip:127.0.0.9:5060"', 'uri = "sip:127.0.0.9:5060;transport=tcp,PJSIP/x"'),
     "centre[0].uri"),
])
def test_bad_centres_are_refused_naming_the_setting(
        tmp_path: Path, text: str, setting: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_centres(_write(tmp_path, "centres.toml", text))
    assert err.value.setting == setting
