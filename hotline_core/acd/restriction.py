"""Restriction list (限制呼入名单, R-RESTRICT).

A caller who harasses, insults or threatens staff is restricted from the hotline for a
number of natural days (30 by the huizhou rule; the length is the caller's choice here, from
the rule preset). An entry ends by itself: its expiry time is checked on every look-up
against the injected clock, and Redis drops the key (TTL) a day after that as housekeeping.
Every hit (a restricted number calling) is logged, and every restriction and lift is
written to an audit stream that is never trimmed. Logs show numbers masked (脱敏).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

from hotline_core.masking import mask_phone
from hotline_core.phone_numbers import canonical_number
from hotline_core.redis_batch import RedisBatch, Slot
from hotline_core.redis_keys import DEFAULT_NAMESPACE, RedisKeys

log = logging.getLogger(__name__)

_DAY = 86_400.0


@dataclass(frozen=True)
class Restriction:
    """One restricted number: who restricted it, why, from when until when."""

    number: str
    reason: str
    by: str
    since: float
    until: float


@dataclass(frozen=True)
class AuditEntry:
    """An audited action on the list: ``restrict`` or ``lift``."""

    action: str
    number: str
    by: str
    reason: str
    at: float
    until: float | None = None


@dataclass(frozen=True)
class RestrictionHit:
    """A restricted number that called (logged on every :meth:`is_restricted` match)."""

    number: str
    at: float
    reason: str


class RestrictionList:
    """The restriction list of one hotline namespace."""

    def __init__(self, redis: aioredis.Redis, namespace: str = DEFAULT_NAMESPACE,
                 clock: Callable[[], float] = time.time, timeout: float = 2.0,
                 hits_kept: int = 100_000) -> None:
        self._redis = redis
        self._keys = RedisKeys(namespace).restrictions
        self._clock = clock
        self._timeout = timeout
        self._hits_kept = hits_kept

    async def _io(self, awaitable: Awaitable[Any]) -> Any:
        async with asyncio.timeout(self._timeout):
            return await awaitable

    async def restrict(self, number: str, reason: str, by: str, days: int = 30) -> Restriction:
        """Restrict ``number`` for ``days`` natural days, counted as days × 24 h from now
        (calendar days, weekends and holidays included); renews an existing entry."""
        if not number:
            raise ValueError("number: must be non-empty")
        # Kept in canonical form: "+86…" and "0086…" of the same caller are one entry.
        number = canonical_number(number)
        if not reason or not by:
            raise ValueError("reason and by: a restriction must say why and who")
        if days <= 0:
            raise ValueError(f"days: must be > 0, got {days}")
        now = self._clock()
        entry = Restriction(number, reason, by, now, now + days * _DAY)
        pipe = self._redis.pipeline(transaction=True)
        pipe.set(self._keys.number(number), json.dumps(entry.__dict__),
                 ex=int(days * _DAY + _DAY))
        pipe.xadd(self._keys.audit, {"e": json.dumps(AuditEntry(
            "restrict", number, by, reason, now, entry.until).__dict__)})
        await self._io(pipe.execute())
        log.info("restricted %s until %s by %s: %s", mask_phone(number), entry.until, by, reason)
        return entry

    async def restriction_of(self, number: str) -> Restriction | None:
        """The live restriction of ``number``, or None; nothing is logged (a look-up by
        staff, e.g. the agent's screen pop, is not a call from the number)."""
        return self._live(await self._io(self._redis.get(self._keys.number(
            canonical_number(number)))))

    async def is_restricted(self, number: str) -> Restriction | None:
        """The live restriction of ``number`` calling, or None; a hit is logged."""
        entry = await self.restriction_of(number)
        if entry is not None:
            await self.refused(number, entry)
        return entry

    def look_up_in(self, batch: RedisBatch, number: str) -> Slot[Restriction | None]:
        """Queue the look-up of ``number`` calling on ``batch`` (the call's other arrival
        commands share its round trip); the slot holds the live restriction or None. A hit
        is then told with :meth:`refused`, as :meth:`is_restricted` does."""
        batch.pipe.get(self._keys.number(canonical_number(number)))
        return batch.add(1, lambda replies: self._live(replies[0]))

    async def refused(self, number: str, entry: Restriction) -> None:
        """A restricted number called: the hit is streamed and logged (masked)."""
        number = canonical_number(number)
        hit = RestrictionHit(number, self._clock(), entry.reason)
        await self._io(self._redis.xadd(self._keys.hits, {"e": json.dumps(hit.__dict__)},
                                        maxlen=self._hits_kept, approximate=True))
        log.info("restricted caller %s refused (%s)", mask_phone(number), entry.reason)

    def _live(self, raw: Any) -> Restriction | None:
        """A stored entry still in force (its end is checked against the clock)."""
        if raw is None:
            return None
        entry = Restriction(**json.loads(raw))
        return entry if entry.until > self._clock() else None

    async def lift(self, number: str, by: str, reason: str) -> bool:
        """End a restriction early; audited. False if the number was not restricted."""
        if not by or not reason:
            raise ValueError("by and reason: lifting a restriction must say who and why")
        number = canonical_number(number)
        key = self._keys.number(number)
        raw = await self._io(self._redis.get(key))
        live = raw is not None and Restriction(**json.loads(raw)).until > self._clock()
        pipe = self._redis.pipeline(transaction=True)
        pipe.delete(key)
        pipe.xadd(self._keys.audit, {"e": json.dumps(AuditEntry(
            "lift", number, by, reason, self._clock()).__dict__)})
        await self._io(pipe.execute())
        return live

    async def audit(self) -> list[AuditEntry]:
        """Every restrict and lift, oldest first."""
        rows = await self._io(self._redis.xrange(self._keys.audit))
        return [AuditEntry(**json.loads(_text(f[_key(f)]))) for _, f in rows]

    async def hits(self) -> list[RestrictionHit]:
        """Logged hits, oldest first (the most recent ``hits_kept``)."""
        rows = await self._io(self._redis.xrange(self._keys.hits))
        return [RestrictionHit(**json.loads(_text(f[_key(f)]))) for _, f in rows]


def _key(fields: dict[Any, Any]) -> Any:
    return "e" if "e" in fields else b"e"


def _text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)
