"""Campaign answers and query parameters."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import Field

from hotline_core.campaigns.model import AttemptOutcome, TargetState
from web.api import Model, Out, QueryInt

Limit = Annotated[QueryInt, Field(ge=1, le=500)]
Before = Annotated[QueryInt, Field(ge=1, le=2**62)]


class PageQuery(Model):
    limit: Limit = 100
    before: Before | None = None      # the id to page on from (newest first)


class AttemptQuery(PageQuery):
    outcome: AttemptOutcome | None = None


class TargetQuery(PageQuery):
    state: TargetState | None = None


class CampaignOut(Out):
    id: int
    kind: str
    name: str
    line: str
    state: str
    standing: bool            # the kind's automatic campaign for the line
    max_channels: int | None
    created_at: datetime
    targets: dict[str, int]   # targets by state
    attempts: int


class CampaignList(Out):
    campaigns: list[CampaignOut]


class AttemptOut(Out):
    id: int
    target_id: int
    campaign_id: int
    kind: str
    seq: int
    number: str               # masked unless the role calls citizens back
    role: str
    state: str
    outcome: str | None
    detail: str
    agent_id: str | None
    order_id: int | None
    call_id: str | None
    recording: str | None
    created_at: datetime
    answered_at: datetime | None
    ended_at: datetime | None


class AttemptList(Out):
    attempts: list[AttemptOut]


class DestinationOut(Out):
    number: str               # masked unless the role calls citizens back
    role: str


class TargetOut(Out):
    id: int
    campaign_id: int
    kind: str
    line: str
    state: str
    destinations: list[DestinationOut]
    order_id: int | None
    call_id: str | None
    attempts: int
    outcome: str
    result: dict[str, Any]
    next_at: datetime | None
    created_at: datetime
    closed_at: datetime | None


class TargetList(Out):
    targets: list[TargetOut]
