"""One leader among the core instances (主节点), and which instances are running.

Several core processes may serve one Asterisk. Calls are served by all of them; the
periodic jobs (CDR reconciliation, supervision, figure resets, the campaign dialer, the
order campaigns) must run once, so they run on the instance that holds :class:`LeaderLock`:

* taken with ``SET key holder NX PX ttl`` — only when nobody holds it;
* renewed by its holder only (a Lua script compares the value before ``PEXPIRE``), and
  released by its holder only (compare, then ``DEL``);
* a holder that dies stops renewing: the lock expires after ``ttl`` and a follower,
  trying every ``ttl / 3``, takes it.

:class:`Leadership` runs that loop and says whether this instance leads *now*. A leader
that cannot reach Redis cannot know whether its lock still stands, so it counts its lease
from the moment it *sent* the last successful renew and steps down when that lease ends —
never later than the lock's expiry, so two instances never both think they lead (on one
clock: the instances of one hotline run on one machine, or on machines whose clocks run at
the same rate, which is all the lease needs).

:class:`Presence` is an instance's "I am running" key with an expiry, renewed by the same
loop: other instances judge a dead peer by it (its calls are adopted, ``stack/cluster.py``).
An instance may run and still be unable to serve (``member`` says no: the core's AMI link is
down, so it hears none of its calls' events): then each round withdraws its presence and
gives the lock up, so the others take its calls and its jobs over until it can serve again.

Domain-free: nothing here knows about calls; ``hotline_core/redis_keys.py`` names the keys.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from hotline_core.backoff import Backoff
from hotline_core.timeouts import within

log = logging.getLogger(__name__)

# KEYS[1] = the lock, ARGV[1] = the holder, ARGV[2] = ttl in ms.
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class LeaderLock:
    """A lock with an expiry in Redis (带过期的主节点锁), held by one named holder."""

    def __init__(self, redis: aioredis.Redis, key: str, holder: str, ttl: float) -> None:
        if ttl <= 0:
            raise ValueError("ttl must be positive")
        self._redis = redis
        self.key = key
        self.holder = holder
        self.ttl = ttl
        self._renew = redis.register_script(_RENEW)
        self._release = redis.register_script(_RELEASE)

    @property
    def _ttl_ms(self) -> int:
        return max(1, int(self.ttl * 1000))

    async def acquire(self) -> bool:
        """Take the lock if nobody holds it (``SET NX PX``)."""
        return bool(await self._redis.set(self.key, self.holder, nx=True, px=self._ttl_ms))

    async def renew(self) -> bool:
        """Extend the lock by ``ttl`` — only if this holder still holds it."""
        return bool(await self._renew(keys=[self.key], args=[self.holder, self._ttl_ms]))

    async def release(self) -> bool:
        """Give the lock up — only if this holder holds it (a clean stop: no wait for expiry)."""
        return bool(await self._release(keys=[self.key], args=[self.holder]))

    async def holder_now(self) -> str | None:
        raw = await self._redis.get(self.key)
        if raw is None:
            return None
        return raw.decode() if isinstance(raw, bytes) else str(raw)


class Presence:
    """``key`` = ``name`` with an expiry of ``ttl``: this instance runs (实例存活标记)."""

    def __init__(self, redis: aioredis.Redis, key: str, name: str, ttl: float) -> None:
        self._redis = redis
        self.key = key
        self.name = name
        self.ttl = ttl

    async def beat(self) -> None:
        await self._redis.set(self.key, self.name, px=max(1, int(self.ttl * 1000)))

    async def leave(self) -> None:
        await self._redis.delete(self.key)


class Leadership:
    """The acquire/renew loop of one instance and whether it leads now (主节点租约).

    ``every``: seconds between tries (default ``ttl / 3``). ``presence``: beaten on every
    round too. ``member``: whether this instance can serve now (成员资格; None: always);
    a round in which it cannot withdraws the presence and releases the lock instead.
    :attr:`leading` is set while this instance leads, :attr:`following` while it does not; a
    job that must run on the leader only waits on them (``stack/cluster.py``).
    """

    def __init__(self, lock: LeaderLock, *, every: float | None = None,
                 presence: Presence | None = None,
                 member: Callable[[], bool] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.lock = lock
        self.every = every if every is not None else lock.ttl / 3
        if not 0 < self.every < lock.ttl:
            raise ValueError("the renew interval must be shorter than the lock's ttl")
        self.presence = presence
        self.member = member
        self.withdrawn = False       # the last round found this instance unable to serve
        self.clock = clock
        self.leading = asyncio.Event()
        self.following = asyncio.Event()
        self.following.set()
        self._lease_until = 0.0
        self.terms = 0               # how many times this instance became the leader
        self._redis_lost = Backoff(log, "leader lock (Redis)", first=self.every,
                                   cap=max(self.every, lock.ttl / 2))

    @property
    def is_leader(self) -> bool:
        """Leads now: the lease of its last successful acquire/renew has not ended."""
        return self.leading.is_set() and self.clock() < self._lease_until

    async def step(self) -> bool:
        """One round: beat the presence, acquire (follower) or renew (leader); returns
        whether this instance leads afterwards. Redis errors propagate (the loop backs off)."""
        self._check_lease()
        if self.member is not None and not self.member():
            await self._withdraw()
            return False
        if self.withdrawn:
            log.info("%s can serve again: present and taking part", self.lock.holder)
            self.withdrawn = False
        sent = self.clock()
        timeout = self.lock.ttl / 2
        if self.presence is not None:
            await within(self.presence.beat(), timeout)
        if self.leading.is_set():
            held = await within(self.lock.renew(), timeout)
        else:
            held = await within(self.lock.acquire(), timeout)
        if held:
            self._lease_until = sent + self.lock.ttl
            if not self.leading.is_set():
                self.terms += 1
                log.info("%s leads the periodic jobs now (term %d)", self.lock.holder,
                         self.terms)
                self._set(True)
        elif self.leading.is_set():
            log.warning("%s lost the leader lock (another instance holds it)",
                        self.lock.holder)
            self._set(False)
        return self.leading.is_set()

    async def _withdraw(self) -> None:
        """Unable to serve: the others must not wait for the presence or the lock to
        expire — both go now (again every round, in case a write was lost)."""
        if not self.withdrawn:
            log.warning("%s cannot serve now: presence withdrawn%s", self.lock.holder,
                        ", leader lock released" if self.leading.is_set() else "")
            self.withdrawn = True
        was = self.leading.is_set()
        self._set(False)
        timeout = self.lock.ttl / 2
        if was:
            await within(self.lock.release(), timeout)
        if self.presence is not None:
            await within(self.presence.leave(), timeout)

    def _check_lease(self) -> None:
        if self.leading.is_set() and self.clock() >= self._lease_until:
            log.warning("%s steps down: its leader lease ran out without a renew",
                        self.lock.holder)
            self._set(False)

    def _set(self, leading: bool) -> None:
        if leading:
            self.following.clear()
            self.leading.set()
        else:
            self.leading.clear()
            self.following.set()

    async def run(self) -> None:
        """Every :attr:`every` seconds until cancelled; a lost Redis backs off (logged once)
        and the leader steps down when its lease ends meanwhile."""
        while True:
            try:
                await self.step()
                self._redis_lost.succeeded()
                pause = self.every
            except (RedisError, OSError, TimeoutError) as exc:
                pause = self._redis_lost.failed(exc)
                # The lease may end during the pause: step down in time, not after it.
                if self.leading.is_set():
                    pause = max(0.0, min(pause, self._lease_until - self.clock()))
                self._check_lease()
            await asyncio.sleep(pause)

    async def resign(self) -> None:
        """On a clean stop: release the lock (a follower takes over at once) and the presence."""
        was = self.leading.is_set()
        self._set(False)
        try:
            if was:
                await within(self.lock.release(), self.lock.ttl / 2)
            if self.presence is not None:
                await within(self.presence.leave(), self.lock.ttl / 2)
        except (RedisError, OSError, TimeoutError) as exc:
            log.warning("%s could not release the leader lock (%s); it expires by itself",
                        self.lock.holder, exc.__class__.__name__)
