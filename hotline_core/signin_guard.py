"""Sign-in throttles for people (登录限制), shared by every core through Redis.

Two things a user table alone cannot do:

* attempts per client address per minute (``[signin] attempts_per_minute``), counted in
  Redis in fixed clock minutes so that two cores behind one address share the count;
* a lock-out for user names that do NOT exist, with the same rule as for real accounts
  (``max_failures`` wrong tries in a row lock the name for ``lock_minutes``). Without it a
  423 "locked" answer would appear only for real accounts and tell an attacker which names
  exist. The name is kept only as a digest; its failure count lives as long as the lock
  would.

When Redis cannot be reached the same rules run on this process's own memory (logged once
per outage): sign-in keeps working, the counts are per process until Redis is back.
"""

from __future__ import annotations

import hashlib
import logging
from collections import OrderedDict
from datetime import UTC, datetime, timedelta

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from hotline_core.redis_keys import DEFAULT_NAMESPACE, RedisKeys

log = logging.getLogger(__name__)

MEMORY_ENTRIES = 10_000     # names/addresses the fallback keeps at once (oldest forgotten)


def _digest(name: str) -> str:
    return hashlib.sha256(name.casefold().encode("utf-8")).hexdigest()[:32]


class _Memory:
    """The fallback store: counters and unknown-name states of this process only."""

    def __init__(self) -> None:
        self.counts: OrderedDict[str, int] = OrderedDict()
        self.unknown: OrderedDict[str, tuple[int, datetime | None, datetime]] = OrderedDict()

    def incr(self, key: str) -> int:
        value = self.counts.pop(key, 0) + 1
        self.counts[key] = value
        while len(self.counts) > MEMORY_ENTRIES:
            self.counts.popitem(last=False)
        return value

    def put(self, digest: str, state: tuple[int, datetime | None, datetime]) -> None:
        self.unknown.pop(digest, None)
        self.unknown[digest] = state
        while len(self.unknown) > MEMORY_ENTRIES:
            self.unknown.popitem(last=False)


class SigninGuard:
    """Attempts per address and the lock-out of unknown names (see the module docstring)."""

    def __init__(self, redis: aioredis.Redis | None, namespace: str = DEFAULT_NAMESPACE) -> None:
        self._redis = redis
        self._keys = RedisKeys(namespace).signin
        self._memory = _Memory()
        self._redis_lost = False

    async def allow_attempt(self, address: str, per_minute: int, now: datetime) -> bool:
        """Count one attempt from ``address``; False once the minute's count is over."""
        minute = int(now.timestamp()) // 60
        key = self._keys.attempts(address, minute)
        count = await self._redis_incr(key)
        if count is None:
            count = self._memory.incr(key)
        return count <= per_minute

    async def unknown_name_locked(self, name: str, now: datetime) -> datetime | None:
        """Until when a name that does not exist answers "locked", or None."""
        _failures, until = await self._read(_digest(name), now)
        return until if until is not None and until > now else None

    async def unknown_name_failed(self, name: str, max_failures: int, lock_minutes: int,
                                  now: datetime) -> datetime | None:
        """One more wrong try for a name that does not exist; the lock's end when this try
        locks it (exactly as a real account's ``max_failures``-th wrong password does)."""
        digest = _digest(name)
        failures, _until = await self._read(digest, now)
        failures += 1
        until = None
        if failures >= max_failures:
            failures, until = 0, now + timedelta(minutes=lock_minutes)
        await self._write(digest, failures, until, now + timedelta(minutes=lock_minutes))
        return until

    async def _read(self, digest: str, now: datetime) -> tuple[int, datetime | None]:
        fields = await self._redis_call("hgetall", self._keys.unknown_name(digest))
        if isinstance(fields, dict):
            self._memory.unknown.pop(digest, None)
            until_text = fields.get(b"until", b"").decode() or None
            return (int(fields.get(b"failures", b"0")),
                    datetime.fromisoformat(until_text) if until_text else None)
        failures, until, expires = self._memory.unknown.get(digest, (0, None, now))
        return (failures, until) if expires > now else (0, None)

    async def _write(self, digest: str, failures: int, until: datetime | None,
                     expires: datetime) -> None:
        ttl = max(1, int((expires - datetime.now(UTC)).total_seconds()) + 1)
        key = self._keys.unknown_name(digest)
        items = ["failures", str(failures), "until", until.isoformat() if until else ""]
        if self._redis is not None:
            try:
                async with self._redis.pipeline(transaction=True) as pipe:
                    pipe.hset(key, items=items)
                    pipe.expire(key, ttl)
                    await pipe.execute()
                self._back()
                return
            except (RedisError, OSError, TimeoutError) as exc:
                self._lost(exc)
        self._memory.put(digest, (failures, until, expires))

    async def _redis_incr(self, key: str) -> int | None:
        if self._redis is None:
            return None
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.incr(key)
                pipe.expire(key, 120)       # the minute plus slack: then it is gone
                count, _ = await pipe.execute()
            self._back()
            return int(count)
        except (RedisError, OSError, TimeoutError) as exc:
            self._lost(exc)
            return None

    async def _redis_call(self, method: str, key: str) -> object:
        if self._redis is None:
            return None
        try:
            result: object = await getattr(self._redis, method)(key)
            self._back()
            return result
        except (RedisError, OSError, TimeoutError) as exc:
            self._lost(exc)
            return None

    def _lost(self, exc: BaseException) -> None:
        if not self._redis_lost:
            log.warning("sign-in throttles: Redis unreachable (%s); counting in this process "
                        "until it is back", type(exc).__name__)
        self._redis_lost = True

    def _back(self) -> None:
        if self._redis_lost:
            log.info("sign-in throttles: Redis reachable again")
        self._redis_lost = False
