"""What the live routes need, under :data:`LIVE`: the distributor, the sockets' own Redis
client (:func:`pubsub_client`) and the socket caps."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import redis.asyncio as aioredis
from aiohttp import web

from hotline_core.access import AccessPolicy
from hotline_core.acd import Distributor

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


def pubsub_client(url: str, max_sockets: int = MAX_SOCKETS) -> aioredis.Redis:
    """The live sockets' own Redis client: one pub/sub connection per socket, plus one."""
    pool = aioredis.BlockingConnectionPool.from_url(
        url, max_connections=max_sockets + 1, timeout=REDIS_SECONDS,
        socket_connect_timeout=REDIS_SECONDS, client_name=PUBSUB_CLIENT_NAME)
    return aioredis.Redis(connection_pool=pool)



LIVE = web.AppKey("live", LiveServices)
