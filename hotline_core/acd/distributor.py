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
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from importlib import resources
from typing import Any

import redis.asyncio as aioredis

from hotline_core.acd import contract
from hotline_core.acd.agents import AgentState
from hotline_core.acd.calls import CallMatch, LiveChannel, WaitingCall
from hotline_core.acd.config import DistributionConfig
from hotline_core.acd.contract import Invocation
from hotline_core.acd.read_models import DistributionView
from hotline_core.acd.routing import skills_for_call
from hotline_core.redis_keys import DEFAULT_NAMESPACE, RedisKeys

log = logging.getLogger(__name__)

_SCRIPT = contract.script_source(
    resources.files("hotline_core.acd").joinpath("assign.lua").read_text("utf-8"))


class DistributionError(Exception):
    """A request the distributor refuses (unknown agent, duplicate call ...)."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code


def _s(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8")
    return str(value)


class Distributor:
    """Call distribution core for one hotline (one ``namespace`` in one Redis).

    Changes state; what it looks like is read through :attr:`view`.
    """

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
        self._settings = contract.encode_settings(config)
        # reconciliation steps run with matching held, then one rematch
        self._settings_hold = contract.encode_settings(config, hold=True)
        self._script = redis.register_script(_SCRIPT)
        self.view = DistributionView(redis, config, self._keys, clock)
        self.on_assignment: Callable[[CallMatch], Awaitable[None]] | None = None

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

    async def _op(self, run: Invocation, *, hold: bool = False) -> list[CallMatch]:
        args = contract.argv(self._keys.prefix, self.events_channel, run.op, self._clock(),
                             self._settings_hold if hold else self._settings, run.encoded())
        raw = await self._io(self._script(keys=[], args=args))
        outcome = contract.decode_result(_s(raw))
        if outcome.warning:
            # A caller who hangs up before being put in line (during the greeting) is
            # abandoned for a call the distributor never held: expected, one per such caller
            # (868 warnings per 10 s under load, issue 14 item 3), so not a warning.
            quiet = run.op is contract.Op.ABANDON and outcome.warning == "unknown call"
            log.log(logging.DEBUG if quiet else logging.WARNING,
                    "acd %s: stale event ignored: %s", run.shown(), outcome.warning)
        if outcome.error:
            raise DistributionError(outcome.error, run.shown())
        for match in outcome.matches:
            log.info("acd assign %s -> %s", match.call_id, match.agent_id)
            if self.on_assignment is not None:
                try:
                    await self.on_assignment(match)
                except Exception:
                    # Redis already holds the decision; the telephony side reports failure
                    # with ring_no_answer (or abandon). One failure must not hide the others.
                    log.exception("on_assignment failed for call %s -> agent %s",
                                  match.call_id, match.agent_id)
        return outcome.matches

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
        await self._op(contract.login(agent_id, skills, group))

    async def agent_logout(self, agent_id: str) -> None:
        """Log out (签出). A call ringing at the agent goes back to the head of its line."""
        await self._op(contract.logout(agent_id))

    async def agent_pause(self, agent_id: str, reason: str) -> None:
        """Pause (示忙) with a reason code. During a call or wrap-up it applies after wrap-up;
        while ringing, the call goes back to the head of its line."""
        await self._op(contract.pause(agent_id, reason))

    async def agent_unpause(self, agent_id: str) -> None:
        """READY again (示闲), idle since now; cancels a pause asked for during a call."""
        await self._op(contract.unpause(agent_id))

    # ------------------------------------------------------------------ calls

    async def enqueue(self, call: WaitingCall) -> CallMatch | None:
        """Put a call in line; assigns it at once if an agent is free."""
        if not call.call_id:
            raise ValueError("call_id: must be non-empty")
        if not call.skills:
            raise ValueError(f"call {call.call_id}: needs at least one skill")
        now = self._clock()
        at = call.enqueued_at or now
        skills = skills_for_call(self._config, call.line, call.skills, at)
        made = await self._op(contract.enqueue(call.call_id, call.line, skills, call.caller,
                                               call.priority, at, call.department))
        for assignment in made:
            if assignment.call_id == call.call_id:
                return assignment
        return None

    async def abandon(self, call_id: str) -> None:
        """The caller hung up while waiting or while an agent's phone rang (呼损)."""
        await self._op(contract.abandon(call_id))

    async def agent_answered(self, call_id: str, agent_id: str) -> None:
        """The agent picked up: RINGING → ON_CALL."""
        await self._op(contract.answered(call_id, agent_id))

    async def call_ended(self, call_id: str, agent_id: str) -> None:
        """The talk ended: ON_CALL → WRAP_UP (READY at once if wrapup_seconds is 0)."""
        await self._op(contract.ended(call_id, agent_id))

    async def ring_no_answer(self, call_id: str, agent_id: str,
                             cause: str = "no answer") -> None:
        """The agent did not answer: agent PAUSED with ``cause``; the call goes back to the
        head of its line (before every call of its priority) and the next agent rings."""
        await self._op(contract.ring_no_answer(call_id, agent_id, cause))

    async def connect_failed(self, call_id: str, agent_id: str, rest_seconds: float) -> None:
        """The caller could not be moved to the ringing agent (the telephony command failed
        or timed out) while the caller still waits: the call goes back to the head of its
        line and rings the next free agent; the agent, not at fault, is WRAP_UP for
        ``rest_seconds`` and then READY (the caller of this method grows it per retry).
        If that agent answers the call while resting (the command did reach the phone
        after all), :meth:`agent_answered` takes the answer."""
        if rest_seconds < 0:
            raise ValueError(f"rest_seconds: must be >= 0, got {rest_seconds}")
        await self._op(contract.connect_failed(call_id, agent_id, rest_seconds))

    async def request_callback(self, call_id: str) -> None:
        """Virtual hold (虚拟排队/回呼): the caller keeps their place and may hang up; the
        assignment for this call will say ``callback=True``. Do not call :meth:`abandon` when
        such a caller hangs up."""
        await self._op(contract.callback(call_id))

    async def advance(self) -> list[CallMatch]:
        """The timer run (计时推进): assign everything assignable now (wrap-up ends,
        overflows due, ...)."""
        return await self._op(contract.advance())

    async def next_wakeup(self) -> float | None:
        """When :meth:`advance` must run next: earliest wrap-up end, overflow time,
        starvation bound (so a caller's place in line, ``place.lua``, rarely has a bound to
        apply itself) or stuck-ring deadline (``no_answer_timeout +
        stuck_ring_grace_seconds``; such an entry may be obsolete — the call was answered —
        and advance then does nothing)."""
        k = self._keys
        pipe = self._redis.pipeline(transaction=False)
        pipe.zrange(k.wrap, 0, 0, withscores=True)
        pipe.zrange(k.overflow, 0, 0, withscores=True)
        pipe.zrange(k.ringing, 0, 0, withscores=True)
        pipe.zrange(k.starving, 0, 0, withscores=True)
        wrap, ovf, ring, starve = await self._io(pipe.execute())
        times = [float(score) for _, score in (*wrap, *ovf, *ring, *starve)]
        return min(times) if times else None

    async def reset_figures(self) -> None:
        """Start the answered/abandoned counters again (e.g. at the start of the day)."""
        await self._op(contract.reset_figures())

    # ------------------------------------------------------------------ recovery

    async def rebuild(self, live: Sequence[LiveChannel]) -> list[CallMatch]:
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
        by_id = {a.agent_id: a for a in await self.view.agents()}
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
                await self._op(contract.force_talk(
                    ch.call_id, ch.agent_id, ch.answered, ch.line,
                    ch.skills or ("unknown",), ch.caller, ch.priority,
                    ch.waiting_since or self._clock(), ch.department), hold=True)
        # 2. calls Asterisk no longer has are forgotten (their agents freed)
        for call_id in await self.view.held_calls() - live_ids:
            await self._op(contract.forget_call(call_id), hold=True)
        # 3. agents still ringing/talking by our state but idle in Asterisk are freed
        for a in await self.view.agents():
            if a.state in (AgentState.RINGING, AgentState.ON_CALL):
                shown = on_agents.get(a.agent_id)
                if shown is None or shown.call_id != a.current_call:
                    await self._op(contract.agent_idle(a.agent_id), hold=True)
        # 4. waiting callers we did not know join the line
        held = await self.view.held_calls()
        for ch in live:
            if ch.agent_id or ch.call_id in held:
                continue
            if not ch.skills:
                log.warning("rebuild: waiting call %s has no skills; not tracked", ch.call_id)
                continue
            at = ch.waiting_since or self._clock()
            await self._op(contract.enqueue(ch.call_id, ch.line, ch.skills, ch.caller,
                                            ch.priority, at, ch.department), hold=True)
        # 5. now match, once, with the true picture
        return await self._op(contract.rematch())
