"""The life of a work order (工单流转): statuses, event kinds, and state folded from events.

:func:`fold` is pure: the same events always give the same :class:`OrderState`. Every
decision that depends on rules or the clock (a deadline, a dispatch reason) is written
into the event's data when the event is recorded, so replaying never re-asks the rules.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from hotline_core.workorders.presets import SatisfactionLevel


class Status(StrEnum):
    NOT_ACCEPTED = "not_accepted"  # 不予受理
    AWAITING_APPROVAL = "awaiting_approval"  # 待领导批示
    PENDING_DISPATCH = "pending_dispatch"  # 待派单 (new, or returned by a unit)
    DISPATCHED = "dispatched"  # 已派单, waiting for sign-off
    HANDLING = "handling"  # 已签收, in handling
    REPLIED = "replied"  # 已回复, waiting for callback
    REVIEW = "review"  # 不满意, platform reviews whether to redo
    REDO = "redo"  # 重办
    REVIEW_FORM = "review_form"  # 两次不满意, review form / social review (审核反馈表/社会评议)
    CLOSED = "closed"  # 办结


OPEN_STATUSES = frozenset({
    Status.AWAITING_APPROVAL, Status.PENDING_DISPATCH, Status.DISPATCHED, Status.HANDLING,
    Status.REPLIED, Status.REVIEW, Status.REDO, Status.REVIEW_FORM,
})
# Statuses in which a unit is working against the handling deadline (lights apply).
UNIT_WORKING = frozenset({Status.DISPATCHED, Status.HANDLING, Status.REDO})


class EventKind(StrEnum):
    CREATED = "created"
    NOT_ACCEPTED = "not_accepted"
    KB_ANSWERED = "kb_answered"
    DUPLICATE_LINKED = "duplicate_linked"
    APPROVAL_REQUESTED = "approval_requested"
    APPROVED = "approved"
    DISPATCHED = "dispatched"
    SIGNED_OFF = "signed_off"
    RETURNED = "returned"
    EXTENSION_REQUESTED = "extension_requested"
    EXTENSION_APPROVED = "extension_approved"
    EXTENSION_REFUSED = "extension_refused"
    CITIZEN_TOLD = "citizen_told"
    LEDGER_OPENED = "ledger_opened"
    LEDGER_CLOSED = "ledger_closed"
    GRADED = "graded"
    REPLY_REFUSED = "reply_refused"
    REPLIED = "replied"
    EVALUATED = "evaluated"
    REVIEW_DECIDED = "review_decided"
    REVIEW_FORM_FILED = "review_form_filed"
    REVIEW_CONCLUDED = "review_concluded"
    REMINDER = "reminder"
    SPECIAL_SUPERVISION = "special_supervision"
    # Outbound campaigns (hotline_core/workorders/callbacks.py, reminders.py): recorded,
    # no state change of their own (an IVR rating is an EVALUATED event like any other).
    CALLBACK_SCHEDULED = "callback_scheduled"        # 自动回访 queued for this reply round
    REMINDER_CALL_SCHEDULED = "reminder_call_scheduled"  # 催办电话 queued for this reminder
    CALL_ATTEMPT = "call_attempt"                    # one outbound attempt ended
    CALL_UNREACHED = "call_unreached"                # last attempt unanswered: to staff
    REMINDER_CONFIRMED = "reminder_confirmed"        # a liaison confirmed the reminder (key 1)
    # The call the order came from was transferred to 110/119/120/122 (hotline_core/
    # transfers.py): target, mode, times, outcome; recorded, no state change.
    TRANSFERRED = "transferred"
    # Dispute review of a return (退单审核, 国办函〔2025〕66号): the platform accepts a lead
    # unit's return and re-dispatches (改派, a DISPATCHED event follows), or refuses it with
    # a reason and the order goes back to the returning unit as it was before the return.
    RETURN_ACCEPTED = "return_accepted"
    RETURN_REFUSED = "return_refused"
    # Quality check of a reply (质检, R-SEATS): approved, or sent back to the lead unit to
    # reply again (the order leaves ``replied``, so a queued callback is cancelled).
    QUALITY_APPROVED = "quality_approved"
    QUALITY_SENT_BACK = "quality_sent_back"


EVALUATION_LABELS = {
    SatisfactionLevel.VERY_SATISFIED: "非常满意", SatisfactionLevel.SATISFIED: "满意",
    SatisfactionLevel.BASICALLY_SATISFIED: "基本满意", SatisfactionLevel.UNSATISFIED: "不满意",
    SatisfactionLevel.VERY_UNSATISFIED: "非常不满意",
}


@dataclass(frozen=True)
class EventRecord:
    """The part of a stored event that the fold needs (kept apart from the ORM row)."""

    kind: str
    at: datetime
    unit: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class OrderState:
    status: Status = Status.PENDING_DISPATCH
    lead_unit: str | None = None
    assisting_units: list[str] = field(default_factory=list)
    signed_units: list[str] = field(default_factory=list)
    due_at: datetime | None = None
    sign_due_at: datetime | None = None
    return_due_at: datetime | None = None
    callback_due_at: datetime | None = None
    handling_started_at: datetime | None = None
    dispatched_at: datetime | None = None
    signed_at: datetime | None = None
    replied_at: datetime | None = None
    closed_at: datetime | None = None
    leader_instruction: bool = False
    redo_count: int = 0
    # (level, counted as satisfied under the preset in force when it was given)
    evaluations: list[tuple[SatisfactionLevel, bool]] = field(default_factory=list)
    extension_pending: bool = False
    extensions_approved: int = 0
    citizen_told_of: list[str] = field(default_factory=list)
    on_ledger: bool = False
    explicit_grade: str | None = None
    excluded_from_score: bool = False
    duplicate_of: int | None = None
    reminded_at: datetime | None = None
    special_supervision_at: datetime | None = None
    late_sign_offs: int = 0
    late_returns: int = 0
    late_replies: int = 0
    returns: int = 0
    # The unit whose return (退单) waits for the platform's review; None: none waiting.
    return_pending_from: str | None = None
    refused_returns: int = 0
    # The current reply passed the quality check (质检通过); reset by every new reply.
    quality_approved: bool = False
    quality_send_backs: int = 0

    @property
    def evaluation(self) -> SatisfactionLevel | None:
        # Only the last evaluation counts: after a redo, the second one (gaotai).
        return self.evaluations[-1][0] if self.evaluations else None

    @property
    def satisfied(self) -> bool | None:
        return self.evaluations[-1][1] if self.evaluations else None

    @property
    def grade(self) -> str:
        """A/B/C/D (ganzhou/Chongyi): D citizen unsatisfied, C extended or on the ledger.

        The seed defines only C and D; B is kept for a supervisor's explicit grading
        (e.g. a hard case), A for everything else.
        """
        if self.satisfied is False and not self.excluded_from_score:
            return "D"
        if self.extensions_approved or self.on_ledger:
            return "C"
        return self.explicit_grade or "A"

    @property
    def in_monitoring_pool(self) -> bool:
        """C and D orders stay in the monitoring pool (工单监测池) until closed."""
        return self.grade in ("C", "D") and self.status in OPEN_STATUSES


def _dt(value: Any) -> datetime | None:
    """An instant written into an event's data; events older than the UTC convention
    carry naive UTC (see :mod:`hotline_core.clock`)."""
    if not value:
        return None
    parsed = datetime.fromisoformat(value)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed


def fold(events: Iterable[EventRecord]) -> OrderState:
    s = OrderState()
    for ev in events:
        _apply(s, ev)
    return s


def _apply(s: OrderState, ev: EventRecord) -> None:  # noqa: C901 - one branch per kind
    d = ev.data
    kind = EventKind(ev.kind)
    if kind is EventKind.CREATED:
        s.status = Status.PENDING_DISPATCH
        s.due_at = _dt(d.get("due_at"))
        s.handling_started_at = ev.at
        s.leader_instruction = bool(d.get("leader_instruction"))
        s.duplicate_of = d.get("duplicate_of")
    elif kind is EventKind.NOT_ACCEPTED:
        s.status = Status.NOT_ACCEPTED
        s.closed_at = ev.at
        s.due_at = None
    elif kind is EventKind.KB_ANSWERED:
        s.status = Status.CLOSED
        s.closed_at = ev.at
        s.replied_at = ev.at
    elif kind is EventKind.APPROVAL_REQUESTED:
        s.status = Status.AWAITING_APPROVAL
    elif kind is EventKind.APPROVED:
        s.status = Status.PENDING_DISPATCH
        s.leader_instruction = True
    elif kind is EventKind.DISPATCHED:
        s.status = Status.DISPATCHED
        s.lead_unit = d["lead"]
        s.assisting_units = list(d.get("assists", []))
        s.signed_units = []
        s.signed_at = None  # a sign-off by a unit that returned the order is not this one's
        s.sign_due_at = _dt(d.get("sign_due_at"))
        s.return_due_at = None
        s.dispatched_at = s.dispatched_at or ev.at
        s.return_pending_from = None  # a dispatch settles a waiting return (改派)
    elif kind is EventKind.SIGNED_OFF:
        if ev.unit and ev.unit not in s.signed_units:
            s.signed_units.append(ev.unit)
        s.late_sign_offs += int(bool(d.get("late")))
        if ev.unit == s.lead_unit:
            s.status = Status.HANDLING
            s.signed_at = ev.at
            s.return_due_at = _dt(d.get("return_due_at"))
    elif kind is EventKind.RETURNED:
        s.returns += 1
        s.late_returns += int(bool(d.get("late")))
        if ev.unit == s.lead_unit:
            s.status = Status.PENDING_DISPATCH
            s.lead_unit = None
            s.assisting_units = []
            s.signed_units = []
            s.sign_due_at = s.return_due_at = None
            s.return_pending_from = ev.unit
        elif ev.unit in s.assisting_units:
            s.assisting_units.remove(ev.unit)
    elif kind is EventKind.EXTENSION_REQUESTED:
        s.extension_pending = True
    elif kind is EventKind.EXTENSION_APPROVED:
        s.extension_pending = False
        s.extensions_approved += 1
        s.due_at = _dt(d["new_due_at"])
    elif kind is EventKind.EXTENSION_REFUSED:
        s.extension_pending = False
    elif kind is EventKind.CITIZEN_TOLD:
        s.citizen_told_of.append(str(d.get("about", "")))
    elif kind is EventKind.LEDGER_OPENED:
        s.on_ledger = True
    elif kind is EventKind.LEDGER_CLOSED:
        s.on_ledger = False
    elif kind is EventKind.GRADED:
        s.explicit_grade = d.get("grade")
    elif kind is EventKind.RETURN_ACCEPTED:
        s.return_pending_from = None
    elif kind is EventKind.RETURN_REFUSED:
        # Back to the returning unit as it stood before the return (the event carries it).
        s.return_pending_from = None
        s.refused_returns += 1
        s.status = Status(d["status"])
        s.lead_unit = d["lead"]
        s.assisting_units = list(d.get("assists", []))
        s.signed_units = list(d.get("signed_units", []))
        s.signed_at = _dt(d.get("signed_at"))
        s.sign_due_at = _dt(d.get("sign_due_at"))
        s.return_due_at = _dt(d.get("return_due_at"))
    elif kind is EventKind.QUALITY_APPROVED:
        s.quality_approved = True
    elif kind is EventKind.QUALITY_SENT_BACK:
        s.quality_approved = False
        s.quality_send_backs += 1
        s.status = Status.REDO if s.redo_count else Status.HANDLING
        s.callback_due_at = None
    elif kind is EventKind.REPLIED:
        s.quality_approved = False
        s.status = Status.REPLIED
        s.replied_at = ev.at
        s.callback_due_at = _dt(d.get("callback_due_at"))
        s.late_replies += int(bool(d.get("late")))
    elif kind is EventKind.EVALUATED:
        satisfied = bool(d["satisfied"])
        s.evaluations.append((SatisfactionLevel(d["level"]), satisfied))
        if satisfied:
            s.status, s.closed_at = Status.CLOSED, ev.at
        elif d.get("redo_possible"):
            s.status = Status.REVIEW
        else:
            s.status = Status.REVIEW_FORM
    elif kind is EventKind.REVIEW_DECIDED:
        if d["decision"] == "redo":
            s.status = Status.REDO
            s.redo_count += 1
            s.due_at = _dt(d["due_at"])
            s.handling_started_at = ev.at
            s.reminded_at = s.special_supervision_at = None
        else:
            s.status, s.closed_at = Status.CLOSED, ev.at
    elif kind is EventKind.REVIEW_CONCLUDED:
        outcome = d["outcome"]
        if outcome == "must_fix":
            s.status = Status.REDO
            s.due_at = _dt(d["due_at"])
            s.handling_started_at = ev.at
            s.reminded_at = s.special_supervision_at = None
        else:
            s.status, s.closed_at = Status.CLOSED, ev.at
            s.excluded_from_score = outcome == "unreasonable"
    elif kind is EventKind.REMINDER:
        s.reminded_at = ev.at
    elif kind is EventKind.SPECIAL_SUPERVISION:
        s.special_supervision_at = ev.at
    # DUPLICATE_LINKED, REPLY_REFUSED, REVIEW_FORM_FILED and the campaign kinds: recorded,
    # no state change.
