"""Every Redis key and channel is named in ``hotline_core/redis_keys.py``, under the namespace.

- No module of the packages builds a key from a string literal: no ``"hotline:…"`` literal
  and no f-string of the form ``f"{prefix}:name…"`` outside the keys module (a source scan).
- The distributor's script builds its keys from the prefix the module gives it, with the
  suffixes the module names (``AcdKeys``), no more and no fewer.
- Every name of a hotline starts with ``<namespace>:``, so two namespaces share none.
"""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import pytest

from hotline_core.redis_keys import AcdKeys, RedisKeys, check_namespace

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("hotline_core", "ivr", "speech", "web", "stack")
KEYS_MODULE = ROOT / "hotline_core" / "redis_keys.py"
# "hotline:acd", "hotline:alerts": the default namespace written into a literal.
_LITERAL_KEY = re.compile(r"^hotline:[A-Za-z0-9_{-]")
# f"{namespace}:acd", f"{self._p}:n:{number}": a prefix joined to a name with ":".
_BUILT_KEY = re.compile(r"\{\}:[A-Za-z][\w-]*")


def _docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0].value))
    return found


def _template(node: ast.JoinedStr) -> str:
    return "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)


def key_literals(source: str) -> list[tuple[int, str]]:
    """(line, text) of every string in ``source`` that builds a Redis key from a literal."""
    tree = ast.parse(source)
    skip = _docstrings(tree)
    inside_fstrings = {id(v) for n in ast.walk(tree) if isinstance(n, ast.JoinedStr)
                       for v in n.values}
    hits = []
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            text = _template(node)
            if _BUILT_KEY.search(text) or _LITERAL_KEY.match(text):
                hits.append((node.lineno, f'f"{text}"'))
        elif (isinstance(node, ast.Constant) and isinstance(node.value, str)
              and id(node) not in skip and id(node) not in inside_fstrings
              and _LITERAL_KEY.match(node.value)):
            hits.append((node.lineno, repr(node.value)))
    return hits


def test_the_scan_finds_keys_built_from_literals() -> None:
    """The patterns main 4b97079 used (hand-written examples of each form) are found;
    messages that only look alike are not."""
    source = '''
ALERTS_CHANNEL = "hotline:alerts"
marker = "hotline:acd:figures-day"
prefix = f"{namespace}:acd"
key = f"{self._p}:n:{number}"
message = f"{path}: not valid TOML"
where = f"{path}:{line}: unknown section"
address = f"{host}:{port}"
said = "hotline: stopped"
'''
    assert [text for _, text in key_literals(source)] == [
        "'hotline:alerts'", "'hotline:acd:figures-day'", 'f"{}:acd"', 'f"{}:n:{}"']


def test_no_module_builds_a_redis_key_from_a_literal() -> None:
    """On main 4b97079 this finds 41 places, among them ``"hotline:alerts"``
    (speech/alerts.py, web/live_api.py), ``"hotline:transcripts"`` (ivr/live_transcript.py,
    web/live_api.py), ``"hotline:speech"`` (speech/jobs.py, speech/settings.py) and
    ``f"{namespace}:acd"`` (hotline_core/acd/distributor.py); on main before this change
    also ``"hotline:acd:figures-day"`` (stack/core.py) and ``f"{namespace}:dial"``."""
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if path == KEYS_MODULE:
                continue
            for line, text in key_literals(path.read_text(encoding="utf-8")):
                found.append(f"{path.relative_to(ROOT)}:{line}: {text}")
    assert found == []


def _acd_suffixes() -> set[str]:
    """The names AcdKeys gives, with the prefix taken off and each argument left open."""
    keys = AcdKeys("P")
    out = set()
    for name, member in inspect.getmembers(AcdKeys):
        if name.startswith("_"):
            continue
        if isinstance(member, property):
            built = getattr(keys, name)
        else:
            args = len(inspect.signature(member).parameters) - 1
            built = getattr(keys, name)(*["ARG"] * args)
        out.add(built.removeprefix("P").split("ARG")[0])
    return out


def test_the_distributor_script_uses_the_keys_the_module_names() -> None:
    """Every ``P .. ':name'`` the script builds is a name of AcdKeys and the other way round
    (the day marker is the core's, not the script's)."""
    script = (ROOT / "hotline_core" / "acd" / "assign.lua").read_text(encoding="utf-8")
    in_script = set(re.findall(r"\bP \.\. '([^']*)'", script))
    assert in_script >= {":a:", ":c:", ":waiting", ":calls"}  # the scan reads the script
    assert in_script == _acd_suffixes() - {":figures-day"}


@pytest.mark.parametrize("namespace", ["hotline", "city-a", "city_b.2"])
def test_every_name_is_under_the_namespace(namespace: str) -> None:
    keys = RedisKeys(namespace)
    names = [keys.events, keys.alerts, keys.transcripts, keys.live_calls,
             keys.callers_needing_help, keys.acd.prefix, keys.speech.prefix,
             keys.restrictions.prefix, keys.dialing.prefix, keys.acd.figures_day]
    assert all(n.startswith(f"{namespace}:") for n in names)
    assert len(set(names)) == len(names)


@pytest.mark.parametrize("bad", ["", "a:b", "two words", "x" * 65])
def test_a_namespace_is_one_key_segment(bad: str) -> None:
    assert check_namespace(bad) is not None
    with pytest.raises(ValueError, match="namespace"):
        RedisKeys(bad)
