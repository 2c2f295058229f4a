"""The contract between the distributor's Lua script and Python (分配脚本契约).

Every name the two sides share is defined here once: the operations, the arguments each one
takes, the hash fields of agents, calls and figures and the states written in them, the
settings, the error codes and the shape of the result. The script (``assign.lua``) writes
the names as ``TABLE.name`` (``AF.state``, ``CS.waiting``, ``OP.enqueue`` ...; the tables are
:data:`LUA_TABLES`) and :func:`script_source` resolves them to their values when the script
is loaded; Python encodes the arguments and decodes the result and the hashes with the same
enums.
``tests/acd/test_lua_contract.py`` checks both directions.

The short field strings (``st``, ``grp`` ...) are the storage format in Redis and stay as
they are; only the names the code uses are readable.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from enum import Enum, IntEnum, StrEnum
from typing import Any, NamedTuple

from hotline_core.acd.agents import AgentState
from hotline_core.acd.calls import CallMatch
from hotline_core.acd.config import DistributionConfig, Strategy
from hotline_core.masking import mask_phone

# --------------------------------------------------------------------- operations


class Op(StrEnum):
    """The operations the script runs (one per call, atomically)."""

    LOGIN = "login"
    LOGOUT = "logout"
    PAUSE = "pause"
    UNPAUSE = "unpause"
    ENQUEUE = "enqueue"
    ABANDON = "abandon"
    ANSWERED = "answered"
    ENDED = "ended"
    RING_NO_ANSWER = "rna"
    CONNECT_FAILED = "connect_failed"
    CALLBACK = "callback"
    ADVANCE = "advance"
    FORGET_CALL = "forget_call"
    FORCE_TALK = "force_talk"
    AGENT_IDLE = "agent_idle"
    REMATCH = "rematch"
    RESET_FIGURES = "reset_figures"


class Arg(StrEnum):
    """The names of the operations' arguments (passed as name, value pairs)."""

    AGENT = "agent"
    SKILLS = "skills"            # agent: JSON {skill: level}; call: JSON [skill, ...]
    GROUP = "group"
    REASON = "reason"
    CALL = "call"
    LINE = "line"
    CALLER = "caller"
    PRIORITY = "priority"
    ENQUEUED_AT = "at"
    DEPARTMENT = "department"
    REST_SECONDS = "rest"
    MODE = "mode"                # force_talk: CallState.RINGING or CallState.TALKING


class ArgvSlot(IntEnum):
    """What each ARGV position carries (1-based, as Lua counts)."""

    PREFIX = 1          # the key prefix (<namespace>:acd)
    CHANNEL = 2         # the events channel
    OP = 3              # an Op
    NOW = 4             # the distributor's clock, seconds
    SETTINGS = 5        # JSON object of Setting -> value
    ARGS = 6            # from here on: Arg name, value, name, value …


# --------------------------------------------------------------------- hash fields, states


class AgentField(StrEnum):
    """Fields of an agent's hash ``:a:<agent>``."""

    STATE = "st"                 # an AgentState
    GROUP = "grp"
    PAUSE_REASON = "why"
    PENDING_PAUSE = "pend"       # pause asked for during a call, applied after wrap-up
    SINCE = "since"              # when the current state began
    IDLE_SINCE = "idle"          # when the agent last became free (longest idle)
    CALLS_TAKEN = "n"            # calls answered since login
    CALL = "call"                # the call ringing at or talked by the agent
    SKILLS = "sk"                # JSON {skill: level}
    READY_MEMBER = "rm"          # member in the ready sets, "" when not ready
    CONNECT_FAILED = "cf"        # call whose connection failed while the agent rests
    SERVING_SKILLS = "sv"        # skills JSON whose serving sets hold the agent, "" if none


class CallField(StrEnum):
    """Fields of a call's hash ``:c:<call>``."""

    LINE = "ln"
    SKILLS = "sk"                # JSON [skill, ...]; the first is the skill queue
    CALLER = "cl"
    PRIORITY = "pr"
    EFFECTIVE_PRIORITY = "ep"    # after the starvation bound
    ENQUEUED_AT = "at"
    DEPARTMENT = "dp"
    ORDER = "ord"                # place in line
    FALLBACK = "fb"              # overflow skill once overflowed, else ""
    CALLBACK = "cb"              # "1": virtual hold requested
    STATE = "st"                 # a CallState
    AGENT = "ag"
    RANG_AT = "ra"
    ANSWERED_AT = "ans"


class CallState(StrEnum):
    """Where a held call is (the ``st`` field of a call's hash)."""

    WAITING = "W"
    RINGING = "R"
    TALKING = "T"


class FigureField(StrEnum):
    """Counters of the figures hashes ``:fl:<line>`` and ``:fs:<skill>``."""

    ANSWERED = "ans"
    ANSWERED_WITHIN_TARGET = "ans_sl"
    ABANDONED = "abd"
    ABANDONED_AFTER_TARGET = "abd_late"
    TOTAL_ANSWER_WAIT = "wait_ans"


class CallbackFlag(StrEnum):
    """The ``cb`` field of a call's hash: virtual hold (虚拟排队) requested or not."""

    SET = "1"
    NOT_SET = "0"

# --------------------------------------------------------------------- settings


class Setting(StrEnum):
    """Keys of the settings object (slot ``ArgvSlot.SETTINGS``)."""

    WRAPUP_SECONDS = "wrap"
    SERVICE_LEVEL_SECONDS = "sl"
    STARVATION_SECONDS = "starve"
    STARVED_PRIORITY = "sp"
    DEFAULT_STRATEGY = "dstrat"
    STRATEGY = "strat"                # {skill: Strategy}
    OVERFLOW = "ovf"                  # {skill: [after_seconds, fallback]}
    HANDLE_TIME_SAMPLES = "nhts"
    RING_DEADLINE_SECONDS = "rto"     # stuck-ring deadline after the assignment; 0 = never
    RING_CAUSE = "rcause"             # pause reason of a stuck ring
    HOLD = "hold"                     # reconciliation: change state, assign nothing


STUCK_RING_CAUSE = "no answer"


def encode_settings(config: DistributionConfig, *, hold: bool = False) -> str:
    """The settings object the script reads (slot ``ArgvSlot.SETTINGS``)."""
    settings: dict[str, Any] = {
        Setting.WRAPUP_SECONDS: config.wrapup_seconds,
        Setting.SERVICE_LEVEL_SECONDS: config.service_level_seconds,
        Setting.STARVATION_SECONDS: config.priorities.starvation_seconds,
        Setting.STARVED_PRIORITY: config.priorities.starved_priority,
        Setting.DEFAULT_STRATEGY: str(config.default_strategy),
        Setting.STRATEGY: {k: str(v) for k, v in config.strategy.items()},
        Setting.OVERFLOW: {k: [r.after_seconds, r.fallback] for k, r in config.overflow.items()},
        Setting.HANDLE_TIME_SAMPLES: config.handle_time_samples,
        Setting.RING_DEADLINE_SECONDS: (
            config.no_answer_timeout + config.stuck_ring_grace_seconds
            if config.stuck_ring_grace_seconds > 0 else 0),
        Setting.RING_CAUSE: STUCK_RING_CAUSE,
        Setting.HOLD: hold,
    }
    return json.dumps(settings)


# --------------------------------------------------------------------- result


class ErrorCode(StrEnum):
    """Refusals the script returns (``DistributionError.code``)."""

    UNKNOWN_OPERATION = "unknown_operation"
    DUPLICATE_CALL = "duplicate_call"
    NOT_LOGGED_IN = "not_logged_in"
    NOT_WAITING = "not_waiting"


class ResultField(StrEnum):
    """Keys of the JSON object a run returns."""

    MATCHES = "a"       # list of match objects (MatchField)
    ERROR = "e"         # an ErrorCode, or absent
    WARNING = "w"       # a stale event ignored (text), or absent


class MatchField(IntEnum):
    """Places (1-based, as Lua counts) in one match (call → agent) of the result.

    A list, not an object: decoding a list of seven costs half of an object of seven keys
    (measured with json.loads), and a match is decoded for every assignment.
    """

    CALL = 1
    AGENT = 2
    LINE = 3
    CALLER = 4
    DEPARTMENT = 5
    CALLBACK = 6
    PRIORITY = 7


class EventField(StrEnum):
    """Keys of the message published on the events channel after a change."""

    OP = "op"
    AT = "t"
    MATCHES = "n"       # how many matches the run made


class Outcome(NamedTuple):
    """A run's result, decoded."""

    matches: list[CallMatch]
    error: str | None
    warning: str | None


# Plain strings for the decoder, which runs for every operation: looking a key up by an enum
# member costs three times a plain string (measured: 0.16 µs against 0.05 µs).
_MATCHES, _ERROR, _WARNING = ResultField.MATCHES.value, ResultField.ERROR.value, \
    ResultField.WARNING.value
# Python counts from 0
_CALL, _AGENT, _LINE, _CALLER = (MatchField.CALL - 1, MatchField.AGENT - 1,
                                 MatchField.LINE - 1, MatchField.CALLER - 1)
_DEPARTMENT, _CALLBACK, _PRIORITY = (MatchField.DEPARTMENT - 1, MatchField.CALLBACK - 1,
                                     MatchField.PRIORITY - 1)


def decode_result(raw: str | bytes) -> Outcome:
    """Decode what the script returned (JSON strings are already ``str``)."""
    result: Mapping[str, Any] = json.loads(raw)
    matches = [
        CallMatch(call_id=m[_CALL], agent_id=m[_AGENT], line=m[_LINE], caller=m[_CALLER],
                  department=m[_DEPARTMENT], callback=bool(m[_CALLBACK]),
                  priority=int(m[_PRIORITY]))
        # cjson encodes an empty Lua table as {} (it cannot tell it from a list)
        for m in (result.get(_MATCHES) or ())
    ]
    error = result.get(_ERROR)
    warning = result.get(_WARNING)
    return Outcome(matches, None if error is None else str(error),
                   None if warning is None else str(warning))


def argv(prefix: str, channel: str, op: Op, now: float, settings: str, args: list[str]
         ) -> list[str]:
    """The script's ARGV, in the order of :class:`ArgvSlot` (the arguments last)."""
    return [prefix, channel, op, repr(now), settings, *args]  # a StrEnum is a str



# --------------------------------------------------------------------- argument encoders


class Invocation(NamedTuple):
    """One run of the script: an operation and its named arguments.

    (A named tuple, not a dataclass: one is built for every operation.)
    """

    op: Op
    args: Mapping[Arg, str]   # numbers as repr(), which the script reads with tonumber

    def encoded(self) -> list[str]:
        """The arguments as ARGV from slot ``ArgvSlot.ARGS`` on: name, value, name, value …"""
        return [text for pair in self.args.items() for text in pair]

    def shown(self) -> str:
        """The arguments as logs and errors may show them: the caller's number masked."""
        shown = {str(k): (mask_phone(str(v)) if k is Arg.CALLER else v)
                 for k, v in self.args.items()}
        return f"{self.op} {shown}"


def login(agent_id: str, skills: Mapping[str, int], group: str) -> Invocation:
    return Invocation(Op.LOGIN, {Arg.AGENT: agent_id, Arg.SKILLS: json.dumps(dict(skills)),
                                 Arg.GROUP: group})


def logout(agent_id: str) -> Invocation:
    return Invocation(Op.LOGOUT, {Arg.AGENT: agent_id})


def pause(agent_id: str, reason: str) -> Invocation:
    return Invocation(Op.PAUSE, {Arg.AGENT: agent_id, Arg.REASON: reason})


def unpause(agent_id: str) -> Invocation:
    return Invocation(Op.UNPAUSE, {Arg.AGENT: agent_id})


def _described_call(call_id: str, line: str, skills: tuple[str, ...], caller: str,
                    priority: int, enqueued_at: float, department: str
                    ) -> dict[Arg, str]:
    return {Arg.CALL: call_id, Arg.LINE: line, Arg.SKILLS: json.dumps(list(skills)),
            Arg.CALLER: caller, Arg.PRIORITY: repr(int(priority)),
            Arg.ENQUEUED_AT: repr(float(enqueued_at)), Arg.DEPARTMENT: department}


def enqueue(call_id: str, line: str, skills: tuple[str, ...], caller: str, priority: int,
            enqueued_at: float, department: str) -> Invocation:
    return Invocation(Op.ENQUEUE, _described_call(call_id, line, skills, caller, priority,
                                                  enqueued_at, department))


def abandon(call_id: str) -> Invocation:
    return Invocation(Op.ABANDON, {Arg.CALL: call_id})


def answered(call_id: str, agent_id: str) -> Invocation:
    return Invocation(Op.ANSWERED, {Arg.CALL: call_id, Arg.AGENT: agent_id})


def ended(call_id: str, agent_id: str) -> Invocation:
    return Invocation(Op.ENDED, {Arg.CALL: call_id, Arg.AGENT: agent_id})


def ring_no_answer(call_id: str, agent_id: str, cause: str) -> Invocation:
    return Invocation(Op.RING_NO_ANSWER, {Arg.CALL: call_id, Arg.AGENT: agent_id,
                                          Arg.REASON: cause})


def connect_failed(call_id: str, agent_id: str, rest_seconds: float) -> Invocation:
    return Invocation(Op.CONNECT_FAILED, {Arg.CALL: call_id, Arg.AGENT: agent_id,
                                          Arg.REST_SECONDS: repr(float(rest_seconds))})


def callback(call_id: str) -> Invocation:
    return Invocation(Op.CALLBACK, {Arg.CALL: call_id})


def advance() -> Invocation:
    return Invocation(Op.ADVANCE, {})


def forget_call(call_id: str) -> Invocation:
    return Invocation(Op.FORGET_CALL, {Arg.CALL: call_id})


def force_talk(call_id: str, agent_id: str, answered: bool, line: str,
               skills: tuple[str, ...], caller: str, priority: int, enqueued_at: float,
               department: str) -> Invocation:
    """Reconciliation: the agent talks (or rings, ``answered=False``) with the call; the
    call's description is used when the distributor never knew it."""
    args = _described_call(call_id, line, skills, caller, priority, enqueued_at, department)
    args[Arg.AGENT] = agent_id
    args[Arg.MODE] = CallState.TALKING if answered else CallState.RINGING
    return Invocation(Op.FORCE_TALK, args)


def agent_idle(agent_id: str) -> Invocation:
    return Invocation(Op.AGENT_IDLE, {Arg.AGENT: agent_id})


def rematch() -> Invocation:
    return Invocation(Op.REMATCH, {})


def reset_figures() -> Invocation:
    return Invocation(Op.RESET_FIGURES, {})


# --------------------------------------------------------------------- a caller's place


class PlaceSlot(IntEnum):
    """What each ARGV position of ``place.lua`` carries (1-based)."""

    PREFIX = 1
    NOW = 2
    STARVATION_SECONDS = 3
    STARVED_PRIORITY = 4
    CALL = 5


class PlaceResult(IntEnum):
    """Places (1-based) in the list ``place.lua`` returns for a waiting call."""

    AHEAD = 1           # calls ahead of it in its skill queue
    SERVING = 2         # agents of that skill neither logged out nor paused
    TALK_SECONDS = 3    # from here on: recent talk times of the skill


class PlaceReading(NamedTuple):
    """``place.lua``'s answer, decoded."""

    ahead: int
    serving: int
    talk_seconds: list[float]


def place_argv(prefix: str, now: float, config: DistributionConfig, call_id: str
               ) -> list[str]:
    """``place.lua``'s ARGV, in the order of :class:`PlaceSlot`."""
    return [prefix, repr(now), repr(float(config.priorities.starvation_seconds)),
            repr(int(config.priorities.starved_priority)), call_id]


def decode_place(raw: Any) -> PlaceReading | None:
    """Decode ``place.lua``'s answer (None: the call is not waiting)."""
    if not raw:
        return None
    values = [v.decode() if isinstance(v, bytes) else v for v in raw]
    return PlaceReading(int(values[PlaceResult.AHEAD - 1]),
                        int(values[PlaceResult.SERVING - 1]),
                        [float(v) for v in values[PlaceResult.TALK_SECONDS - 1:]])


# --------------------------------------------------------------------- the live figures


class FiguresSlot(IntEnum):
    """What each ARGV position of ``figures.lua`` carries (1-based)."""

    PREFIX = 1


# --------------------------------------------------------------------- the script's names

# Lua table name -> the enum it stands for. The script writes ``<table>.<member name>``
# (``AF.state``, ``CS.waiting``, ``SLOT.args``).
LUA_TABLES: dict[str, type[StrEnum] | type[IntEnum]] = {
    "SLOT": ArgvSlot,
    "OP": Op,
    "ARG": Arg,
    "AF": AgentField,
    "AS": AgentState,
    "CF": CallField,
    "CS": CallState,
    "CB": CallbackFlag,
    "FF": FigureField,
    "S": Setting,
    "STRAT": Strategy,
    "ERR": ErrorCode,
    "R": ResultField,
    "M": MatchField,
    "EV": EventField,
}

# The tables ``place.lua`` (the read of a caller's place in line) uses.
PLACE_TABLES: dict[str, type[StrEnum] | type[IntEnum]] = {
    "PSLOT": PlaceSlot,
    "PR": PlaceResult,
    "CF": CallField,
    "CS": CallState,
}

# The tables ``figures.lua`` (the live figures' reading) uses.
FIGURES_TABLES: dict[str, type[StrEnum] | type[IntEnum]] = {
    "FSLOT": FiguresSlot,
    "AF": AgentField,
    "AS": AgentState,
    "CF": CallField,
    "CS": CallState,
}


def _reference(tables: Mapping[str, object]) -> re.Pattern[str]:
    return re.compile(r"(?<![\w.])(" + "|".join(tables) + r")\.([A-Za-z_]\w*)")


_REFERENCE = _reference(LUA_TABLES)


def lua_name(member: Enum) -> str:
    """The name the script uses for an enum member: ``AgentField.STATE`` → ``state``."""
    return member.name.lower()


def lua_literal(value: str | int) -> str:
    """A value as a Lua literal (the names are ASCII; a JSON string of ASCII is valid Lua)."""
    if isinstance(value, int):
        return str(value)
    if not value.isascii():
        raise ValueError(f"{value!r}: the script's names must be ASCII")
    return json.dumps(value)


LUA_VALUES: dict[str, dict[str, str]] = {
    table: {lua_name(m): lua_literal(m.value) for m in enum}
    for table, enum in (LUA_TABLES | PLACE_TABLES | FIGURES_TABLES).items()
}


def script_source(body: str, tables: Mapping[str, object] = LUA_TABLES) -> str:
    """The script Redis runs: ``assign.lua`` (or ``place.lua`` with
    :data:`PLACE_TABLES`, ``figures.lua`` with :data:`FIGURES_TABLES`) with every
    ``TABLE.name`` replaced by its value, so a run looks nothing up (as fast as literals).
    A name the contract does not define refuses to load."""
    def resolve(m: re.Match[str]) -> str:
        value = LUA_VALUES[m.group(1)].get(m.group(2))
        if value is None:
            raise ValueError(f"assign.lua: {m.group(0)} is not defined in contract.py")
        return value

    pattern = _REFERENCE if tables is LUA_TABLES else _reference(tables)
    return ("-- names resolved from hotline_core/acd/contract.py (script_source)\n"
            + pattern.sub(resolve, body))
