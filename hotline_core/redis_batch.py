"""Several components' Redis commands in one round trip (one pipeline, no transaction).

A call's arrival asks the restriction list, the live-call registry and the caller flags one
command each; sent one by one they cost three round trips, each with its own connection
check-out, write, read and timeout (on these machines about 65 µs of the core's CPU per
command, issue 14 item 3). A component queues its command on a :class:`RedisBatch` and gets a
:class:`Slot` back; :meth:`RedisBatch.run` sends everything at once and fills every slot with
the component's own reading of its reply. No transaction: the commands are independent, and
MULTI/EXEC would add two more commands for nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import redis.asyncio as aioredis
from redis.asyncio.client import Pipeline

T = TypeVar("T")

_UNSET: Any = object()


class Slot(Generic[T]):
    """One component's answer, filled when its batch has run."""

    __slots__ = ("_value",)

    def __init__(self) -> None:
        self._value: T = _UNSET

    @property
    def value(self) -> T:
        if self._value is _UNSET:
            raise RuntimeError("the batch holding this slot has not run")
        return self._value


class RedisBatch:
    """Commands of several components, sent in one pipeline by :meth:`run`."""

    def __init__(self, redis: aioredis.Redis, timeout: float) -> None:
        self.pipe: Pipeline = redis.pipeline(transaction=False)
        self._timeout = timeout
        # (how many replies the component's commands give, how it reads them, its slot)
        self._readers: list[tuple[int, Callable[[list[Any]], Any], Slot[Any]]] = []

    def add(self, replies: int, read: Callable[[list[Any]], T]) -> Slot[T]:
        """The caller has just queued ``replies`` commands on :attr:`pipe`; ``read`` turns
        their replies (in order) into the slot's value."""
        slot: Slot[T] = Slot()
        self._readers.append((replies, read, slot))
        return slot

    async def run(self) -> None:
        """Send the batch (bounded by the timeout) and fill every slot. A Redis error
        fails the whole batch: none of its slots is filled."""
        async with asyncio.timeout(self._timeout):
            replies = await self.pipe.execute()
        at = 0
        for count, read, slot in self._readers:
            slot._value = read(replies[at:at + count])
            at += count
        if at != len(replies):
            raise RuntimeError(f"batch got {len(replies)} replies for {at} queued commands")
