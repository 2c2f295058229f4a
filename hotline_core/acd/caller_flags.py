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
import math
import re
from collections import deque
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from functools import lru_cache
from typing import NamedTuple

import redis.asyncio as aioredis
from sqlalchemy import Engine, Select, String, bindparam, literal_column, select

from hotline_core.acd.config import Priorities
from hotline_core.backoff import Backoff
from hotline_core.clock import UtcDateTime
from hotline_core.phone_numbers import UNKNOWN, canonical_number
from hotline_core.redis_batch import RedisBatch, Slot
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

    def needs_help_in(self, batch: RedisBatch, number: str) -> Slot[bool]:
        """:meth:`needs_help`, queued on a call's arrival batch (one round trip for all)."""
        batch.pipe.hexists(self._key, canonical_number(number))
        return batch.add(1, lambda replies: bool(replies[0]))


# The statements' sizes: how many number forms one query looks for. A caller brings at
# most three forms; a query carries every caller waiting when it starts, padded up to the
# next size so that each size is compiled once (SQLAlchemy's compiled cache) and an IN list
# is never re-rendered per call.
QUERY_SIZES = (4, 8, 16, 32, 64, 128)
MAX_FORMS_PER_QUERY = QUERY_SIZES[-1]
_FORM_NAMES = tuple(f"form{i}" for i in range(MAX_FORMS_PER_QUERY))
_STATUS_WORD = re.compile(r"[a-z_]+")
_DROP_ANSWERED_AT = 4096


@lru_cache(maxsize=4096)
def number_forms(caller: str) -> tuple[str, ...]:
    """The forms an order may have kept the caller's number in: canonical, ``+86`` and as
    sent; none for a caller without a number."""
    number = canonical_number(caller)
    if number == UNKNOWN:
        return ()
    forms = {number, caller.strip()}
    if number.isdigit():
        forms.add(f"+86{number.lstrip('0')}")
    return tuple(sorted(forms))


def overdue_numbers_statement(size: int) -> Select[str]:
    """Which of ``size`` numbers (binds ``form0``…) have an open order due at or before
    ``now``. The working statuses are written into the SQL as constants (they are the
    code's own words, checked here), so the statement has fixed binds only."""
    statuses = sorted(working_statuses())
    if not all(_STATUS_WORD.fullmatch(s) for s in statuses):
        raise ValueError(f"unexpected work-order status words: {statuses}")
    return (select(WorkOrder.caller_number).distinct()
            .where(WorkOrder.caller_number.in_(
                       [bindparam(name, type_=String) for name in _FORM_NAMES[:size]]),
                   WorkOrder.status.in_([literal_column(f"'{s}'") for s in statuses]),
                   WorkOrder.due_at <= bindparam("now", type_=UtcDateTime)))


class _Waiting(NamedTuple):
    forms: tuple[str, ...]
    answer: asyncio.Future[bool]


def _expire(answer: asyncio.Future[bool]) -> None:
    if not answer.done():
        answer.set_exception(TimeoutError("no answer from the work-order store in time"))


class OverdueOrders:
    """Does this caller have an open overdue work order (超期工单)? (the ``overdue_order``
    priority)

    Open: a unit is working on it (:func:`working_statuses`); overdue: its deadline
    (``due_at``) is at or before the desk clock's ``now()``, the same instant the lights
    and supervision use. Orders keep the number as it was recorded, so the canonical form
    (:func:`canonical_number`), its ``+86`` form and the number as the carrier sent it are
    all looked for. The work-order store is synchronous (SQLAlchemy): the query runs in a
    worker thread (named ``overdue-orders``), bounded by ``timeout`` seconds per caller.

    Lookups are coalesced: one query is in the thread at a time; callers who arrive
    meanwhile wait, and the next query answers all of them at once (which of their numbers
    have such an order). A caller who arrives with no query running starts one at once,
    unless the previous caller came less than ``gather`` seconds before (the hotline is
    busy): then the query waits ``gather`` seconds for the callers about to come. So at low
    load each query carries one caller and nothing waits; at 150 calls/s a query carries
    several (the lookup runs while the greeting plays: a few ms more cost nothing, each
    thread hop costs CPU). A failing query fails the callers it carried, no others; a
    caller who times out leaves the others' answers alone.
    """

    def __init__(self, engine: Engine, now: Callable[[], datetime],
                 timeout: float = 1.0, gather: float = 0.025) -> None:
        self._engine = engine
        self._now = now
        self._timeout = timeout
        self._gather = gather
        self._last_arrival = -math.inf
        self._gathering: asyncio.TimerHandle | None = None
        self._statements = {size: overdue_numbers_statement(size) for size in QUERY_SIZES}
        self._waiting: deque[_Waiting] = deque()
        self._querying = False
        # One thread: queries never overlap, and its CPU shows by name in /proc.
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="overdue-orders")

    @property
    def callers_waiting(self) -> int:
        """Callers queued for the next query (not those the running one carries)."""
        return len(self._waiting)

    async def __call__(self, caller: str) -> bool:
        forms = number_forms(caller)
        if not forms:
            return False
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[bool] = loop.create_future()
        if len(self._waiting) >= _DROP_ANSWERED_AT:   # a store that hangs: keep the queue small
            self._waiting = deque(w for w in self._waiting if not w.answer.done())
        self._waiting.append(_Waiting(forms, answer))
        previous, self._last_arrival = self._last_arrival, loop.time()
        if not self._querying and self._gathering is None:
            if self._last_arrival - previous < self._gather:
                self._gathering = loop.call_later(self._gather, self._gathered, loop)
            else:
                self._query_next(loop)
        # A timer, not asyncio.timeout: the same bound at less event-loop work per call.
        expiry = loop.call_later(self._timeout, _expire, answer)
        try:
            return await answer
        finally:
            expiry.cancel()

    def _gathered(self, loop: asyncio.AbstractEventLoop) -> None:
        self._gathering = None
        if not self._querying:
            self._query_next(loop)

    def _query_next(self, loop: asyncio.AbstractEventLoop) -> None:
        batch, forms = self._next_batch()
        self._querying = bool(batch)
        if batch:
            self._thread.submit(self._query_in_thread, loop, batch, forms)

    def _query_in_thread(self, loop: asyncio.AbstractEventLoop, batch: list[_Waiting],
                         forms: list[str]) -> None:
        found: frozenset[str] = frozenset()
        failure: Exception | None = None
        try:
            found = self._overdue_numbers(forms)
        except Exception as exc:  # each caller it carried reports it (logged once)
            failure = exc
        finally:
            try:
                loop.call_soon_threadsafe(self._answer, loop, batch, found, failure)
            except RuntimeError:   # the loop has closed: nobody waits any more
                pass

    def _answer(self, loop: asyncio.AbstractEventLoop, batch: list[_Waiting],
                found: frozenset[str], failure: Exception | None) -> None:
        """On the loop: each caller of the batch gets its own answer; the next query."""
        for waiting in batch:
            if waiting.answer.done():       # timed out, or the call went away
                continue
            if failure is not None:
                waiting.answer.set_exception(failure)
            else:
                waiting.answer.set_result(not found.isdisjoint(waiting.forms))
        self._query_next(loop)

    def _next_batch(self) -> tuple[list[_Waiting], list[str]]:
        """The callers still waiting, in arrival order, up to the largest query."""
        batch: list[_Waiting] = []
        forms: set[str] = set()
        while self._waiting:
            waiting = self._waiting[0]
            if waiting.answer.done():       # timed out while queued
                self._waiting.popleft()
                continue
            if batch and len(forms.union(waiting.forms)) > MAX_FORMS_PER_QUERY:
                break
            forms.update(waiting.forms)
            batch.append(self._waiting.popleft())
        return batch, sorted(forms)

    def _overdue_numbers(self, forms: list[str]) -> frozenset[str]:
        """In the worker thread: which of ``forms`` have an open overdue order."""
        size = next(s for s in QUERY_SIZES if s >= len(forms))
        # Padding repeats the last form: the IN list means the same, the binds stay fixed.
        padded = forms + [forms[-1]] * (size - len(forms))
        params: dict[str, object] = dict(zip(_FORM_NAMES, padded, strict=False))
        params["now"] = self._now()
        with self._engine.connect() as conn:
            return frozenset(conn.execute(self._statements[size], params).scalars())


class CallerPriority:
    def __init__(self, priorities: Priorities, flags: CallerFlags,
                 overdue_lookup: OverdueLookup | None = None) -> None:
        self._priorities = priorities
        self._flags = flags
        self._overdue = overdue_lookup
        # Logs a failing lookup once per outage (no retry: the next caller is the next try).
        self._overdue_outage = Backoff(log, "overdue work-order lookup failing (callers are "
                                            "queued without the overdue-order priority)")

    @property
    def flags(self) -> CallerFlags:
        return self._flags

    async def of(self, caller: str, transferred_from: str = "",
                 needs_help: bool | None = None) -> int:
        """The caller's level; ``needs_help`` when the caller's flag was already read
        (the arrival batch, ivr/flows/inbound.py), else it is read here."""
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
            needs_help=(await self._flags.needs_help(caller) if needs_help is None
                        else needs_help),
        )
