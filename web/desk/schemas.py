"""Requests and answers of the agent desktop's routes."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from hotline_core.workorders.presets import Category
from web.api import Binary, Model, NonBlank, Out, QueryInt
from web.requests import INT_MAX


class EarlierCallOut(Out):
    id: str
    line: str
    offered_at: str
    disposition: str
    agent_id: str | None


class EarlierOrderOut(Out):
    id: int
    received_at: str
    category: str
    matter: str
    status: str
    due_at: str | None
    overdue: bool


class RestrictionOut(Out):
    reason: str
    until: str


class PopOut(Out):
    """The screen pop (来电弹屏) of one call; ``caller`` masked unless the role calls
    citizens back."""

    call_id: str
    line: str
    department: str
    caller: str
    agent_id: str | None
    needs_help: bool
    restricted: RestrictionOut | None
    calls: list[EarlierCallOut]
    orders: list[EarlierOrderOut]
    overdue_orders: list[EarlierOrderOut]


class PauseReasonOut(Out):
    code: str
    label: str


class DeskOut(Out):
    """The signed-in agent's desk: state, current call, the pause reasons offered."""

    agent: str
    name: str
    state: str
    pause_reason: str
    pending_pause: str
    since: float
    current_call: str | None
    wrapup_seconds: float
    pause_reasons: list[PauseReasonOut]


class PauseBody(Model):
    reason: Annotated[str, Field(max_length=32, pattern=r"^[a-z][a-z0-9_-]{0,31}$")]


class StateOut(Out):
    agent: str
    done: str


class CallOrderBody(Model):
    """What the agent types; line, department, caller and recording come from the call.
    ``kb_entry_id``: a consult answered on the spot from that entry (closed at once).
    ``confirm``: after the duplicate warning, ``duplicate`` (link it to the open order)
    or ``new`` (the caller brings something new)."""

    category: Category
    description: NonBlank
    matter: Annotated[str, Field(max_length=200)] = ""
    locality: Annotated[str, Field(max_length=200)] = ""
    address: Annotated[str, Field(max_length=300)] = ""
    caller_name: Annotated[str, Field(max_length=100)] = ""
    confidential: bool = False
    publish_consent: bool = False
    kb_entry_id: Annotated[int, Field(ge=1, le=INT_MAX)] | None = None
    confirm: Literal["duplicate", "new"] | None = None


class CandidateOut(Out):
    id: int
    received_at: str
    category: str
    matter: str
    status: str


class CallOrderOut(Out):
    """``saved`` false: the caller has open orders about this matter (``candidates``);
    send again with ``confirm``. Otherwise the order made or linked."""

    saved: bool
    candidates: list[CandidateOut] = []
    order_id: int | None = None
    created: bool = False
    duplicate_of: int | None = None
    status: str | None = None
    line: str | None = None
    department: str | None = None
    recording: str | None = None


class MatterOut(Out):
    name: str
    department: str
    section: str


class MatterList(Out):
    matters: list[MatterOut]


class KbQuery(Model):
    q: Annotated[NonBlank, Field(max_length=200)]
    limit: Annotated[QueryInt, Field(ge=1, le=20)] = 8


class KbHitOut(Out):
    id: int
    question: str
    answer: str
    unit: str | None


class KbHits(Out):
    query: str
    results: list[KbHitOut]


# ------------------------------------------------------------------ voice-message inbox


class VoiceMessageOut(Out):
    """A message waiting in the inbox; the caller's number masked unless the role needs it."""

    call_id: str
    line: str
    department: str
    caller: str
    left_at: str
    transcript: str | None
    recording_url: str


class VoiceMessageList(Out):
    messages: list[VoiceMessageOut]


class VoiceOrderBody(Model):
    """What the agent adds when turning a message into an order; line, department, caller,
    call record and recording come from the message's call record. Without a description
    the message's transcript (or a note that it has none) is the order's description."""

    category: Category = Category.CONSULT
    description: Annotated[str, Field(max_length=2000)] = ""
    matter: Annotated[str, Field(max_length=200)] = ""
    locality: Annotated[str, Field(max_length=200)] = ""
    address: Annotated[str, Field(max_length=300)] = ""
    confidential: bool = False


class VoiceRecording(Binary):
    """The voice message, WAV."""
