"""Distribution settings load from TOML; mistakes are refused naming the setting."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from hotline_core.acd import (
    OverflowRule,
    Strategy,
    load_distribution_config,
    parse_distribution_config,
)
from hotline_core.config_errors import ConfigError

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "distribution.example.toml"


def test_example_file_loads() -> None:
    cfg = load_distribution_config(EXAMPLE)
    assert cfg.wrapup_seconds == 15
    assert cfg.overflow["12351"] == OverflowRule(30, "general")
    assert cfg.strategy_for("12348") is Strategy.SKILL_LEVEL
    assert cfg.strategy_for("general") is Strategy.LONGEST_IDLE
    assert cfg.priorities.for_caller(emergency_transfer=True, needs_help=True) == 30
    assert cfg.leader_seats[0].scheduled(dt.date(2026, 12, 2))
    assert not cfg.leader_seats[0].scheduled(dt.date(2026, 12, 3))


@pytest.mark.parametrize(
    ("data", "setting"),
    [
        ({"wrapup_seconds": -1}, "wrapup_seconds"),
        ({"wrapup_seconds": "15"}, "wrapup_seconds"),
        ({"service_level_seconds": 0}, "service_level_seconds"),
        ({"default_strategy": "random"}, "default_strategy"),
        ({"strategy": {"general": "ringall"}}, "strategy.general"),
        ({"overflow": {"12351": {"fallback": "general"}}}, "overflow.12351.after_seconds"),
        ({"overflow": {"12351": {"after_seconds": 30}}}, "overflow.12351.fallback"),
        ({"overflow": {"12351": {"after_seconds": 30, "fallback": "12351"}}},
         "overflow.12351.fallback"),
        ({"priorities": {"needs_help": 1.5}}, "priorities.needs_help"),
        ({"priorities": {"urgent": 5}}, "priorities.urgent"),
        ({"leader_seat": [{"line": "12345", "skill": "leader"}]}, "leader_seat[0]"),
        ({"leader_seat": [{"line": "12345", "skill": "leader", "weekdays": [8]}]},
         "leader_seat[0].weekdays[0]"),
        ({"leader_seat": [{"line": "12345", "skill": "leader", "weekdays": [3]}]},
         "leader_seat[0].skill"),
        ({"wrapup": 10}, "wrapup"),
    ],
)
def test_bad_setting_is_named(data: dict[str, object], setting: str) -> None:
    with pytest.raises(ConfigError) as e:
        parse_distribution_config(data)
    assert e.value.setting == setting


def test_broken_toml_names_the_file(tmp_path: Path) -> None:
    p = tmp_path / "d.toml"
    p.write_text("wrapup_seconds = = 3\n")
    with pytest.raises(ConfigError, match="d.toml"):
        load_distribution_config(p)
