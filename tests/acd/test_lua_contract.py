"""The Lua ↔ Python contract of the distributor (issue 10, item 2): every name the script
and Python share is defined once in ``hotline_core/acd/contract.py``; this checks both
directions on the source of ``assign.lua``.

- The script names hash fields, states, operations, settings, error codes and result keys
  only through the prelude's tables (``AF.state``), never as a literal: every string
  literal in it is a Redis command, a number format, a key suffix or a sentence.
- Every ``TABLE.name`` the script uses is defined by the contract (a misspelt name would be
  nil in Lua, silently), and every name the contract defines is used by the script.
- For every operation, the arguments the script reads (``A[ARG.name]``, through the
  functions it calls) are exactly those Python's encoder sends.
- The names resolve to Lua that gives Redis the contract's values (run in a real Redis),
  and a name the contract does not define refuses to load.
- Python modules of the distributor spell no field, state or operation string.

Before this change the script used ``'st'``, ``'READY'``, ``ARGV[7]`` ... directly: the
literal scan lists 237 offenders (``st``, ``READY``, ``W``, ``dispatch`` ...) on
``assign.lua`` of main 216c4ca.
"""

from __future__ import annotations

import ast
import json
import re
from enum import Enum
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from hotline_core.acd import contract
from hotline_core.acd.calls import CallMatch
from hotline_core.acd.contract import LUA_TABLES, Invocation, Op, lua_name

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = (ROOT / "hotline_core" / "acd" / "assign.lua").read_text(encoding="utf-8")
ACD = ROOT / "hotline_core" / "acd"

# What a string literal in the script may be besides a contract name.
REDIS_COMMANDS = {
    "DEL", "EXISTS", "HGET", "HGETALL", "HINCRBY", "HINCRBYFLOAT", "HMGET", "HSET", "LPUSH",
    "LTRIM", "PUBLISH", "SADD", "SMEMBERS", "SREM", "ZADD", "ZCARD", "ZRANGE",
    "ZRANGEBYSCORE", "ZREM", "ZREVRANGE", "ZSCORE",
}
OTHER_ALLOWED = {"WITHSCORES", "-inf", "%.6f", "%020.6f", "|", "", "0"}

# One Invocation per operation, as Python sends it.
ENCODED: dict[Op, Invocation] = {
    Op.LOGIN: contract.login("a1", {"general": 1}, "call-taking"),
    Op.LOGOUT: contract.logout("a1"),
    Op.PAUSE: contract.pause("a1", "break"),
    Op.UNPAUSE: contract.unpause("a1"),
    Op.ENQUEUE: contract.enqueue("c1", "12345", ("general",), "13800138000", 0, 1.0, ""),
    Op.ABANDON: contract.abandon("c1"),
    Op.ANSWERED: contract.answered("c1", "a1"),
    Op.ENDED: contract.ended("c1", "a1"),
    Op.RING_NO_ANSWER: contract.ring_no_answer("c1", "a1", "no answer"),
    Op.CONNECT_FAILED: contract.connect_failed("c1", "a1", 2.0),
    Op.CALLBACK: contract.callback("c1"),
    Op.ADVANCE: contract.advance(),
    Op.FORGET_CALL: contract.forget_call("c1"),
    Op.FORCE_TALK: contract.force_talk("c1", "a1", True, "12345", ("general",), "1", 0, 1.0,
                                       ""),
    Op.AGENT_IDLE: contract.agent_idle("a1"),
    Op.REMATCH: contract.rematch(),
    Op.RESET_FIGURES: contract.reset_figures(),
}


def code_of(lua: str) -> str:
    """The script without its comments (``--`` to the end of a line)."""
    return re.sub(r"--.*$", "", lua, flags=re.M)


def string_literals(lua: str) -> list[str]:
    return [a if a is not None else b
            for a, b in re.findall(r"'([^'\n]*)'|\"([^\"\n]*)\"", code_of(lua))]


def literal_offenders(lua: str) -> list[str]:
    """Literals that are not a Redis command, a format, a key suffix or a sentence."""
    return [s for s in string_literals(lua)
            if s not in REDIS_COMMANDS and s not in OTHER_ALLOWED
            and not s.startswith(":") and " " not in s]


def table_uses(lua: str) -> dict[str, set[str]]:
    """``TABLE.name`` uses of the contract's tables in the script."""
    code = code_of(lua)
    return {table: set(re.findall(rf"(?<![\w.]){table}\.([A-Za-z_]\w*)", code))
            for table in LUA_TABLES}


def names(enum: type[Enum]) -> set[str]:
    return {lua_name(m) for m in enum}


def functions(lua: str) -> dict[str, str]:
    """Top-level ``local function name(...)`` → its body (up to the next top-level line)."""
    code = code_of(lua)
    out = {}
    for m in re.finditer(r"^local function (\w+)\(.*?(?=^\S)", code, flags=re.M | re.S):
        out[m.group(1)] = m.group(0)
    return out


def args_read(lua: str, start: str) -> set[str]:
    """``A[ARG.name]`` read by function ``start`` and every script function it calls."""
    bodies = functions(lua)
    seen, todo, read = set(), [start], set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        body = bodies[name]
        read |= set(re.findall(r"(?<![\w.])A\[ARG\.(\w+)\]", body))
        todo += [f for f in re.findall(r"(?<![\w.])(\w+)\(", body) if f in bodies]
    return read


def op_functions(lua: str) -> dict[str, str]:
    """The script's dispatch table: ``[OP.name] = function``."""
    table = re.search(r"^local ops = \{(.*?)^\}", code_of(lua), flags=re.M | re.S)
    assert table is not None
    return dict(re.findall(r"\[OP\.(\w+)\]\s*=\s*(\w+)", table.group(1)))


# ------------------------------------------------------------------ the checks can fail


def test_the_scans_find_what_a_wrong_script_does() -> None:
    """Hand-written offenders of each kind (as main 216c4ca wrote them) are found."""
    wrong = '''
local st = redis.call('HGET', akey(id), 'st')  -- a field as a literal
if st == 'READY' then return cjson.encode({ e = 'not_logged_in' }) end
redis.call('HSET', ckey(cid), AF.staet, CS.waiting, CF.agent, '')
local id, why = ARGV[6], A[ARG.cuase]
local k = P .. ':calls'
warn = 'call not ringing at this agent'
'''
    assert literal_offenders(wrong) == ["st", "READY", "not_logged_in"]
    uses = table_uses(wrong)
    assert uses["AF"] - names(contract.AgentField) == {"staet"}
    assert uses["CS"] == {"waiting"}
    assert uses["ARG"] - names(contract.Arg) == {"cuase"}
    assert "ARGV[6]" in code_of(wrong)  # the positional form the contract replaced
    body = "local function op_x()\n  local a = A[ARG.cuase]\nend\n"
    assert args_read(body, "op_x") == {"cuase"}


# ------------------------------------------------------------------ the script


def test_the_script_spells_no_contract_name_as_a_literal() -> None:
    assert literal_offenders(SCRIPT) == []
    # the scan reads the script: it does see its Redis commands and key suffixes
    assert {"HSET", "ZADD", ":waiting"} <= set(string_literals(SCRIPT))


def test_the_script_reads_argv_by_the_contract_slots_only() -> None:
    code = code_of(SCRIPT)
    slots = [f"SLOT.{lua_name(s)}" for s in contract.ArgvSlot if s is not contract.ArgvSlot.ARGS]
    assert re.findall(r"ARGV\[(.*?)\]", code) == [*slots, "i", "i + 1"]
    assert "for i = SLOT.args, #ARGV, 2 do A[ARGV[i]] = ARGV[i + 1] end" in code


@pytest.mark.parametrize("table", sorted(LUA_TABLES))
def test_every_name_the_script_uses_is_defined_and_every_defined_name_used(
        table: str) -> None:
    used = table_uses(SCRIPT)[table]
    defined = names(LUA_TABLES[table])
    assert used - defined == set(), f"{table}: used by assign.lua, not in contract.py"
    assert defined - used == set(), f"{table}: in contract.py, never used by assign.lua"


def test_arguments_settings_and_loaded_calls_are_read_through_the_contract() -> None:
    """``A``, ``C`` and a loaded call ``c``/``p`` are indexed by ARG, S and CF only (``c.id``
    is the one field the script adds)."""
    code = code_of(SCRIPT)
    assert set(re.findall(r"(?<![\w.])[AC]\[(\w+)\.", code)) == {"ARG", "S"}
    assert not re.search(r"(?<![\w.])[AC]\.\w", code)
    assert set(re.findall(r"(?<![\w.])[cp]\[(\w+)\.", code)) == {"CF"}
    assert set(re.findall(r"(?<![\w.])[cp]\.(\w+)", code)) == {"id"}


def test_argv_puts_each_value_in_its_slot() -> None:
    run = contract.connect_failed("c1", "a1", 2.5)
    got = contract.argv("P", "CH", run.op, 1.5, "SET", run.encoded())
    assert {slot: got[slot - 1] for slot in contract.ArgvSlot} == {
        contract.ArgvSlot.PREFIX: "P", contract.ArgvSlot.CHANNEL: "CH",
        contract.ArgvSlot.OP: "connect_failed", contract.ArgvSlot.NOW: "1.5",
        contract.ArgvSlot.SETTINGS: "SET", contract.ArgvSlot.ARGS: "call"}
    # the arguments as name, value pairs, numbers as text
    assert got[contract.ArgvSlot.ARGS - 1:] == ["call", "c1", "agent", "a1", "rest", "2.5"]


def test_the_script_runs_every_operation_and_no_other() -> None:
    assert set(op_functions(SCRIPT)) == names(Op)
    assert set(ENCODED) == set(Op)


@pytest.mark.parametrize("op", list(Op), ids=str)
def test_each_operation_reads_exactly_the_arguments_python_sends(op: Op) -> None:
    sent = {lua_name(a) for a in ENCODED[op].args}
    assert ENCODED[op].op is op
    assert args_read(SCRIPT, op_functions(SCRIPT)[lua_name(op)]) == sent


# ------------------------------------------------------------------ the names in Redis


async def test_the_resolved_names_give_redis_the_contract_values(redis_url: str) -> None:
    every = [f"{t}.{lua_name(m)}" for t, enum in LUA_TABLES.items() for m in enum]
    lua = contract.script_source(f"return cjson.encode({{ {', '.join(every)} }})")
    client = aioredis.from_url(redis_url, socket_timeout=5, decode_responses=True)
    try:
        got = json.loads(await client.eval(lua, 0))
    finally:
        await client.aclose()
    want = [m.value for enum in LUA_TABLES.values() for m in enum]
    assert got == want
    assert got[every.index("AF.state")] == "st" and got[every.index("SLOT.args")] == 6


def test_a_name_the_contract_does_not_define_refuses_to_load() -> None:
    with pytest.raises(ValueError, match=r"AF\.staet is not defined"):
        contract.script_source("redis.call('HGET', k, AF.staet)")
    assert contract.script_source("x = AF.state").endswith('x = "st"')


# ------------------------------------------------------------------ Python


def test_the_result_decoder_reads_matches_by_their_places() -> None:
    raw = json.dumps({"a": [["c1", "a1", "12345", "13800138000", "hrss", True, 20]],
                      "w": "unknown call"})
    outcome = contract.decode_result(raw)
    assert outcome.matches == [CallMatch("c1", "a1", "12345", "13800138000", "hrss", True, 20)]
    assert (outcome.error, outcome.warning) == (None, "unknown call")
    # cjson writes an empty list as {}
    assert contract.decode_result('{"a":{},"e":"duplicate_call"}').matches == []
    assert contract.decode_result('{"a":{},"e":"duplicate_call"}').error == "duplicate_call"


def test_logs_see_the_callers_number_masked() -> None:
    shown = contract.enqueue("c1", "12345", ("general",), "13800138000", 0, 1.0, "").shown()
    assert "13800138000" not in shown and "c1" in shown


def _spelt(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docs = {id(n.body[0].value) for n in ast.walk(tree)
            if isinstance(n, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
            and n.body and isinstance(n.body[0], ast.Expr)}
    return {n.value for n in ast.walk(tree)
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docs}


@pytest.mark.parametrize("module", ["distributor.py", "read_models.py", "service.py",
                                    "figures.py", "routing.py", "agents.py", "calls.py",
                                    "config.py"])
def test_python_spells_no_field_or_state(module: str) -> None:
    """Only contract.py holds the strings: config.py no longer builds the settings object
    (``script_settings`` with ``"wrap"``, ``"sl"`` … was a second definition of them)."""
    shared = {str(m.value) for enum in (contract.AgentField, contract.CallField,
                                        contract.CallState, contract.FigureField,
                                        contract.Setting, contract.ResultField)
              for m in enum}
    assert _spelt(ACD / module) & shared == set()


# ------------------------------------------------------------------ place.lua (issue 14)

PLACE = (ACD / "place.lua").read_text(encoding="utf-8")


def test_the_place_script_uses_only_contract_names_and_every_place_name() -> None:
    code = code_of(PLACE)
    # besides the assign script's: the commands only this one runs, "(" (an exclusive bound)
    offenders = [s for s in literal_offenders(PLACE)
                 if s not in {"+inf", "(", "ZRANK", "ZCOUNT", "SCARD", "LRANGE"}]
    assert offenders == []
    uses = {t: set(re.findall(rf"(?<![\w.]){t}\.([A-Za-z_]\w*)", code))
            for t in contract.PLACE_TABLES}
    for table, enum in contract.PLACE_TABLES.items():
        assert uses[table] <= names(enum), table
    for table in ("PSLOT", "PR"):
        assert uses[table] == names(contract.PLACE_TABLES[table]), table
    assert re.findall(r"ARGV\[(.*?)\]", code) == [
        f"PSLOT.{lua_name(s)}" for s in contract.PlaceSlot]
    contract.script_source(PLACE, contract.PLACE_TABLES)   # every name resolves


# ------------------------------------------------------- figures.lua, agents.lua (issue 12)

READERS = {name: (ACD / name).read_text(encoding="utf-8") for name in ("figures.lua",
                                                                      "agents.lua")}


def test_the_live_readers_use_only_contract_names() -> None:
    for name, lua in READERS.items():
        code = code_of(lua)
        # besides the assign script's: the JSON keys figures.lua answers with (its header
        # names them; DistributionView.figures reads them)
        offenders = [s for s in literal_offenders(lua) if s not in {"{}", ""}]
        assert offenders == [], name
        uses = {t: set(re.findall(rf"(?<![\w.]){t}\.([A-Za-z_]\w*)", code))
                for t in contract.FIGURES_TABLES}
        for table, enum in contract.FIGURES_TABLES.items():
            assert uses[table] <= names(enum), (name, table)
        assert re.findall(r"ARGV\[(.*?)\]", code) == [
            f"FSLOT.{lua_name(s)}" for s in contract.FiguresSlot], name
        contract.script_source(lua, contract.FIGURES_TABLES)   # every name resolves
