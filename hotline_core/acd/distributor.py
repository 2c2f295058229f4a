"""The call distributor (话务分配, ACD): agents, waiting line, assignment, figures.

All state lives in Redis and every change goes through one Lua script
(``assign.lua``), so several core processes may share one Redis: a call is given to exactly
one agent and an agent gets at most one call at a time.

Choosing (see ``assign.lua``):

- a call that becomes assignable (new, back at the head, overflowed) takes the best READY
  agent of its skill queue by that queue's strategy — longest idle (idle-since to the
  microsecond), fewest calls, or best skill level, ties to the longest idle — who holds
  every skill the call needs; once overflowed, if no dedicated agent is free, the best agent
  of the fallback skill;
- an agent who becomes READY takes the waiting call it can serve with the highest
  priority, then of the skill it holds at the best level (a dedicated 12351 agent takes
  a 12351 call before an older general call), then the one first in line.

Skill levels (技能等级) read as in ``config/agents.toml``: 1 is the best, 2 the next, and so
on — the same meaning the app_queue fallback gives them (member penalty = level − 1). The
shipped 1003 (人社专席, ``hrss = 1, general = 2``) therefore takes a waiting 12333 call before
an older 12345 call of the same priority.

Every assignment, whatever method caused it, is awaited on :attr:`Distributor.on_assignment`
and announced with the figures change on the pub/sub channel ``<namespace>:events``.

Failure handling: stale telephony events (an answer for a call already abandoned ...) are
logged and ignored. If Redis answers too late (``redis_timeout_seconds``) the script may
still have run and an assignment never reached ``on_assignment``: the stuck-ring deadline
(``no_answer_timeout + stuck_ring_grace_seconds``) or :meth:`Distributor.rebuild` releases
that agent and call. Keep the dialplan's ring timeout at most that deadline.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from importlib import resources
from typing import Any

import redis.asyncio as aioredis

from hotline_core.acd.agents import AgentState, AgentStatus
from hotline_core.acd.calls import Assignment, LiveChannel, WaitingCall
from hotline_core.acd.config import DistributionConfig
from hotline_core.acd.figures import Figures, QueueFigures, estimated_wait
from hotline_core.acd.routing import skills_for_call
from hotline_core.masking import mask_phone
from hotline_core.redis_keys import DEFAULT_NAMESPACE, RedisKeys

log = logging.getLogger(__name__)

_SCRIPT = resources.files("hotline_core.acd").joinpath("assign.lua").read_text("utf-8")


class DistributionError(Exception):
    """A request the distributor refuses (unknown agent, duplicate call ...)."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code


def _s(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8")
    return str(value)


# Position of the caller's number in the arguments of the operations that carry it.
_CALLER_ARG = {"enqueue": 3, "force_talk": 5}


def _shown(op: str, args: Sequence[str | int | float]) -> tuple[str | int | float, ...]:
    """An operation's arguments as logs and errors may show them: the caller masked."""
    shown = list(args)
    at = _CALLER_ARG.get(op)
    if at is not None and at < len(shown):
        shown[at] = mask_phone(str(shown[at]))
    return tuple(shown)


class Distributor:
    """Call distribution core for one hotline (one ``namespace`` in one Redis)."""

    def __init__(
        self,
        redis: aioredis.Redis,
        config: DistributionConfig,
        namespace: str = DEFAULT_NAMESPACE,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._redis = redis
        self._config = config
        self._namespace = namespace
        self.names = names = RedisKeys(namespace)   # this hotline's keys and channels
        self._keys = names.acd          # the script builds its keys from this prefix
        self.figures_day_key = self._keys.figures_day
        self.events_channel = names.events
        self._clock = clock
        self._settings = json.dumps(config.script_settings())
        # reconciliation steps run with matching held, then one rematch
        self._settings_hold = json.dumps({**config.script_settings(), "hold": True})
        self._script = redis.register_script(_SCRIPT)
        self.on_assignment: Callable[[Assignment], Awaitable[None]] | None = None

    @property
    def config(self) -> DistributionConfig:
        return self._config

    def clock(self) -> float:
        """The distributor's notion of now."""
        return self._clock()

    # ------------------------------------------------------------------ plumbing

    async def _io(self, awaitable: Awaitable[Any]) -> Any:
        async with asyncio.timeout(self._config.redis_timeout_seconds):
            return await awaitable

    async def _op(self, op: str, *args: str | int | float, hold: bool = False
                  ) -> list[Assignment]:
        now = self._clock()
        settings = self._settings_hold if hold else self._settings
        raw = await self._io(self._script(
            keys=[],
            args=[self._keys.prefix, self.events_channel, op, repr(now), settings,
                  *[a if isinstance(a, str) else repr(a) for a in args]],
        ))
        result = json.loads(_s(raw))
        if result.get("w"):
            log.warning("acd %s %s: stale event ignored: %s", op, _shown(op, args), result["w"])
        if result.get("e"):
            raise DistributionError(str(result["e"]), f"{op} {_shown(op, args)!r}")
        made = [
            Assignment(call_id=a[0], agent_id=a[1], line=a[2], caller=a[3], department=a[4],
                       callback=bool(a[5]), priority=int(a[6]))
            for a in (result.get("a") or [])
        ]
        for assignment in made:
            log.info("acd assign %s -> %s", assignment.call_id, assignment.agent_id)
            if self.on_assignment is not None:
                try:
                    await self.on_assignment(assignment)
                except Exception:
                    # Redis already holds the decision; the telephony side reports failure
                    # with ring_no_answer (or abandon). One failure must not hide the others.
                    log.exception("on_assignment failed for call %s -> agent %s",
                                  assignment.call_id, assignment.agent_id)
        return made

    # ------------------------------------------------------------------ agents

    async def agent_login(self, agent_id: str, skills: dict[str, int],
                          group: str = "call-taking") -> None:
        """Log in (签入) with skills and levels; READY, idle since now.

        Logging in again while logged in changes skills and group and keeps the state.
        """
        if not agent_id:
            raise ValueError("agent id: must be non-empty")
        if not skills:
            raise ValueError(f"agent {agent_id}: needs at least one skill")
        for skill, level in skills.items():
            if not skill or isinstance(level, bool) or not isinstance(level, int):
                raise ValueError(f"agent {agent_id}: skill {skill!r} level must be an int")
        await self._op("login", agent_id, json.dumps(skills), group)

    async def agent_logout(self, agent_id: str) -> None:
        """Log out (签出). A call ringing at the agent goes back to the head of its line."""
        await self._op("logout", agent_id)

    async def agent_pause(self, agent_id: str, reason: str) -> None:
        """Pause (示忙) with a reason code. During a call or wrap-up it applies after wrap-up;
        while ringing, the call goes back to the head of its line."""
        await self._op("pause", agent_id, reason)

    async def agent_unpause(self, agent_id: str) -> None:
        """READY again (示闲), idle since now; cancels a pause asked for during a call."""
        await self._op("unpause", agent_id)

    # ------------------------------------------------------------------ calls

    async def enqueue(self, call: WaitingCall) -> Assignment | None:
        """Put a call in line; assigns it at once if an agent is free."""
        if not call.call_id:
            raise ValueError("call_id: must be non-empty")
        if not call.skills:
            raise ValueError(f"call {call.call_id}: needs at least one skill")
        now = self._clock()
        at = call.enqueued_at or now
        skills = skills_for_call(self._config, call.line, call.skills, at)
        made = await self._op("enqueue", call.call_id, call.line, json.dumps(list(skills)),
                              call.caller, int(call.priority), float(at), call.department)
        for assignment in made:
            if assignment.call_id == call.call_id:
                return assignment
        return None

    async def abandon(self, call_id: str) -> None:
        """The caller hung up while waiting or while an agent's phone rang (呼损)."""
        await self._op("abandon", call_id)

    async def agent_answered(self, call_id: str, agent_id: str) -> None:
        """The agent picked up: RINGING → ON_CALL."""
        await self._op("answered", call_id, agent_id)

    async def call_ended(self, call_id: str, agent_id: str) -> None:
        """The talk ended: ON_CALL → WRAP_UP (READY at once if wrapup_seconds is 0)."""
        await self._op("ended", call_id, agent_id)

    async def ring_no_answer(self, call_id: str, agent_id: str,
                             cause: str = "no answer") -> None:
        """The agent did not answer: agent PAUSED with ``cause``; the call goes back to the
        head of its line (before every call of its priority) and the next agent rings."""
        await self._op("rna", call_id, agent_id, cause)

    async def connect_failed(self, call_id: str, agent_id: str, rest_seconds: float) -> None:
        """The caller could not be moved to the ringing agent (the telephony command failed
        or timed out) while the caller still waits: the call goes back to the head of its
        line and rings the next free agent; the agent, not at fault, is WRAP_UP for
        ``rest_seconds`` and then READY (the caller of this method grows it per retry).
        If that agent answers the call while resting (the command did reach the phone
        after all), :meth:`agent_answered` takes the answer."""
        if rest_seconds < 0:
            raise ValueError(f"rest_seconds: must be >= 0, got {rest_seconds}")
        await self._op("connect_failed", call_id, agent_id, float(rest_seconds))

    async def request_callback(self, call_id: str) -> None:
        """Virtual hold (虚拟排队/回呼): the caller keeps their place and may hang up; the
        assignment for this call will say ``callback=True``. Do not call :meth:`abandon` when
        such a caller hangs up."""
        await self._op("callback", call_id)

    async def advance(self) -> list[Assignment]:
        """The timer run (计时推进): assign everything assignable now (wrap-up ends,
        overflows due, ...)."""
        return await self._op("dispatch")

    async def next_wakeup(self) -> float | None:
        """When :meth:`advance` must run next: earliest wrap-up end, overflow time or
        stuck-ring deadline (``no_answer_timeout + stuck_ring_grace_seconds``; such an entry
        may be obsolete — the call was answered — and advance then does nothing)."""
        k = self._keys
        pipe = self._redis.pipeline(transaction=False)
        pipe.zrange(k.wrap, 0, 0, withscores=True)
        pipe.zrange(k.overflow, 0, 0, withscores=True)
        pipe.zrange(k.ringing, 0, 0, withscores=True)
        wrap, ovf, ring = await self._io(pipe.execute())
        times = [float(score) for _, score in (*wrap, *ovf, *ring)]
        return min(times) if times else None

    async def reset_figures(self) -> None:
        """Start the answered/abandoned counters again (e.g. at the start of the day)."""
        await self._op("reset_figures")

    # ------------------------------------------------------------------ reading

    async def agents(self) -> list[AgentStatus]:
        """Every agent that ever logged in, sorted by id."""
        ids = sorted(_s(x) for x in await self._io(self._redis.smembers(self._keys.agents)))
        pipe = self._redis.pipeline(transaction=False)
        for agent_id in ids:
            pipe.hgetall(self._keys.agent(agent_id))
        rows = await self._io(pipe.execute())
        out = []
        for agent_id, raw in zip(ids, rows, strict=True):
            h = {_s(k): _s(v) for k, v in raw.items()}
            if not h:
                continue
            out.append(AgentStatus(
                agent_id=agent_id,
                state=AgentState(h["st"]),
                skills={str(k): int(v) for k, v in json.loads(h["sk"]).items()},
                group=h.get("grp", ""),
                pause_reason=h.get("why", ""),
                since=float(h.get("since", 0)),
                calls_taken=int(h.get("n", 0)),
                current_call=h.get("call") or None,
                idle_since=float(h.get("idle", 0)),
                pending_pause=h.get("pend", ""),
            ))
        return out

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
            h = {_s(k): _s(v) for k, v in raw.items()}
            if h.get("st") != "W":
                continue
            effective = int(h["ep"])
            if bound > 0 and effective < starved and float(h["at"]) + bound <= now:
                effective = starved  # as the next script run will see it
            call = WaitingCall(
                call_id=call_id, line=h["ln"], skills=tuple(json.loads(h["sk"])),
                caller=h["cl"], priority=int(h["pr"]), enqueued_at=float(h["at"]),
                department=h.get("dp", ""), callback=h.get("cb") == "1",
                effective_priority=effective,
            )
            out.append((call, float(h["ord"])))
        out.sort(key=lambda r: (-r[0].effective_priority, r[1]))
        return out

    async def waiting(self, line: str | None = None) -> list[WaitingCall]:
        """Calls in line (all, or one line's), in the order they will be served."""
        return [c for c, _ in await self._waiting_rows() if line is None or c.line == line]

    async def figures(self) -> QueueFigures:
        """Live figures per line and per skill queue (definitions in ``figures.py``)."""
        now = self._clock()
        k = self._keys
        agents = await self.agents()
        waiting = [c for c, _ in await self._waiting_rows()]
        lines = {_s(x) for x in await self._io(self._redis.smembers(k.figure_lines))}
        skills = {_s(x) for x in await self._io(self._redis.smembers(k.figure_skills))}
        lines |= {c.line for c in waiting}
        skills |= {c.skills[0] for c in waiting} | {s for a in agents for s in a.skills}
        pipe = self._redis.pipeline(transaction=False)
        for name in sorted(lines):
            pipe.hgetall(k.line_figures(name))
        for name in sorted(skills):
            pipe.hgetall(k.skill_figures(name))
        counters = await self._io(pipe.execute())
        line_counts = dict(zip(sorted(lines), counters[: len(lines)], strict=True))
        skill_counts = dict(zip(sorted(skills), counters[len(lines):], strict=True))

        def build(name: str, raw: dict[Any, Any], calls: Sequence[WaitingCall],
                  holders: Sequence[AgentStatus] | None) -> Figures:
            h = {_s(k): float(_s(v)) for k, v in raw.items()}
            by_state: dict[AgentState, int] = {}
            for a in holders or ():
                by_state[a.state] = by_state.get(a.state, 0) + 1
            return Figures(
                name=name,
                waiting=len(calls),
                longest_wait=max((now - c.enqueued_at for c in calls), default=0.0),
                answered=round(h.get("ans", 0)),
                abandoned=round(h.get("abd", 0)),
                answered_within_target=round(h.get("ans_sl", 0)),
                abandoned_after_target=round(h.get("abd_late", 0)),
                total_answer_wait=h.get("wait_ans", 0.0),
                agents_by_state=by_state,
            )

        by_state: dict[AgentState, int] = {}
        by_group: dict[str, int] = {}
        for a in agents:
            by_state[a.state] = by_state.get(a.state, 0) + 1
            if a.state is not AgentState.LOGGED_OUT:
                by_group[a.group] = by_group.get(a.group, 0) + 1
        return QueueFigures(
            at=now,
            service_level_seconds=self._config.service_level_seconds,
            lines={n: build(n, line_counts[n], [c for c in waiting if c.line == n], None)
                   for n in sorted(lines)},
            skills={n: build(n, skill_counts[n], [c for c in waiting if c.skills[0] == n],
                             [a for a in agents if n in a.skills])
                    for n in sorted(skills)},
            agents_by_state=by_state,
            agents_by_group=by_group,
        )

    async def position(self, call_id: str) -> int | None:
        """1-based place of a waiting call among the calls of its skill queue (for the
        announcement "you are number n in line"); None when it is not waiting."""
        ahead = await self._ahead(call_id)
        return None if ahead is None else ahead[0] + 1

    async def _ahead(self, call_id: str) -> tuple[int, WaitingCall] | None:
        rows = [c for c, _ in await self._waiting_rows()]
        mine = next((c for c in rows if c.call_id == call_id), None)
        if mine is None:
            return None
        ahead = 0
        for c in rows:
            if c.call_id == call_id:
                break
            if c.skills[0] == mine.skills[0]:
                ahead += 1
        return ahead, mine

    async def holds(self, call_id: str) -> bool:
        """Does the distributor hold this call (waiting, ringing or talking)?"""
        return bool(await self._io(self._redis.exists(self._keys.call(call_id))))

    async def estimated_wait(self, call_id: str) -> float | None:
        """Estimated seconds until ``call_id`` is answered, for announcements (see figures)."""
        found = await self._ahead(call_id)
        if found is None:
            return None
        ahead, mine = found
        skill = mine.skills[0]
        serving = sum(
            1 for a in await self.agents()
            if skill in a.skills and a.state not in (AgentState.LOGGED_OUT, AgentState.PAUSED)
        )
        samples = await self._io(self._redis.lrange(self._keys.talk_times(skill), 0, -1))
        return estimated_wait(ahead, serving, [float(_s(x)) for x in samples],
                              self._config.default_handle_seconds,
                              self._config.wrapup_seconds)

    # ------------------------------------------------------------------ recovery

    async def rebuild(self, live: Sequence[LiveChannel]) -> list[Assignment]:
        """Reconcile with a snapshot of Asterisk's channels (after a restart or an AMI
        reconnect) so no agent stays stuck RINGING/ON_CALL and no ghost call waits.

        - an agent Asterisk shows talking/ringing with a call is set so;
        - an agent the distributor thinks is ringing/on a call that Asterisk does not show
          is freed (ringing → READY keeping its idle place; on call → wrap-up);
        - a call the distributor holds but Asterisk no longer has is forgotten (not counted
          as abandoned: when the caller left is unknown);
        - a waiting caller the distributor does not know is put in line (needs ``skills``).
        These steps run with matching held; then every READY agent, longest idle first, takes
        the best call it can serve. Returns those assignments (also given to
        :attr:`on_assignment`). Run it from one instance at a time.
        """
        live_ids = {ch.call_id for ch in live}
        on_agents = {ch.agent_id: ch for ch in live if ch.agent_id}
        by_id = {a.agent_id: a for a in await self.agents()}
        # 1. agents Asterisk shows ringing/talking get exactly that call
        for ch in live:
            if not ch.agent_id:
                continue
            agent = by_id.get(ch.agent_id)
            if agent is None or agent.state is AgentState.LOGGED_OUT:
                log.warning("rebuild: agent %s on %s is not logged in", ch.agent_id,
                            ch.call_id)
                continue
            if agent.current_call != ch.call_id or (
                (agent.state is AgentState.ON_CALL) != ch.answered
            ):
                await self._op(
                    "force_talk", ch.call_id, ch.agent_id, "T" if ch.answered else "R",
                    ch.line, json.dumps(list(ch.skills or ("unknown",))), ch.caller,
                    int(ch.priority), float(ch.waiting_since or self._clock()),
                    ch.department, hold=True)
        # 2. calls Asterisk no longer has are forgotten (their agents freed)
        for call_id in await self._held_calls() - live_ids:
            await self._op("forget_call", call_id, hold=True)
        # 3. agents still ringing/talking by our state but idle in Asterisk are freed
        for a in await self.agents():
            if a.state in (AgentState.RINGING, AgentState.ON_CALL):
                shown = on_agents.get(a.agent_id)
                if shown is None or shown.call_id != a.current_call:
                    await self._op("agent_idle", a.agent_id, hold=True)
        # 4. waiting callers we did not know join the line
        held = await self._held_calls()
        for ch in live:
            if ch.agent_id or ch.call_id in held:
                continue
            if not ch.skills:
                log.warning("rebuild: waiting call %s has no skills; not tracked", ch.call_id)
                continue
            at = ch.waiting_since or self._clock()
            await self._op("enqueue", ch.call_id, ch.line, json.dumps(list(ch.skills)),
                           ch.caller, int(ch.priority), float(at), ch.department, hold=True)
        # 5. now match, once, with the true picture
        return await self._op("rematch")

    async def _held_calls(self) -> set[str]:
        """Ids of every call the distributor holds (waiting, ringing or talking)."""
        members = await self._io(self._redis.smembers(self._keys.calls))
        return {_s(x) for x in members}
