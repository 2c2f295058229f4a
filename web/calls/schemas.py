"""Requests and answers of the call-record routes."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from hotline_core.call_records import Disposition
from web.api import Binary, Model, Out, QueryInt


class CallQuery(Model):
    """Filters: line, disposition, q (words said in the call); paging."""

    line: Annotated[str, Field(max_length=20)] | None = None
    disposition: Disposition | None = None
    q: Annotated[str, Field(max_length=200)] = ""
    limit: Annotated[QueryInt, Field(ge=1, le=1000)] = 100
    offset: Annotated[QueryInt, Field(ge=0, le=10**9)] = 0


class TranscriptOut(Out):
    leg: str
    status: str
    text: str
    words: list[dict[str, Any]]
    audio_seconds: float
    error: str | None


class CallOut(Out):
    """A call record; ``caller`` masked unless the role calls citizens back."""

    id: str
    line: str
    department: str
    caller: str
    offered_at: str
    answered_at: str | None
    ended_at: str | None
    agent_id: str | None
    disposition: str
    reason: str
    hangup_cause: int | None
    recording: str | None
    message: str | None
    route: str
    reconciled: bool
    transcripts: list[TranscriptOut] | None = None   # in one call's detail only


class CallList(Out):
    calls: list[CallOut]


class Recording(Binary):
    """The call's recording, WAV."""
