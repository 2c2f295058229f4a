"""The call-centre day (话务日): live figures start again at the configured start of the day,
and the 30-minute interval rows are kept in the database.

``run_call_figures`` is what the core runs. Every pass (once a minute):

- **reset**: the most recent start of the day (``[calls] figures_reset_at``, wall time in
  the hotline's zone) is compared with the one the live figures were last reset for,
  kept in Redis next to them (``Distributor.figures_day_key``, named in
  ``hotline_core/redis_keys.py``). A different one resets the counters
  (:meth:`Distributor.reset_figures`) once; a core that was down at the start of the day
  resets on its first pass, and a restart the same day resets nothing.
- **store** (every ``store_every`` seconds): today's and yesterday's interval rows are
  recomputed from the call records (:func:`hotline_core.call_intervals.store_recent`).
"""

from __future__ import annotations

import asyncio
import logging
import time as monotonic_time
from collections.abc import Callable
from datetime import datetime, time, timedelta, tzinfo
from typing import Protocol

import redis.asyncio as aioredis
from sqlalchemy.orm import Session, sessionmaker

from hotline_core.call_intervals import store_recent
from hotline_core.clock import utc_now
from hotline_core.timeouts import within

log = logging.getLogger(__name__)


class ResettableFigures(Protocol):
    async def reset_figures(self) -> None: ...


def parse_reset_at(value: str) -> time:
    """``"HH:MM"`` → time; ValueError naming the expected form."""
    try:
        hours, minutes = value.split(":")
        if len(hours) != 2 or len(minutes) != 2 or not (hours + minutes).isdigit():
            raise ValueError
        return time(int(hours), int(minutes))
    except ValueError:
        raise ValueError(f"{value!r} is not a time of day HH:MM (e.g. \"00:00\")") from None


def day_started_at(now: datetime, zone: tzinfo, reset_at: time) -> datetime:
    """The most recent start of the call-centre day at or before ``now``."""
    local = now.astimezone(zone)
    start = datetime.combine(local.date(), reset_at, tzinfo=zone)
    return start if start <= local else start - timedelta(days=1)


async def reset_if_due(figures: ResettableFigures, redis: aioredis.Redis, marker_key: str,
                       now: datetime, zone: tzinfo, reset_at: time) -> bool:
    """Reset the live figures once per call-centre day; True when this call reset them."""
    day = day_started_at(now, zone, reset_at).isoformat()
    previous = await within(redis.get(marker_key), 5)
    if previous is not None and (previous.decode() if isinstance(previous, bytes)
                                 else str(previous)) == day:
        return False
    await figures.reset_figures()
    await within(redis.set(marker_key, day), 5)
    log.info("live call figures reset for the day starting %s", day)
    return True


def _store(sessions: sessionmaker[Session], now: datetime, zone: tzinfo) -> int:
    with sessions.begin() as session:
        return store_recent(session, now, zone)


async def run_call_figures(figures: ResettableFigures, redis: aioredis.Redis, marker_key: str,
                           sessions: sessionmaker[Session], zone: tzinfo, reset_at: time, *,
                           every: float = 60.0, store_every: float = 300.0,
                           clock: Callable[[], datetime] = utc_now) -> None:
    """The core's loop (see the module's docstring). A failing pass is logged once until a
    pass succeeds again; the loop keeps its pace (a lost dependency is retried every
    ``every`` seconds, not at once)."""
    last_store = -store_every
    failing = False
    while True:
        try:
            now = clock()
            await reset_if_due(figures, redis, marker_key, now, zone, reset_at)
            if monotonic_time.monotonic() - last_store >= store_every:
                await asyncio.to_thread(_store, sessions, now, zone)
                last_store = monotonic_time.monotonic()
            if failing:
                log.info("call figures: passes succeed again")
            failing = False
        except Exception:
            if not failing:
                log.exception("call figures pass failed; retrying every %.0f s", every)
            failing = True
        await asyncio.sleep(every)
