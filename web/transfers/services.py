"""What the transfer routes need, under :data:`TRANSFERS`."""

from __future__ import annotations

import dataclasses
from typing import Protocol

from aiohttp import web

from hotline_core.access import AccessPolicy
from hotline_core.transfers import TransferList, TransferMode, TransferStore


class Transferrer(Protocol):
    """Carries a transfer out on the telephony side (ivr/transfer.py); returns the row id or
    raises :class:`hotline_core.transfers.TransferError`."""

    async def start(self, call_id: str, target: str, mode: TransferMode, requester: str,
                    supervisor: bool) -> int: ...

    async def finish(self, transfer_id: int, complete: bool, requester: str,
                     supervisor: bool) -> None: ...


@dataclasses.dataclass(frozen=True)
class TransferServices:
    transferrer: Transferrer
    store: TransferStore
    access: AccessPolicy
    transfer_list: TransferList | None = None


TRANSFERS = web.AppKey("transfers", TransferServices)
