"""Database work of a request, off the event loop: one transaction per request (a refused
command rolls back whole: nothing half-written), or one read-only session."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

from aiohttp import web
from sqlalchemy.orm import Session

from web import keys

T = TypeVar("T")


async def in_transaction(request: web.Request, work: Callable[[Session], T]) -> T:
    """Run ``work`` in one transaction in a worker thread; an exception rolls it back (the
    middleware :func:`web.api.domain_errors` answers a domain refusal)."""
    maker = request.app[keys.SESSIONMAKER]

    def run() -> T:
        with maker() as session, session.begin():
            return work(session)

    return await asyncio.to_thread(run)


async def reading(request: web.Request, work: Callable[[Session], T]) -> T:
    """Run ``work`` with a session that writes nothing, in a worker thread."""
    maker = request.app[keys.SESSIONMAKER]

    def run() -> T:
        with maker() as session:
            return work(session)

    return await asyncio.to_thread(run)
