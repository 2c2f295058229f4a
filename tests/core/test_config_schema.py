"""Every configuration file is declared by a model: the shipped files validate, an unknown
key is refused with its line, a wrong type names the dotted setting, and the JSON Schemas
under docs/schemas/ are the ones the models generate (so they cannot go stale)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hotline_core.config_errors import ConfigError, setting_line
from stack.config_files import CONFIG_FILES, SCHEMA_DIR, ConfigFile, config_file_for, schema_text
from stack.settings import REPO_ROOT

# Configuration is every file in config/ and presets/ except the CSV data files (units,
# responsibility list, knowledge base, gazetteer, synonyms), which are data.
SHIPPED = sorted(p.relative_to(REPO_ROOT) for p in [*(REPO_ROOT / "config").iterdir(),
                                                    *(REPO_ROOT / "presets").iterdir()]
                 if p.is_file() and p.suffix in (".toml", ".yaml", ".yml"))


def _kind(name: str) -> ConfigFile:
    return next(k for k in CONFIG_FILES if k.name == name)


def test_the_shipped_configuration_is_found() -> None:
    # The kinds the hotline ships, each at least once.
    names = {kind.name for p in SHIPPED if (kind := config_file_for(p)) is not None}
    assert {"hotline", "agents", "lines", "distribution", "calendar_overrides", "keywords",
            "preset", "api_tokens", "centres", "campaigns"} <= names
    assert Path("config/hotline.docker.toml") in SHIPPED
    assert Path("presets/huizhou.toml") in SHIPPED


@pytest.mark.parametrize("path", SHIPPED, ids=str)
def test_every_shipped_file_has_a_model_and_validates(path: Path) -> None:
    kind = config_file_for(path)
    assert kind is not None, f"{path}: add a ConfigFile for it in stack/config_files.py"
    kind.load(REPO_ROOT / path)


@pytest.mark.parametrize("kind", CONFIG_FILES, ids=lambda k: k.name)
def test_committed_schema_is_the_generated_one(kind: ConfigFile) -> None:
    assert kind.schema_path.is_file(), "run: .venv/bin/python -m stack.config_files"
    assert kind.schema_path.read_text(encoding="utf-8") == schema_text(kind), (
        f"{kind.schema_path} is stale: run .venv/bin/python -m stack.config_files")


def test_no_schema_without_a_model() -> None:
    assert sorted(p.name for p in SCHEMA_DIR.glob("*.schema.json")) == sorted(
        f"{k.name}.schema.json" for k in CONFIG_FILES)


def test_schema_refuses_unknown_keys_in_every_table() -> None:
    """additionalProperties false on every object with properties, so an editor flags a
    misspelt key where it is written, as the loader does."""
    schema = json.loads(_kind("preset").schema_path.read_text(encoding="utf-8"))
    tables = [schema, *schema["$defs"].values()]
    assert len(tables) >= 14
    assert all(t.get("additionalProperties") is False for t in tables if "properties" in t)


def test_schemas_say_nothing_toml_cannot_write() -> None:
    """TOML has no null: an optional setting is described by its type, with no null default."""
    for kind in CONFIG_FILES:
        text = kind.schema_path.read_text(encoding="utf-8")
        assert '"null"' not in text and '"default": null' not in text, kind.name


# An unknown key in each kind of file: (kind, file name, text, setting, line). The line is
# counted by hand in the text.
UNKNOWN = [
    ("hotline", "hotline.toml",
     "[network]\nsip_port = 5060\nsip_prot = 5061\n", "network.sip_prot", 3),
    ("hotline", "hotline.toml",
     '[speech]\nmodel_dir = ""\n\n[speech.grammars.yes_no]\nyes = ["是"]\n[dialing]\n'
     "overall_per_minut = 5\n", "dialing.overall_per_minut", 7),
    ("agents", "agents.toml",
     '[[agent]]\nid = "1001"\nskills = { general = 1 }\n\n[[agent]]\nid = "1002"\n'
     'skills = { general = 1 }\nteam = "a"\n', "agent[1].team", 8),
    ("lines", "lines.toml",
     '[[line]]\nnumber = "12345"\nname = "x"\nskills = ["general"]\ngreeting = "g"\n'
     'colour = "red"\n', "line[0].colour", 6),
    ("distribution", "distribution.toml",
     '[overflow."tax"]\nafter_seconds = 45\nfallback = "general"\n[overflow."union"]\n'
     'after_seconds = 30\nfalback = "general"\n', "overflow.union.falback", 6),
    ("distribution", "distribution.toml",
     '[[leader_seat]]\nline = "12345"\nskill = "leader"\nweekdays = [3]\n\n[[leader_seat]]\n'
     'line = "12345"\nskill = "leader"\nweekday = [4]\n', "leader_seat[1].weekday", 9),
    ("calendar_overrides", "overrides.toml",
     '[years.2099]\nsource = "x"\n[years.2099.holidays]\n"2099-01-01" = "元旦"\n'
     '[years.2099.extra_days]\n"2099-01-02" = "x"\n', "years.2099.extra_days", 5),
    ("keywords", "keywords.toml",
     '[alerts.fire]\nline = "119"\nwords = ["着火"]\n[hints.help]\ncategory = "help"\n'
     'words = ["求助"]\nweight = 2\n', "hints.help.weight", 7),
    ("preset", "preset.toml",
     'name = "x"\n[redo]\ndeadline = "same_as_original"\nmax_redos = 1\nmax_redo = 1\n',
     "redo.max_redo", 5),
    ("centres", "centres.toml",
     'line = "12345000"\n\n[[centre]]\nnumber = "110"\nname = "110"\naddresses = ["127.0.0.110"]\n'
     'uri = "sip:127.0.0.110"\nreference = "X-Ref"\n', "centre[0].reference", 8),
    ("campaigns", "campaigns.toml",
     'max_channels = 10\n[kinds.reminder]\nmax_attempts = 4\n[kinds.reminder_calls]\n'
     "max_attempts = 2\n", "kinds.reminder_calls", 4),
    ("api_tokens", "api_tokens.yaml",
     "tokens:\n  - role: operator\n    token: a\n  - role: supervisor\n    token: b\n"
     "    colour: red\n", "tokens[1].colour", 6),
]


@pytest.mark.parametrize(("kind", "name", "text", "setting", "line"), UNKNOWN,
                         ids=[f"{u[0]}-{u[3]}" for u in UNKNOWN])
def test_unknown_key_is_refused_with_its_line(tmp_path: Path, kind: str, name: str,
                                              text: str, setting: str, line: int) -> None:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        _kind(kind).load(path)
    assert (err.value.setting, err.value.line, err.value.problem) == (
        setting, line, "unknown setting")
    assert str(err.value).startswith(f"{path}:{line}: setting '{setting}': unknown setting")


# A wrong type: (kind, shipped file, text replaced, replacement, setting, fragment).
WRONG = [
    ("hotline", "config/hotline.toml", "ring_timeout = 20", 'ring_timeout = "20"',
     "calls.ring_timeout", "valid integer"),
    ("hotline", "config/hotline.toml", "per_number_per_hour = 3", "per_number_per_hour = 0",
     "dialing.per_number_per_hour", "greater than 0"),
    ("agents", "config/agents.toml", "skills = { tax = 1 }", 'skills = { tax = "1" }',
     "agent[3].skills.tax", "valid integer"),
    ("lines", "config/lines.toml", 'skills = ["hrss"]', 'skills = "hrss"',
     "line[1].skills", "valid list"),
    ("distribution", "config/distribution.toml", "needs_help = 10", "needs_help = 1.5",
     "priorities.needs_help", "valid integer"),
    ("distribution", "config/distribution.toml", "dates = [2026-12-02, 2027-01-06]",
     'dates = ["2026-12-02"]', "leader_seat[0].dates[0]", "valid date"),
    ("calendar_overrides", "config/calendar_overrides.example.toml",
     '"2099-10-10" = "国庆节调休上班"', '"2099-10-10" = 1',
     "years.2099.working_days.2099-10-10", "non-empty string"),
    ("keywords", "config/keywords.toml", 'line = "120"', "line = 120",
     "alerts.injury.line", "'110', '119', '120' or '122'"),
    ("preset", "presets/minhe.toml", "deadline = { amount = 5, unit = \"working_days\" }",
     'deadline = { amount = 5, unit = "weeks" }', "redo.deadline.unit", "'working_days'"),
    ("centres", "config/centres.toml", 'addresses = ["127.0.0.119"]',
     'addresses = "127.0.0.119"', "centre[1].addresses", "valid list"),
    ("campaigns", "config/campaigns.toml", "retry_spacing_seconds = 300",
     'retry_spacing_seconds = "5m"', "kinds.virtual_hold.retry_spacing_seconds",
     "valid integer"),
    ("preset", "presets/hebei.toml", "citizen_before_platform = false",
     'citizen_before_platform = "no"', "reply.citizen_before_platform", "valid boolean"),
]


@pytest.mark.parametrize(("kind", "shipped", "old", "new", "setting", "fragment"), WRONG,
                         ids=[f"{w[0]}-{w[4]}" for w in WRONG])
def test_wrong_type_names_the_dotted_setting_and_its_line(
        tmp_path: Path, kind: str, shipped: str, old: str, new: str, setting: str,
        fragment: str) -> None:
    text = (REPO_ROOT / shipped).read_text(encoding="utf-8")
    assert text.count(old) == 1
    bad = text.replace(old, new)
    path = tmp_path / Path(shipped).name
    path.write_text(bad, encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        _kind(kind).load(path)
    assert err.value.setting == setting
    assert fragment in err.value.problem
    assert err.value.line == bad[:bad.index(new)].count("\n") + 1


LAYOUT = """\
top = 1
[[agent]]
id = "1"
[agent.skills]
tax = 1
[[agent]]
id = "2"
  "quoted.key" = 3
[a."b.c".d]
x.y = 4
list = [
  "item = not a key",
]
text = '''
[not.a.table]
'''
after = 5
"""


@pytest.mark.parametrize(("loc", "line"), [
    (["top"], 1),
    (["agent", 0, "id"], 3),
    (["agent", 0, "skills", "tax"], 5),
    (["agent", 1], 6),
    (["agent", 1, "id"], 7),
    (["agent", 1, "quoted.key"], 8),
    (["agent", 1, "missing"], 6),
    (["a", "b.c", "d", "x", "y"], 10),
    (["a", "b.c", "d", "list", 0], 11),
    (["a", "b.c", "d", "after"], 17),
    (["not", "a", "table"], None),
    (["nowhere"], None),
])
def test_line_finder_reads_nested_tables_and_arrays_of_tables(
        loc: list[str | int], line: int | None) -> None:
    assert setting_line(LAYOUT, loc) == line
