"""Async access to the call log: SQLAlchemy is synchronous, so each write runs in a thread."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from hotline_core.call_records import CallLog, CallRecord, Disposition


def now() -> datetime:
    return datetime.now(UTC)


class AsyncCallLog:
    def __init__(self, log: CallLog) -> None:
        self.sync = log

    async def offered(self, call_id: str, **kwargs: Any) -> None:
        await asyncio.to_thread(self.sync.offered, call_id, at=now(), **kwargs)

    async def answered(self, call_id: str, agent_id: str) -> None:
        await asyncio.to_thread(self.sync.answered, call_id, agent_id, now())

    async def ended(self, call_id: str, cause: int | None) -> None:
        await asyncio.to_thread(self.sync.ended, call_id, now(), cause)

    async def closed(self, call_id: str, disposition: Disposition, reason: str) -> None:
        await asyncio.to_thread(self.sync.closed, call_id, disposition, reason, now())

    async def voice_message(self, call_id: str, message: str) -> None:
        await asyncio.to_thread(self.sync.voice_message, call_id, message)

    async def callback_requested(self, call_id: str) -> None:
        await asyncio.to_thread(self.sync.callback_requested, call_id)

    async def callback_connected(self, call_id: str, agent_id: str) -> None:
        await asyncio.to_thread(self.sync.callback_connected, call_id, agent_id, now())

    async def get(self, call_id: str) -> CallRecord | None:
        return await asyncio.to_thread(self.sync.get, call_id)
