"""Which priority a caller gets in the waiting line (优先接入).

Three facts raise a caller (R-EMERG, R-ELDERLY, R-PRIORITY-SUPERVISION), the levels come
from the distribution config:
- the call was passed in by 110/119/120/122 over the centre's own trunk (known by its
  source address, ``transferred_from`` = the centre's number; no header counts);
- the caller is flagged as needing help (elderly, dialect) by an agent or supervisor;
- the caller has an open overdue work order (超期工单): :class:`OverdueOrders` looks in the
  work-order store for an order from the caller's number that a unit is still working on
  and whose deadline has passed.

A lookup that fails or takes longer than its timeout never holds the caller up: the call
is queued without that raise, and the failure is logged once until a lookup works again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

import redis.asyncio as aioredis
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hotline_core.acd.config import Priorities
from hotline_core.backoff import Backoff
from hotline_core.phone_numbers import UNKNOWN, canonical_number
from hotline_core.redis_keys import DEFAULT_NAMESPACE, RedisKeys
from hotline_core.workorders.desk import working_statuses
from hotline_core.workorders.model import WorkOrder

log = logging.getLogger(__name__)

EMERGENCY_LINES = frozenset({"110", "119", "120", "122"})

OverdueLookup = Callable[[str], Awaitable[bool]]


class CallerFlags:
    """Numbers flagged as needing help (需要帮扶的来电人), kept in Redis."""

    def __init__(self, redis: aioredis.Redis, namespace: str = DEFAULT_NAMESPACE) -> None:
        self._redis = redis
        self._key = RedisKeys(namespace).callers_needing_help

    # Numbers are kept in their canonical form, whatever form the agent typed or the
    # carrier sent.
    async def flag(self, number: str, reason: str) -> None:
        await self._redis.hset(self._key, canonical_number(number), reason)

    async def unflag(self, number: str) -> bool:
        return bool(await self._redis.hdel(self._key, canonical_number(number)))

    async def needs_help(self, number: str) -> bool:
        return bool(await self._redis.hexists(self._key, canonical_number(number)))


class OverdueOrders:
    """Does this caller have an open overdue work order? (the ``overdue_order`` priority)

    Open: a unit is working on it (:func:`working_statuses`); overdue: its deadline
    (``due_at``) is at or before the desk clock's ``now()``, the same instant the lights
    and supervision use. Orders keep the number as it was recorded, so the canonical form
    (:func:`canonical_number`), its ``+86`` form and the number as the carrier sent it are
    all looked for. The work-order store is synchronous (SQLAlchemy): the query runs in a
    worker thread, bounded by ``timeout`` seconds.
    """

    def __init__(self, sessions: sessionmaker[Session], now: Callable[[], datetime],
                 timeout: float = 1.0) -> None:
        self._sessions = sessions
        self._now = now
        self._timeout = timeout

    async def __call__(self, caller: str) -> bool:
        number = canonical_number(caller)
        if number == UNKNOWN:
            return False
        forms = {number, caller.strip()}
        if number.isdigit():
            forms.add(f"+86{number.lstrip('0')}")
        async with asyncio.timeout(self._timeout):
            return await asyncio.to_thread(self._lookup, sorted(forms))

    def _lookup(self, forms: list[str]) -> bool:
        with self._sessions() as session:
            found = session.execute(
                select(WorkOrder.id).where(WorkOrder.caller_number.in_(forms),
                                           WorkOrder.status.in_(working_statuses()),
                                           WorkOrder.due_at <= self._now()).limit(1)
            ).first()
        return found is not None


class CallerPriority:
    def __init__(self, priorities: Priorities, flags: CallerFlags,
                 overdue_lookup: OverdueLookup | None = None) -> None:
        self._priorities = priorities
        self._flags = flags
        self._overdue = overdue_lookup
        # Logs a failing lookup once per outage (no retry: the next caller is the next try).
        self._overdue_outage = Backoff(log, "overdue work-order lookup failing (callers are "
                                            "queued without the overdue-order priority)")

    async def of(self, caller: str, transferred_from: str = "") -> int:
        overdue = False
        if self._overdue is not None:
            try:
                overdue = await self._overdue(caller)
            except Exception as exc:  # a slow or broken lookup must never block the caller
                self._overdue_outage.failed(exc)
            else:
                self._overdue_outage.succeeded()
        return self._priorities.for_caller(
            emergency_transfer=transferred_from in EMERGENCY_LINES,
            overdue_order=overdue,
            needs_help=await self._flags.needs_help(caller),
        )
