"""Answers of the worklists and bodies of the review decisions. A reason is bounded as
the domain bounds it (:data:`hotline_core.workorders.platform_review.REASON_MAX`)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from hotline_core.workorders.platform_review import REASON_MAX
from web.api import Model, Out

Reason = Annotated[str, Field(max_length=REASON_MAX)]
UnitCode = Annotated[str, Field(max_length=64)]


class OrderLineOut(Out):
    id: int
    received_at: str | None
    category: str
    matter: str
    locality: str
    description: str
    status: str
    lead_unit: str | None
    due_at: str | None
    grade: str
    caller_number: str
    priority: int
    leader_instruction: bool


class RouteOut(Out):
    lead: str | None
    assists: list[str]
    reasons: list[str]
    approval: str
    error: str


class ToDispatchOut(Out):
    order: OrderLineOut
    route: RouteOut


class ReturnOut(Out):
    order: OrderLineOut
    returned_by: str
    reason: str
    suggested_unit: str
    returned_at: str | None
    late: bool
    route: RouteOut


class UnsatisfiedOut(Out):
    order: OrderLineOut
    evaluation: str
    comment: str
    redo_count: int
    redo_allowed: bool


class DispatchListOut(Out):
    new: list[ToDispatchOut]
    returns: list[ReturnOut]
    unsatisfied: list[UnsatisfiedOut]


class ReplyPartOut(Out):
    part: str
    label: str
    text: str


class ToCheckOut(Out):
    order: OrderLineOut
    replied_at: str | None
    replied_by: str | None
    resolved: bool
    late: bool
    parts: list[ReplyPartOut]
    findings: list[str]
    refused_attempts: list[list[str]]
    send_backs: int


class QualityListOut(Out):
    replies: list[ToCheckOut]


class ToCallBackOut(Out):
    order: OrderLineOut
    replied_at: str | None
    callback_due_at: str | None
    seconds_left: int | None
    automated: str
    automated_detail: str
    quality_approved: bool
    round: int


class CallbackListOut(Out):
    orders: list[ToCallBackOut]


class ReminderOut(Out):
    at: str | None
    what: str


class InPoolOut(Out):
    order: OrderLineOut
    why: list[str]
    on_ledger: bool
    ledger_criteria: str
    reminders: list[ReminderOut]


class MonitoringListOut(Out):
    orders: list[InPoolOut]


class SupervisedOut(Out):
    order: OrderLineOut
    light: str
    reminded_at: str | None
    special_supervision_at: str | None


class SupervisionListOut(Out):
    orders: list[SupervisedOut]


class ReturnReviewBody(Model):
    """``accept``: re-dispatch (改派) by the responsibility list (no ``lead``) or to the
    named units with a reason; ``refuse``: back to the returning unit, reason required."""

    decision: Literal["accept", "refuse"]
    reason: Reason = ""
    lead: UnitCode = ""
    assists: Annotated[list[UnitCode], Field(max_length=10)] = []


class QualityCheckBody(Model):
    """``approve`` (note optional) or ``send_back`` (reason required)."""

    decision: Literal["approve", "send_back"]
    reason: Reason = ""


class DecidedOut(Out):
    """The order after the decision, as the worklist sees it."""

    order_id: int
    status: str
    lead_unit: str | None
    return_waiting: bool
    quality_approved: bool
