"""Requests and answers of the transfer routes."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from web.api import Model, Out


class TransferBody(Model):
    """Where to and how: the centre's number and the mode (直接转接 / 咨询转接 / 三方通话)."""

    target: Literal["110", "119", "120", "122"]
    mode: Literal["blind", "attended", "three-way"] = "blind"


class TransferOut(Out):
    id: int
    call_id: str
    target: str
    mode: str
    requested_by: str
    requested_at: datetime
    answered_at: datetime | None
    ended_at: datetime | None
    outcome: str
    detail: str


class TransferList(Out):
    transfers: list[TransferOut]


class ListCategory(Out):
    category: str
    centre: str            # outbound: the target; inbound: the source
    items: list[str]


class TransferListOut(Out):
    """The two-way transfer list (双向转办清单): 12345 → centres, centres → 12345."""

    outbound: list[ListCategory]
    inbound: list[ListCategory]
