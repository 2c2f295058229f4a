"""What the distributor's state looks like to its readers (话务分配只读视图).

The web pages (agents, live figures), the waiting-line announcements of the ivr and the
distributor's own reconciliation read agents, the waiting line and the figures from Redis
through :class:`DistributionView`. Nothing here changes state: every change goes through
the script (:class:`~hotline_core.acd.distributor.Distributor`). Hash fields and states are
read by their names in :mod:`hotline_core.acd.contract`.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from importlib import resources
from typing import Any, NamedTuple

import redis.asyncio as aioredis

from hotline_core.acd import contract
from hotline_core.acd.agents import AgentState, AgentStatus
from hotline_core.acd.calls import WaitingCall
from hotline_core.acd.config import DistributionConfig
from hotline_core.acd.contract import (
    AgentField,
    CallbackFlag,
    CallField,
    CallState,
    FigureField,
)
from hotline_core.acd.figures import Figures, QueueFigures, estimated_wait
from hotline_core.redis_batch import RedisBatch, Slot
from hotline_core.redis_keys import AcdKeys


def _s(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8")
    return str(value)


def _fields(raw: Mapping[Any, Any]) -> dict[str, str]:
    return {_s(k): _s(v) for k, v in raw.items()}


def agent_from_hash(agent_id: str, h: Mapping[str, str]) -> AgentStatus:
    """An agent's snapshot from its hash (fields named in :class:`AgentField`)."""
    return AgentStatus(
        agent_id=agent_id,
        state=AgentState(h[AgentField.STATE]),
        skills={str(k): int(v) for k, v in json.loads(h[AgentField.SKILLS]).items()},
        group=h.get(AgentField.GROUP, ""),
        pause_reason=h.get(AgentField.PAUSE_REASON, ""),
        since=float(h.get(AgentField.SINCE, 0)),
        calls_taken=int(h.get(AgentField.CALLS_TAKEN, 0)),
        current_call=h.get(AgentField.CALL) or None,
        idle_since=float(h.get(AgentField.IDLE_SINCE, 0)),
        pending_pause=h.get(AgentField.PENDING_PAUSE, ""),
    )


def waiting_call_from_hash(call_id: str, h: Mapping[str, str], effective_priority: int
                           ) -> WaitingCall:
    """A waiting call from its hash (fields named in :class:`CallField`)."""
    return WaitingCall(
        call_id=call_id, line=h[CallField.LINE],
        skills=tuple(json.loads(h[CallField.SKILLS])), caller=h[CallField.CALLER],
        priority=int(h[CallField.PRIORITY]), enqueued_at=float(h[CallField.ENQUEUED_AT]),
        department=h.get(CallField.DEPARTMENT, ""),
        callback=h.get(CallField.CALLBACK) == CallbackFlag.SET,
        effective_priority=effective_priority,
    )


def _dict(value: Any) -> dict[str, Any]:
    """A JSON object of ``figures.lua`` (cjson writes an empty table as ``{}``; anything
    else is not a count table)."""
    return value if isinstance(value, dict) else {}


class _FiguresReading(NamedTuple):
    """``figures.lua``'s counts (see the script's header)."""

    by_state: dict[str, Any]
    by_group: dict[str, Any]
    skill_agents: dict[str, Any]
    line_wait: dict[str, Any]
    skill_wait: dict[str, Any]


class HeldCall(NamedTuple):
    """A held call and the agent it rings on or talks to (None while it waits)."""

    call: WaitingCall
    agent_id: str | None


class Place(NamedTuple):
    """A waiting caller's place in line (1 = next) and estimated wait in seconds (None:
    no agent of its skill serves)."""

    position: int
    estimated_wait: float | None


_FIGURES_SCRIPT = contract.script_source(
    resources.files("hotline_core.acd").joinpath("figures.lua").read_text("utf-8"),
    contract.FIGURES_TABLES)
_AGENTS_SCRIPT = contract.script_source(
    resources.files("hotline_core.acd").joinpath("agents.lua").read_text("utf-8"),
    contract.FIGURES_TABLES)
_PLACE_SCRIPT = contract.script_source(
    resources.files("hotline_core.acd").joinpath("place.lua").read_text("utf-8"),
    contract.PLACE_TABLES)


class DistributionView:
    """Reads one hotline's distribution state (agents, waiting line, figures) from Redis."""

    def __init__(self, redis: aioredis.Redis, config: DistributionConfig, keys: AcdKeys,
                 clock: Callable[[], float] = time.time) -> None:
        self._redis = redis
        self._config = config
        self._keys = keys
        self._clock = clock
        self._place = redis.register_script(_PLACE_SCRIPT)
        self._figures = redis.register_script(_FIGURES_SCRIPT)
        self._agents = redis.register_script(_AGENTS_SCRIPT)

    async def _io(self, awaitable: Awaitable[Any]) -> Any:
        async with asyncio.timeout(self._config.redis_timeout_seconds):
            return await awaitable

    async def agents(self) -> list[AgentStatus]:
        """Every agent that ever logged in, sorted by id (one run of ``agents.lua``)."""
        raw = json.loads(_s(await self._io(self._agents(keys=[], args=[self._keys.prefix]))))
        rows = raw if isinstance(raw, list) else []      # cjson writes [] as {}
        return sorted((agent_from_hash(str(agent_id), h) for agent_id, h in rows),
                      key=lambda a: a.agent_id)

    async def _waiting_rows(self) -> list[tuple[WaitingCall, float]]:
        ids = [_s(x) for x in await self._io(self._redis.zrange(self._keys.waiting, 0, -1))]
        pipe = self._redis.pipeline(transaction=False)
        for call_id in ids:
            pipe.hgetall(self._keys.call(call_id))
        rows = await self._io(pipe.execute())
        out = []
        now = self._clock()
        bound = self._config.priorities.starvation_seconds
        starved = self._config.priorities.starved_priority
        for call_id, raw in zip(ids, rows, strict=True):
            h = _fields(raw)
            if h.get(CallField.STATE) != CallState.WAITING:
                continue
            effective = int(h[CallField.EFFECTIVE_PRIORITY])
            if (bound > 0 and effective < starved
                    and float(h[CallField.ENQUEUED_AT]) + bound <= now):
                effective = starved  # as the next script run will see it
            out.append((waiting_call_from_hash(call_id, h, effective),
                        float(h[CallField.ORDER])))
        out.sort(key=lambda r: (-r[0].effective_priority, r[1]))
        return out

    async def waiting(self, line: str | None = None) -> list[WaitingCall]:
        """Calls in line (all, or one line's), in the order they will be served."""
        return [c for c, _ in await self._waiting_rows() if line is None or c.line == line]

    async def figures(self) -> QueueFigures:
        """Live figures per line and per skill queue (definitions in ``figures.py``), read
        in one run of ``figures.lua``: the counting of agents and waiting calls happens in
        Redis, so the reader parses a few counts per line and skill, not a hash per agent
        and per waiting call."""
        now = self._clock()
        raw = json.loads(_s(await self._io(self._figures(
            keys=[], args=[self._keys.prefix]))))
        reading = _FiguresReading(
            by_state=_dict(raw.get("by_state")), by_group=_dict(raw.get("by_group")),
            skill_agents=_dict(raw.get("skill_agents")),
            line_wait=_dict(raw.get("line_wait")), skill_wait=_dict(raw.get("skill_wait")))

        def build(name: str, counters: dict[str, str], wait: list[Any] | None,
                  holders: dict[str, int] | None) -> Figures:
            h = {k: float(v) for k, v in counters.items()}
            return Figures(
                name=name,
                waiting=int(wait[0]) if wait else 0,
                longest_wait=now - float(wait[1]) if wait else 0.0,
                answered=round(h.get(FigureField.ANSWERED, 0)),
                abandoned=round(h.get(FigureField.ABANDONED, 0)),
                answered_within_target=round(h.get(FigureField.ANSWERED_WITHIN_TARGET, 0)),
                abandoned_after_target=round(h.get(FigureField.ABANDONED_AFTER_TARGET, 0)),
                total_answer_wait=h.get(FigureField.TOTAL_ANSWER_WAIT, 0.0),
                agents_by_state={AgentState(k): int(v) for k, v in (holders or {}).items()},
            )

        lines, skills = _dict(raw.get("lines")), _dict(raw.get("skills"))
        return QueueFigures(
            at=now,
            service_level_seconds=self._config.service_level_seconds,
            lines={n: build(n, _dict(lines[n]), reading.line_wait.get(n), None)
                   for n in sorted(lines)},
            skills={n: build(n, _dict(skills[n]), reading.skill_wait.get(n),
                             _dict(reading.skill_agents.get(n)))
                    for n in sorted(skills)},
            agents_by_state={AgentState(k): int(v) for k, v in reading.by_state.items()},
            agents_by_group={str(k): int(v) for k, v in reading.by_group.items()},
        )

    async def place(self, call_id: str) -> Place | None:
        """A waiting call's place in line and estimated wait (排队位置与预计等待), read in
        one run of ``place.lua`` whose cost does not grow with the line (a rank in the
        call's skill queue, the count of the skill's serving agents); None when the call
        is not waiting."""
        reading = contract.decode_place(await self._io(self._place(
            keys=[], args=contract.place_argv(self._keys.prefix, self._clock(),
                                              self._config, call_id))))
        if reading is None:
            return None
        return Place(reading.ahead + 1, estimated_wait(
            reading.ahead, reading.serving, reading.talk_seconds,
            self._config.default_handle_seconds, self._config.wrapup_seconds))

    async def anyone_logged_in(self, skills: Iterable[str]) -> bool:
        """Is an agent with one of ``skills`` logged in (paused or not)? One count per
        skill, never a read of every agent."""
        pipe = self._redis.pipeline(transaction=False)
        for skill in skills:
            pipe.scard(self._keys.logged_in(skill))
        return any(int(n) for n in await self._io(pipe.execute()))

    async def position(self, call_id: str) -> int | None:
        """1-based place of a waiting call among the calls of its skill queue (for the
        announcement "you are number n in line"); None when it is not waiting."""
        found = await self.place(call_id)
        return None if found is None else found.position

    async def agent(self, agent_id: str) -> AgentStatus | None:
        """One agent's snapshot (None: never logged in), one round trip (the screen pop)."""
        h = _fields(await self._io(self._redis.hgetall(self._keys.agent(agent_id))))
        return agent_from_hash(agent_id, h) if h else None

    async def held_call(self, call_id: str) -> HeldCall | None:
        """A call the distributor holds, waiting, ringing or talking (its line, caller and
        department as enqueued, and the agent it rings on or talks to); None when it holds
        no such call."""
        return _held(call_id, await self._io(self._redis.hgetall(self._keys.call(call_id))))

    def held_call_in(self, batch: RedisBatch, call_id: str) -> Slot[HeldCall | None]:
        """:meth:`held_call`, queued on ``batch`` (a hang-up's commands in one round trip)."""
        batch.pipe.hgetall(self._keys.call(call_id))
        return batch.add(1, lambda replies: _held(call_id, replies[0]))

    async def holds(self, call_id: str) -> bool:
        """Does the distributor hold this call (waiting, ringing or talking)?"""
        return bool(await self._io(self._redis.exists(self._keys.call(call_id))))

    async def held_calls(self) -> set[str]:
        """Ids of every call the distributor holds (waiting, ringing or talking)."""
        members = await self._io(self._redis.smembers(self._keys.calls))
        return {_s(x) for x in members}

    async def estimated_wait(self, call_id: str) -> float | None:
        """Estimated seconds until ``call_id`` is answered, for announcements (see figures)."""
        found = await self.place(call_id)
        return None if found is None else found.estimated_wait


def _held(call_id: str, raw: Any) -> HeldCall | None:
    h = _fields(raw)
    if not h or CallField.LINE not in h:
        return None
    call = waiting_call_from_hash(
        call_id, h, int(h.get(CallField.EFFECTIVE_PRIORITY, h[CallField.PRIORITY])))
    with_agent = h.get(CallField.STATE) in (CallState.RINGING, CallState.TALKING)
    return HeldCall(call, h.get(CallField.AGENT) or None if with_agent else None)
