"""Several core instances on one Asterisk, all active (多核心实例): which instance handles
which call's AMI events, which one runs the periodic jobs, and what happens when one dies.

``[core] instances = N`` (stack/settings.py): ``hotline up`` starts N core processes;
instance ``i`` is named ``core-<i>`` and serves FastAGI on ``agi.port + i``; they share the
HTTP port (SO_REUSEPORT: the kernel spreads connections, one address for the operator).

* **Calls**: the dialplan's ``[hotline-agi]`` starts the FastAGI calls at the instances in
  turn and tries the next one when it refuses (ivr/dialplan.py). The instance whose
  ``inbound`` flow registered a call owns it (``LiveCall.owner``): every instance receives
  every AMI event, only the owner handles the call's events (:meth:`Cluster.owns`).
* **Who is alive**: each instance beats its presence key (expiry ``core_dead_after``)
  with every leader-lock round (``hotline_core/leader.py``).
* **A dead owner**: an event of a call whose owner's presence has expired is handled by the
  instance that sees it, which first takes the call over (an atomic compare-and-set of the
  owner, ``LiveCalls.adopt``). The leader also sweeps the live calls every lock round,
  adopts every call of a dead owner and settles it from Asterisk's channels
  (:func:`settle_adopted`: a hang-up or an answer in the seconds before the owner's
  presence expired, which nobody handled).
* **Periodic jobs** run on the leader only (:meth:`Cluster.while_leader`): started when the
  instance becomes the leader, cancelled when it stops being one.
* **An instance that cannot hear Asterisk** (``member``: its AMI link is down) counts as not
  running: each lock round withdraws its presence and releases the lead, so a live leader
  adopts its calls and settles them from Asterisk's channels, and handles their events from
  then on (an outage longer than the stuck-ring deadline would otherwise turn an answer
  nobody heard into a ring "not answered" and offer the call to a second agent). Back on
  AMI it is present again; its calls stay with whoever adopted them.

With one instance (the default) none of this runs: every call is its own and every job
runs, as before.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, cast

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from hotline_core.backoff import Backoff
from hotline_core.leader import LeaderLock, Leadership, Presence
from hotline_core.redis_keys import RedisKeys
from hotline_core.timeouts import cancel_and_wait, within
from ivr.ami import AmiClient
from ivr.call_events import agent_of
from ivr.campaign import CampaignEngine, channels_now
from ivr.live_calls import LiveCall, LiveCalls
from ivr.records import AsyncCallLog
from ivr.resync import channel_snapshot

log = logging.getLogger("hotline.cluster")


def core_name(index: int) -> str:
    """``core-<index>``: an instance's name in logs, the leader lock and ``LiveCall.owner``."""
    return f"core-{index}"


class Cluster:
    """This instance's part in a group of ``instances`` core processes."""

    def __init__(self, redis: aioredis.Redis, keys: RedisKeys, index: int, instances: int,
                 ttl: float, every: float, member: Callable[[], bool] | None = None) -> None:
        self.redis = redis
        self.keys = keys
        self.index = index
        self.instances = instances
        self.name = core_name(index)
        self.ttl = ttl
        # The lock's value names the process too: a restarted instance is not its dead
        # predecessor and waits for that one's lock to expire.
        holder = f"{self.name}/{os.getpid()}"
        self.leadership = Leadership(
            LeaderLock(redis, keys.core_leader, holder, ttl), every=every,
            presence=Presence(redis, keys.core_alive(self.name), holder, ttl), member=member)
        self._alive_seen: dict[str, tuple[float, bool]] = {}   # name -> (when, alive)
        self.adopted = 0

    @property
    def several(self) -> bool:
        return self.instances > 1

    def leads(self) -> bool:
        """This instance runs the periodic jobs now (always, with one instance)."""
        return not self.several or self.leadership.is_leader

    # -- which instance is alive ---------------------------------------------------------
    async def alive(self, name: str) -> bool:
        """Instance ``name``'s presence stands (asked at most once per lock round)."""
        if name == self.name:
            return True
        now = time.monotonic()
        seen = self._alive_seen.get(name)
        if seen is not None and now - seen[0] < self.leadership.every:
            return seen[1]
        alive = bool(await self.redis.exists(self.keys.core_alive(name)))
        self._alive_seen[name] = (now, alive)
        return alive

    async def others_alive(self) -> list[str]:
        names = [core_name(i) for i in range(self.instances) if i != self.index]
        return [n for n in names if await self.alive(n)]

    # -- calls --------------------------------------------------------------------------
    async def owns(self, call: LiveCall, live: LiveCalls) -> bool:
        """Whether this instance handles ``call``'s AMI events: its own, one with no owner
        (registered with one instance), or one whose owner died — taken over first."""
        if not self.several or not call.owner or call.owner == self.name:
            return True
        if await self.alive(call.owner):
            return False
        if await live.adopt(call.call_id, call.owner, self.name):
            self.adopted += 1
            log.info("%s took over call %s from %s (no longer running)", self.name,
                     call.call_id, call.owner)
            return True
        # Someone else adopted it meanwhile: it is this instance's only if that was us.
        now = await live.get(call.call_id)
        return now is not None and now.owner == self.name

    async def own_calls(self, live: LiveCalls) -> list[str]:
        """The live calls this instance owns (to settle after its AMI connection was away:
        the others skipped their events meanwhile)."""
        return [c.call_id for c in await live.all() if c.owner == self.name]

    async def adopt_orphans(self, live: LiveCalls) -> list[str]:
        """Every live call whose owner is no longer running becomes this instance's."""
        taken = []
        for call in await live.all():
            if call.owner and call.owner != self.name and not await self.alive(call.owner) \
                    and await live.adopt(call.call_id, call.owner, self.name):
                taken.append(call.call_id)
        if taken:
            self.adopted += len(taken)
            log.warning("%s took over %d call(s) of instance(s) no longer running",
                        self.name, len(taken))
        return taken

    async def run_adoption(self, live: LiveCalls,
                           settle: Callable[[list[str]], Awaitable[object]]) -> None:
        """The leader's sweep, every lock round: adopt orphaned calls, then ``settle``
        them (:func:`settle_adopted`). A failed sweep is tried again, backing off."""
        failing = Backoff(log, "orphaned calls sweep", first=self.leadership.every,
                          cap=max(self.leadership.every, 30.0))
        pending: list[str] = []        # adopted, not yet settled
        while True:
            pause = self.leadership.every
            try:
                pending += await self.adopt_orphans(live)
                if pending:
                    await settle(pending)
                    pending = []
                failing.succeeded()
            except Exception as exc:  # noqa: BLE001 - one bad sweep must not stop the next
                pause = failing.failed(exc, expected=isinstance(exc, RedisError | OSError
                                                                | TimeoutError))
            await asyncio.sleep(pause)

    # -- periodic jobs ------------------------------------------------------------------
    async def while_leader(self, name: str,
                           job: Callable[[], Coroutine[Any, Any, Any]]) -> None:
        """Run ``job()`` while this instance leads: started on becoming the leader,
        cancelled on stepping down, started again on the next term. A job that ends or
        fails is started again after a growing pause while the instance still leads."""
        if not self.several:
            await job()
            return
        leadership = self.leadership
        failing = Backoff(log, f"leader job {name}", first=1.0, cap=30.0)
        while True:
            await leadership.leading.wait()
            task: asyncio.Task[Any] = asyncio.create_task(job(), name=f"leader-{name}")
            lost = asyncio.create_task(leadership.following.wait())
            await asyncio.wait({task, lost}, return_when=asyncio.FIRST_COMPLETED)
            lost.cancel()
            if not task.done():
                # Must have ended before a new leader may start it: cancelled until it has.
                await cancel_and_wait([task])
                log.info("%s: %s stopped (no longer the leader)", self.name, name)
                continue
            exc = task.exception() if not task.cancelled() else None
            pause = failing.failed(exc or RuntimeError(f"{name} ended"),
                                   expected=exc is None)
            await asyncio.sleep(pause)

    def owner_check(self, live: LiveCalls) -> Callable[[LiveCall], Awaitable[bool]] | None:
        """The event bridge's ``owns`` (None with one instance: every call is its own)."""
        if not self.several:
            return None

        async def owns(call: LiveCall) -> bool:
            return await self.owns(call, live)
        return owns

    def if_leader(self, observer: Callable[[Any], Awaitable[None]]
                  ) -> Callable[[Any], Awaitable[None]]:
        """An AMI event observer that acts on the leader only (the dialer's attempts)."""
        if not self.several:
            return observer

        async def observe(event: Any) -> None:
            if self.leads():
                await observer(event)
        return observe

    async def last_instance(self) -> bool:
        """No other instance runs (or Redis cannot say): on a clean stop, waiting callers
        go to the fallback queue at once; with another running, it beats for them."""
        if not self.several:
            return True
        try:
            return not await within(self.others_alive(), 2)
        except (RedisError, OSError, TimeoutError):
            return True

    async def resign(self) -> None:
        if self.several:
            await self.leadership.resign()


async def leader_dialer(cluster: Cluster, ami: AmiClient | None,
                        campaigns: CampaignEngine) -> None:
    """The campaign dialer; with several instances a new leader first settles the attempts
    its predecessor had in flight (as a core does on its AMI login)."""
    if cluster.several and ami is not None and ami.connected:
        await campaigns.reconcile(await channels_now(ami))
    await campaigns.run()


async def settle_adopted(ami: AmiClient, live: LiveCalls, calls: AsyncCallLog, owner: str,
                         call_ids: list[str]) -> int:
    """What happened to adopted calls while nobody handled their events (the owner had died,
    its presence not yet expired), read from Asterisk's channels and handed to the event
    bridge as the events it missed — queued behind the live ones, so the bridge handles them
    in its one loop: a caller channel that is gone → ``Hangup``; an agent leg up on a call
    whose record has no answer → ``DialEnd`` ANSWER. Only these calls are looked at: no
    re-sync of the whole line, which could forget a caller another instance is registering
    at that moment. Returns how many events were queued."""
    channels = await channel_snapshot(ami)
    present = {ch.get("Uniqueid", "") for ch in channels}
    agent_legs = {ch.get("Linkedid", ""): ch for ch in channels
                  if agent_of(ch.get("Channel", "")) and ch.get("ChannelStateDesc") == "Up"}
    missed: list[dict[str, str]] = []
    for call_id in call_ids:
        call = await live.get(call_id)
        if call is None or call.callback or call.owner != owner:
            continue
        if call_id not in present:
            missed.append({"Event": "Hangup", "Uniqueid": call_id, "Cause": ""})
            continue
        leg = agent_legs.get(call_id)
        record = await calls.get(call_id) if leg is not None else None
        if leg is not None and record is not None and record.answered_at is None:
            missed.append({"Event": "DialEnd", "Uniqueid": call_id, "DialStatus": "ANSWER",
                           "DestChannel": leg.get("Channel", "")})
    for event in missed:
        ami.events.put_nowait(cast(Any, event))
    if missed:
        log.warning("%s: %d event(s) of adopted calls settled from Asterisk's channels",
                    owner, len(missed))
    return len(missed)
