"""Requests and answers of the work-order routes. Every text field is bounded by its
column; a missing, blank or wrongly typed field is a 422 naming it."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from hotline_core.workorders.acceptance import NotAcceptedReason
from hotline_core.workorders.lifecycle import Status
from hotline_core.workorders.presets import Category, ReplyPart, SatisfactionLevel
from web.api import Int32, IsoDateTime, Model, NonBlank, OpenOut, Out, QueryInt, Text
from web.requests import INT_MAX


def _max(n: int) -> Any:
    return Field(max_length=n)


class NotAccepted(Model):
    """A demand the hotline does not accept (不予受理), with the rule's reason."""

    reason: NotAcceptedReason
    note: Text = ""


class IntakeBody(Model):
    """A demand as taken (受理): by phone, web, app, … Optionally recorded as not accepted,
    answered from a knowledge-base entry, or tied to its call record and recording."""

    channel: Annotated[NonBlank, _max(20)]
    category: Category
    description: NonBlank
    caller_number: Annotated[str, _max(32)] = ""
    caller_name: Annotated[str, _max(100)] = ""
    line: Annotated[str, _max(32)] = "12345"
    address: Annotated[str, _max(300)] = ""
    locality: Annotated[str, _max(200)] = ""
    matter: Annotated[str, _max(200)] = ""
    confidential: bool = False
    emergency: bool = False
    priority: Int32 = 0
    leader_instruction: bool = False
    call_record_id: Annotated[str, _max(64)] = ""
    recording: Annotated[str, _max(500)] = ""
    new_information: bool = False
    publish_consent: bool = Field(False, description="the citizen agreed that the demand is "
                                  "published on Open311 (without identity)")
    kb_entry_id: Annotated[int, Field(ge=1, le=INT_MAX)] | None = None
    not_accepted: NotAccepted | None = None


class OrderQuery(Model):
    status: Status | None = None
    unit: Annotated[str, _max(64)] | None = None
    limit: Annotated[QueryInt, Field(ge=1, le=500)] = 50
    offset: Annotated[QueryInt, Field(ge=0, le=10**9)] = 0


class DispatchBody(Model):
    """By the responsibility list (no ``lead``), or to named units with a reason."""

    lead: Annotated[str, _max(64)] = ""
    assists: list[Annotated[str, _max(64)]] = []
    reason: Text = ""


class ApprovalRequestBody(Model):
    kind: NonBlank
    reason: NonBlank


class ApprovalBody(Model):
    leader: NonBlank
    instruction: NonBlank


class ReturnBody(Model):
    reason: Text = ""
    suggested_unit: Text = ""


class ExtensionBody(Model):
    """``new_due_at``: ISO 8601; without an offset, wall-clock time in the hotline's zone."""

    new_due_at: IsoDateTime
    reason: Text = ""
    signed_by: Text = ""


class ExtensionDecisionBody(Model):
    approve: bool
    note: Text = ""


class CitizenNoticeBody(Model):
    about: NonBlank
    message: NonBlank
    channel: Text = "phone"


class LedgerBody(Model):
    open: bool = True
    criteria: NonBlank


class GradeBody(Model):
    grade: NonBlank   # A or B (C and D are derived)


class ReplyBody(Model):
    """The reply's parts (response, unit, time, method, result, …), checked against the
    preset's reply rules."""

    parts: Annotated[dict[ReplyPart, str], Field(min_length=1)]
    resolved: bool = True
    citizen_replied_at: IsoDateTime | None = None


class ReplyCheckOut(Out):
    """The preset's reply check run on a draft (nothing recorded): ``problems`` as the reply
    would be refused with, ``missing`` the parts to fill in."""

    accepted: bool
    problems: list[str]
    missing: list[str]


class EvaluationBody(Model):
    level: SatisfactionLevel
    comment: Text = ""


class ReviewBody(Model):
    decision: Literal["redo", "close"]
    reason: NonBlank
    citizen_asked: bool = True


class ReviewFormBody(Model):
    signer: NonBlank
    text: NonBlank


class ReviewConclusionBody(Model):
    outcome: NonBlank   # closed, unreasonable or must_fix
    reason: NonBlank
    panel: Text = ""


class DispatchPreviewQuery(Model):
    matter: Annotated[str, _max(200)] = ""
    locality: Annotated[str, _max(200)] = ""
    address: Annotated[str, _max(300)] = ""


class LightsQuery(Model):
    unit: Annotated[str, _max(64)] | None = None


# ------------------------------------------------------------------ answers


class OrderOut(OpenOut):
    """A work order as its reader may see it (numbers masked by role); the detail adds
    description, address, deadlines and assignments."""

    id: int
    received_at: str | None
    channel: str
    line: str
    category: str
    status: str
    lead_unit: str | None
    due_at: str | None
    light: str | None
    caller_number: str | None
    caller_name: str | None
    caller_hidden: bool


class CreatedOut(Out):
    order: OrderOut
    created: bool
    duplicate_of: int | None = None


class OrderList(Out):
    orders: list[OrderOut]
    limit: int
    offset: int


class EventOut(Out):
    seq: int
    kind: str
    at: str
    actor: str
    actor_role: str
    unit: str | None
    data: dict[str, Any]


class EventList(Out):
    order_id: int
    events: list[EventOut]


class SupervisionRunOut(Out):
    reminders: list[int]   # orders whose units' liaisons were reminded
    special: list[int]     # orders put under special supervision


class LightOut(Out):
    order_id: int
    lead_unit: str | None
    due_at: str
    light: str


class LightList(Out):
    lights: list[LightOut]


class ImportedOut(Out):
    imported: int


class DispatchPreviewOut(Out):
    lead: str
    assists: list[str]
    reasons: list[str]
    approval: str
