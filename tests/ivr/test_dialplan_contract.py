"""The dialplan ↔ Python contract (issue 10, item 1): every name the two share is defined once
in ``ivr/dialplan.py``; this checks both directions against the rendered configuration.

The configuration is rendered as ``hotline up`` renders it (``stack.asterisk.conf_texts``,
the shipped ``config/lines.toml`` and ``config/agents.toml``, an outbound carrier set) and
parsed here: a context, ``HOTLINE_*`` variable, ``HOTLINE_NEXT`` value, FastAGI script or
URL parameter, SIP header, endpoint, CDR field or ``CDR(hotline_route)`` value that a
template uses and the module does not define fails, and so does one the module defines and
no rendered file uses. Python code outside the module spells none of these names as a
literal (checked on the source of ``ivr/`` and ``stack/``).

On the starting main (4b97079) this module fails at import (no ``stack.asterisk.conf_texts``,
no ``ivr/dialplan.py``): the names were literals on both sides, checked by nothing. A
deliberately misspelt name in a template (``HOTLINE_CALLBAK_NUMBER`` in ``[hotline-callback]``)
makes
``test_every_hotline_variable_is_defined_and_used`` fail in both directions.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path

import pytest

from hotline_core.agent_directory import load_agents
from hotline_core.call_records import Route
from hotline_core.lines import load_lines
from ivr import connector, dialer, reconcile
from ivr.dialplan import (
    CDR_COLUMNS,
    CDR_FILE,
    AgiParam,
    AgiScript,
    CdrRoute,
    CdrVar,
    Context,
    Endpoint,
    Header,
    Next,
    Var,
    fallback_queue,
)
from stack.asterisk import TEMPLATES, AgentPhone, AsteriskSpec, conf_texts
from stack.settings import REPO_ROOT

CONFIG = REPO_ROOT / "config"


@pytest.fixture(scope="module")
def conf() -> dict[str, str]:
    lines = load_lines(CONFIG / "lines.toml")
    phones = tuple(AgentPhone(a, "pw") for a in load_agents(CONFIG / "agents.toml"))
    spec = AsteriskSpec(
        name="contract", root=Path("/nonexistent"), bind_address="127.0.0.1", sip_port=5060,
        rtp_start=10000, rtp_end=10100, ami_port=5038, ami_username="hotline",
        ami_secret="s", agi_port=4573, ring_timeout=20, core_dead_after=6,
        carrier_ips=("127.0.0.2",), lines=lines, phones=phones,
        prompts_file=REPO_ROOT / "asterisk_conf" / "prompts.txt",
        prompts_override_dir=CONFIG / "prompts",
        carrier_outbound_uri="sip:carrier@127.0.0.2:5060")
    texts = conf_texts(spec, "/usr/lib/asterisk/modules")
    assert set(texts) == set(TEMPLATES)
    # Comments are not uses (";" to the end of the line, unless escaped as "\\;").
    return {name: re.sub(r"(?<!\\);.*$", "", text, flags=re.M)
            for name, text in texts.items()}


def _sections(text: str) -> Iterator[tuple[str, str]]:
    """``[name](template)`` headers of an Asterisk config file → (name, body)."""
    parts = re.split(r"^\[([^\]]+)\][^\n]*$", text, flags=re.M)
    for i in range(1, len(parts), 2):
        yield parts[i], parts[i + 1]


def _values(enum: type[StrEnum]) -> set[str]:
    return {str(m) for m in enum}


def test_every_context_is_defined_and_used(conf: dict[str, str]) -> None:
    ext = conf["extensions.conf"]
    defined = {name for name, _ in _sections(ext)} - {"general", "globals"}
    assert defined == _values(Context), (
        f"in templates only: {defined - _values(Context)}; "
        f"in ivr/dialplan.py only: {_values(Context) - defined}")
    # Every Goto/GotoIf target with a context, and every endpoint's context, is one of them.
    targets = set(re.findall(r"Goto\(([\w-]+),[^,()]+,[^,()]+\)", ext))
    targets |= set(re.findall(r"[?:]([\w-]+),[^,()?:]+,[^,()?:]+\)", ext))
    assert targets, "no Goto target parsed"
    assert targets <= defined, targets - defined
    endpoint_contexts = set(re.findall(r"^context\s*=\s*(\S+)", conf["pjsip.conf"], re.M))
    assert {Context.FROM_TRUNK, Context.AGENTS} <= endpoint_contexts
    assert endpoint_contexts <= defined, endpoint_contexts - defined
    # The contexts Python sends calls to (AMI Redirect / Originate) exist in the dialplan.
    assert connector.CONNECT_CONTEXT in defined
    assert dialer.CALLBACK_CONTEXT in defined


def test_every_hotline_variable_is_defined_and_used(conf: dict[str, str]) -> None:
    used = {v for text in conf.values() for v in re.findall(r"HOTLINE_[A-Z0-9_]+", text)}
    assert used == _values(Var), (
        f"in templates only: {used - _values(Var)}; "
        f"in ivr/dialplan.py only: {_values(Var) - used}")


def test_hotline_next_values(conf: dict[str, str]) -> None:
    ext = conf["extensions.conf"]
    compared = set(re.findall(rf'"\$\{{{Var.NEXT}\}}" = "([^"]*)"', ext))
    assert compared == _values(Next), (compared, _values(Next))


def test_agi_scripts_and_url_parameters(conf: dict[str, str]) -> None:
    ext = conf["extensions.conf"]
    # One AGI() in the whole dialplan: the [hotline-agi] subroutine's, which picks a core
    # instance's address from ${HOTLINE_AGI} (issue 14: failover between instances).
    agi = re.findall(r"AGI\((.*)\)$", ext, flags=re.M)
    assert agi == [f"${{CUT({Var.AGI},|,${{at}})}}/${{ARG1}}"], agi
    calls = re.findall(rf"Gosub\({Context.AGI},s,1\((.*)\)\)$", ext, flags=re.M)
    assert calls, "no FastAGI call in the dialplan"
    scripts, params = set(), set()
    for url in calls:
        m = re.fullmatch(r"([\w-]+)(?:\?(.*))?", url)
        assert m, f"not a script?parameters: {url}"
        scripts.add(m.group(1))
        params |= set(re.findall(r"(?:^|&)(\w+)=", m.group(2) or ""))
    assert scripts == _values(AgiScript), (scripts, _values(AgiScript))
    assert params == _values(AgiParam), (params, _values(AgiParam))
    # The FastAGI server in stack/core.py routes exactly these scripts, by the module's names.
    tree = ast.parse((REPO_ROOT / "stack" / "core.py").read_text(encoding="utf-8"))
    routes = [node.args[0] for node in ast.walk(tree) if isinstance(node, ast.Call)
              and getattr(node.func, "id", None) == "AgiServer"]
    assert len(routes) == 1 and isinstance(routes[0], ast.Dict)
    keys = {ast.unparse(k) for k in routes[0].keys if k is not None}
    assert keys == {f"AgiScript.{m.name}" for m in AgiScript}, keys


def test_sip_headers(conf: dict[str, str]) -> None:
    read = set(re.findall(r"PJSIP_HEADER\(read,([^)]+)\)", conf["extensions.conf"]))
    assert read == _values(Header), (read, _values(Header))


def test_endpoints_the_dialplan_dials(conf: dict[str, str]) -> None:
    dialled = set(re.findall(r"Dial\(PJSIP/\S*@([\w-]+)", conf["extensions.conf"]))
    assert dialled == _values(Endpoint), (dialled, _values(Endpoint))
    endpoints = {name for name, body in _sections(conf["pjsip.conf"])
                 if re.search(r"^type\s*=\s*endpoint", body, re.M)}
    assert _values(Endpoint) <= endpoints


def test_fallback_queues_exist_for_every_line(conf: dict[str, str]) -> None:
    ext, queues = conf["extensions.conf"], conf["queues.conf"]
    named = set(re.findall(rf"Set\(__{Var.FALLBACK}=([^)]+)\)", ext))
    sections = {name for name, _ in _sections(queues)} - {"general", "fallback"}
    skills = load_lines(CONFIG / "lines.toml").skills()
    assert sections == {fallback_queue(s) for s in skills}
    assert named and named <= sections, named - sections
    assert re.findall(r"Queue\(([^)]*)\)", ext) == [f"${{{Var.FALLBACK}}}"]


def test_cdr_fields_routes_and_columns(conf: dict[str, str]) -> None:
    ext, cdr = conf["extensions.conf"], conf["cdr_custom.conf"]
    own = set(re.findall(r"CDR\((hotline_\w+)\)", ext + cdr))
    assert own == _values(CdrVar), (own, _values(CdrVar))
    routes = set(re.findall(rf"Set\(CDR\({CdrVar.ROUTE}\)=([^)]+)\)", ext))
    assert routes == _values(CdrRoute), (routes, _values(CdrRoute))
    assert _values(Route) <= routes   # what the core stores as a record's route
    mapping = dict(re.findall(r"^(\S+)\s*=>\s*(.*)$", cdr, re.M))
    assert list(mapping) == [CDR_FILE]
    fields = re.findall(r"\$\{CDR\(([^)]+)\)\}", mapping[CDR_FILE])
    assert fields == [f"{c.field},{c.option}" if c.option else c.field for c in CDR_COLUMNS]
    assert reconcile.COLUMNS == tuple(c.name for c in CDR_COLUMNS)


def test_a_row_asterisk_writes_reads_back_in_place(conf: dict[str, str]) -> None:
    """A row as Asterisk would write it from the rendered mapping (each CDR field replaced by
    a value chosen here by hand) is read by ivr/reconcile.py with every value in its place."""
    by_field = {"uniqueid": "1764000000.7", "linkedid": "1764000000.7", "src": "13800138000",
                "dst": "s", "dcontext": "hotline-inbound", "channel": "PJSIP/carrier-0001",
                "dstchannel": "PJSIP/1002-0002", "start,u": "1764000000",
                "answer,u": "1764000012", "end,u": "1764000100", "disposition": "ANSWERED",
                "hotline_line": "12333", "hotline_recording": "20251124/1764000000.7.wav",
                "hotline_route": "fallback"}
    mapping = re.search(r"=>\s*(.*)$", conf["cdr_custom.conf"], re.M)
    assert mapping
    row = re.sub(r"\$\{CSV_QUOTE\(\$\{CDR\(([^)]+)\)\}\)\}",
                 lambda m: f'"{by_field[m.group(1)]}"', mapping.group(1))
    parsed = reconcile.parse_cdr(row + "\n")
    assert not parsed.rejected
    [(rec, _)] = parsed.records
    assert (rec.id, rec.line, rec.caller, rec.agent_id, rec.route, rec.recording) == (
        "1764000000.7", "12333", "13800138000", "1002", "fallback",
        "20251124/1764000000.7.wav")
    assert rec.offered_at.timestamp() == 1764000000
    assert rec.answered_at is not None and rec.answered_at.timestamp() == 1764000012


_SHARED = re.compile(
    r"\b(" + "|".join(re.escape(v) for v in sorted(
        _values(Var) | _values(Header) | {c for c in _values(Context) if "-" in c})) + r")\b")


def _literals(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """(line, text) of every string literal that is not a docstring."""
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef,
                                       ast.AsyncFunctionDef))
                  and node.body and isinstance(node.body[0], ast.Expr)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                and id(node) not in docstrings:
            yield node.lineno, node.value


def test_python_spells_no_shared_name_outside_the_module() -> None:
    files = [p for d in ("ivr", "stack") for p in sorted((REPO_ROOT / d).rglob("*.py"))
             if p != REPO_ROOT / "ivr" / "dialplan.py"]
    assert len(files) > 20
    found = []
    for path in files:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for lineno, text in _literals(tree):
            for m in _SHARED.finditer(text):
                found.append(f"{path.relative_to(REPO_ROOT)}:{lineno}: {m.group(1)}")
    assert not found, "use ivr.dialplan instead of:\n" + "\n".join(found)
