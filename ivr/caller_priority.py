"""Which priority a caller gets in the waiting line (优先接入).

Three facts raise a caller (R-EMERG, R-ELDERLY, R-PRIORITY-SUPERVISION), the levels come
from the distribution config:
- the call was transferred from 110/119/120/122 (the carrier or the emergency centre sets
  the SIP header ``X-Hotline-Transfer-From``);
- the caller is flagged as needing help (elderly, dialect) by an agent or supervisor;
- the caller has an open overdue work order (looked up through ``overdue_lookup``).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import redis.asyncio as aioredis

from hotline_core.acd.config import Priorities
from hotline_core.phone_numbers import canonical_number

log = logging.getLogger(__name__)

EMERGENCY_LINES = frozenset({"110", "119", "120", "122"})

OverdueLookup = Callable[[str], Awaitable[bool]]


class CallerFlags:
    """Numbers flagged as needing help (需要帮扶的来电人), kept in Redis."""

    def __init__(self, redis: aioredis.Redis, namespace: str = "hotline") -> None:
        self._redis = redis
        self._key = f"{namespace}:callers:needs-help"

    # Numbers are kept in their canonical form, whatever form the agent typed or the
    # carrier sent.
    async def flag(self, number: str, reason: str) -> None:
        await self._redis.hset(self._key, canonical_number(number), reason)

    async def unflag(self, number: str) -> bool:
        return bool(await self._redis.hdel(self._key, canonical_number(number)))

    async def needs_help(self, number: str) -> bool:
        return bool(await self._redis.hexists(self._key, canonical_number(number)))


class CallerPriority:
    def __init__(self, priorities: Priorities, flags: CallerFlags,
                 overdue_lookup: OverdueLookup | None = None) -> None:
        self._priorities = priorities
        self._flags = flags
        self._overdue = overdue_lookup

    async def of(self, caller: str, transferred_from: str = "") -> int:
        overdue = False
        if self._overdue is not None:
            try:
                overdue = await self._overdue(caller)
            except Exception:  # a slow or broken lookup must never block the caller
                log.exception("overdue work-order lookup failed for a caller")
        return self._priorities.for_caller(
            emergency_transfer=transferred_from in EMERGENCY_LINES,
            overdue_order=overdue,
            needs_help=await self._flags.needs_help(caller),
        )
