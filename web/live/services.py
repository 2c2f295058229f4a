"""What the live routes need, under :data:`LIVE`: the distributor, the sockets' own Redis
client (:func:`pubsub_client`) and the socket caps."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import redis.asyncio as aioredis
from aiohttp import web

from hotline_core.access import AccessPolicy
from hotline_core.acd import Distributor
from hotline_core.acd.read_models import DistributionView
from web.live.views import snapshot_json

MAX_SOCKETS = 200            # web sockets open at once, all tokens together
MAX_SOCKETS_PER_TOKEN = 4    # one client or wallboard with a few tabs
PUBSUB_CLIENT_NAME = "hotline-live"
REDIS_SECONDS = 5.0          # bound on every Redis round trip of a socket

CallOwner = Callable[[str], Awaitable[str | None]]


class PopFeed(Protocol):
    """The screen pop (来电弹屏) for an agent's socket (the desktop package provides it;
    this package never imports it)."""

    async def current_call(self, agent_id: str) -> str | None:
        """The call ringing on or talking to the agent now."""

    async def pop(self, call_id: str, agent_id: str, reveal_caller: bool
                  ) -> dict[str, Any] | None:
        """The pop as sent; None for a call the hotline no longer knows."""


class SocketCount:
    """Open sockets, per token (by its sha256) and in total; only the event loop touches it."""

    def __init__(self) -> None:
        self.total = 0
        self.per_token: dict[str, int] = {}

    def take(self, token_key: str, max_total: int, max_per_token: int) -> str | None:
        """Take a slot, or say why not (no await between the check and the count)."""
        if self.total >= max_total:
            return f"too many live sockets open ({self.total}/{max_total})"
        mine = self.per_token.get(token_key, 0)
        if mine >= max_per_token:
            return f"this token has {mine} live sockets open already (at most {max_per_token})"
        self.total += 1
        self.per_token[token_key] = mine + 1
        return None

    def give_back(self, token_key: str) -> None:
        self.total -= 1
        left = self.per_token.get(token_key, 1) - 1
        if left > 0:
            self.per_token[token_key] = left
        else:
            self.per_token.pop(token_key, None)


class FiguresBatch:
    """One figures read (实时数据) shared by every socket that one batch of events woke.

    Each socket asks for figures read after the instant it received its event; a read that
    started after that instant (in flight or done) already shows the change, so it is
    shared: 200 desks woken by one distribution change cost one read and one JSON text,
    not 200. The read runs in a task of its own, so a socket that closes while waiting
    never cancels it for the others."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._started = float("-inf")
        self._read: asyncio.Future[str] | None = None

    async def message(self, view: DistributionView, received: float) -> str:
        """The ``figures`` message (JSON text) read after ``received`` (this clock's time:
        when the socket got its event, or opened)."""
        read = self._read
        if read is None or self._started <= received:
            self._started = self._clock()
            read = self._read = asyncio.ensure_future(self._text(view))
        return await asyncio.shield(read)

    @staticmethod
    async def _text(view: DistributionView) -> str:
        return json.dumps({"type": "figures", "figures": snapshot_json(await view.figures())})


@dataclasses.dataclass(frozen=True)
class LiveServices:
    distributor: Distributor
    redis: aioredis.Redis  # pub/sub only: its own client (pubsub_client), not the calls' pool
    access: AccessPolicy
    call_owner: CallOwner | None = None  # the agent who took a call (for alerts)
    pops: PopFeed | None = None          # screen pops on an agent's socket (the desktop)
    max_sockets: int = MAX_SOCKETS
    max_sockets_per_token: int = MAX_SOCKETS_PER_TOKEN
    sockets: SocketCount = dataclasses.field(default_factory=SocketCount)
    figures: FiguresBatch = dataclasses.field(default_factory=FiguresBatch)


def pubsub_client(url: str, max_sockets: int = MAX_SOCKETS) -> aioredis.Redis:
    """The live sockets' own Redis client: one pub/sub connection per socket, plus one."""
    pool = aioredis.BlockingConnectionPool.from_url(
        url, max_connections=max_sockets + 1, timeout=REDIS_SECONDS,
        socket_connect_timeout=REDIS_SECONDS, client_name=PUBSUB_CLIENT_NAME)
    return aioredis.Redis(connection_pool=pool)



LIVE = web.AppKey("live", LiveServices)
