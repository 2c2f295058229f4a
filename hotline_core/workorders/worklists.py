"""The platform groups' worklists (工作清单, R-SEATS): what dispatch (派单), quality check
(质检), callback (回访), the monitoring pool (监测池) and supervision (督办) have to work on.

Each list is read from the projection columns and, where the projection keeps no
column for it, from the order's events:

- dispatch: new orders waiting for dispatch, with the routing preview; orders whose
  lead unit returned them and whose return waits for review (the last ``returned``
  event after the last dispatch, accept or refusal);
- quality check: replies waiting for the callback whose current reply has no
  ``quality_approved`` yet, with the reply check re-run and the refused attempts;
- callback: replied orders by the end of their callback window (time left, negative
  when late) and what the automated callback did last;
- monitoring pool: open C and D orders (extended, on the ledger, unsatisfied) with
  their reminders;
- supervision: yellow and red orders, and orders under special supervision.

Times are ISO strings in the hotline's zone; caller numbers are masked (a listing).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session, aliased

from hotline_core.campaigns.model import CampaignKind
from hotline_core.masking import mask_phone
from hotline_core.workorders import deadlines
from hotline_core.workorders.desk import DeskSettings
from hotline_core.workorders.dispatch import UnitChoiceError, choose_units
from hotline_core.workorders.lifecycle import (
    EVALUATION_LABELS,
    OPEN_STATUSES,
    EventKind,
    EventRecord,
    Status,
    fold,
)
from hotline_core.workorders.model import WorkOrder, WorkOrderEvent
from hotline_core.workorders.presets import ReplyPart
from hotline_core.workorders.replies import PART_LABELS, ReplyDraft, check_reply
from hotline_core.workorders.supervision import lights

LIST_MAX = 200   # rows per list: a worklist is worked from the top, not paged through
SETTLES_RETURN = (EventKind.RETURN_ACCEPTED.value, EventKind.RETURN_REFUSED.value,
                  EventKind.DISPATCHED.value)
CAMPAIGN_KINDS = (EventKind.CALLBACK_SCHEDULED.value, EventKind.CALL_ATTEMPT.value,
                  EventKind.CALL_UNREACHED.value)


def _iso(value: datetime | None, zone: tzinfo) -> str | None:
    return value.astimezone(zone).isoformat() if value else None


@dataclass(frozen=True)
class OrderLine:
    """What every list shows of an order."""

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


def _line(order: WorkOrder, zone: tzinfo) -> OrderLine:
    return OrderLine(
        id=order.id, received_at=_iso(order.received_at, zone), category=order.category,
        matter=order.matter, locality=order.locality, description=order.description[:200],
        status=order.status, lead_unit=order.lead_unit, due_at=_iso(order.due_at, zone),
        grade=order.grade, caller_number=mask_phone(order.caller_number),
        priority=order.priority, leader_instruction=order.leader_instruction)


def _events(session: Session, order_ids: Iterable[int]) -> dict[int, list[WorkOrderEvent]]:
    ids = list(order_ids)
    out: dict[int, list[WorkOrderEvent]] = {i: [] for i in ids}
    if not ids:
        return out
    stmt = (select(WorkOrderEvent).where(WorkOrderEvent.order_id.in_(ids))
            .order_by(WorkOrderEvent.order_id, WorkOrderEvent.seq))
    for ev in session.scalars(stmt):
        out[ev.order_id].append(ev)
    return out


def _last_seq(kinds: tuple[str, ...]) -> Any:
    ev = aliased(WorkOrderEvent)
    return (select(func.max(ev.seq)).where(ev.order_id == WorkOrder.id, ev.kind.in_(kinds))
            .correlate(WorkOrder).scalar_subquery())


def _return_waiting() -> Any:
    """SQL: the order's last lead return is after its last dispatch / review."""
    returned, settled = _last_seq((EventKind.RETURNED.value,)), _last_seq(SETTLES_RETURN)
    return and_(WorkOrder.status == Status.PENDING_DISPATCH.value, returned.is_not(None),
                or_(settled.is_(None), settled < returned))


# ------------------------------------------------------------------ dispatch


@dataclass(frozen=True)
class RoutePreview:
    lead: str | None
    assists: list[str]
    reasons: list[str]
    approval: str
    error: str = ""


@dataclass(frozen=True)
class ToDispatch:
    order: OrderLine
    route: RoutePreview


@dataclass(frozen=True)
class ReturnToReview:
    order: OrderLine
    returned_by: str
    reason: str
    suggested_unit: str
    returned_at: str | None
    late: bool
    route: RoutePreview


@dataclass(frozen=True)
class Unsatisfied:
    """An order the citizen rated unsatisfied, waiting for the platform's review (复核):
    redo (重办, while the preset allows one more) or close."""

    order: OrderLine
    evaluation: str
    comment: str
    redo_count: int
    redo_allowed: bool


@dataclass(frozen=True)
class DispatchList:
    new: list[ToDispatch]
    returns: list[ReturnToReview]
    unsatisfied: list[Unsatisfied] = field(default_factory=list)


def _preview(session: Session, order: WorkOrder) -> RoutePreview:
    try:
        c = choose_units(session, order.matter, order.locality, order.address)
    except UnitChoiceError as exc:
        return RoutePreview(None, [], [], "", error=str(exc))
    return RoutePreview(c.lead, list(c.assists), list(c.reasons), c.approval)


def dispatch_list(session: Session, cfg: DeskSettings) -> DispatchList:
    """New orders to dispatch (oldest first) and returns waiting for review."""
    zone = cfg.zone
    waiting = _return_waiting()
    new = session.scalars(
        select(WorkOrder).where(WorkOrder.status == Status.PENDING_DISPATCH.value, ~waiting)
        .order_by(WorkOrder.priority.desc(), WorkOrder.received_at, WorkOrder.id)
        .limit(LIST_MAX)).all()
    returned = session.scalars(
        select(WorkOrder).where(waiting).order_by(WorkOrder.id).limit(LIST_MAX)).all()
    events = _events(session, (o.id for o in returned))
    reviews = []
    for order in returned:
        ret = [e for e in events[order.id] if e.kind == EventKind.RETURNED.value][-1]
        reviews.append(ReturnToReview(
            order=_line(order, zone), returned_by=ret.unit or "",
            reason=str(ret.data.get("reason", "")),
            suggested_unit=str(ret.data.get("suggested_unit", "")),
            returned_at=_iso(ret.at, zone), late=bool(ret.data.get("late")),
            route=_preview(session, order)))
    return DispatchList(new=[ToDispatch(_line(o, zone), _preview(session, o)) for o in new],
                        returns=reviews, unsatisfied=_unsatisfied(session, cfg))


def _unsatisfied(session: Session, cfg: DeskSettings) -> list[Unsatisfied]:
    orders = session.scalars(
        select(WorkOrder).where(WorkOrder.status == Status.REVIEW.value)
        .order_by(WorkOrder.id).limit(LIST_MAX)).all()
    events = _events(session, (o.id for o in orders))
    out = []
    for order in orders:
        rated = [e for e in events[order.id] if e.kind == EventKind.EVALUATED.value][-1]
        out.append(Unsatisfied(
            order=_line(order, cfg.zone), evaluation=str(rated.data.get("level", "")),
            comment=str(rated.data.get("comment", "")), redo_count=order.redo_count,
            redo_allowed=deadlines.redo_allowed(cfg.preset, order.redo_count)))
    return out


def return_waiting(session: Session, order_id: int) -> bool:
    """Whether the order's return waits for review (the same test as the list's)."""
    stmt = select(WorkOrder.id).where(WorkOrder.id == order_id, _return_waiting())
    return session.scalars(stmt).first() is not None


# ------------------------------------------------------------------ quality check


@dataclass(frozen=True)
class ReplyPartText:
    part: str
    label: str
    text: str


@dataclass(frozen=True)
class ToCheck:
    order: OrderLine
    replied_at: str | None
    replied_by: str | None
    resolved: bool
    late: bool
    parts: list[ReplyPartText]
    findings: list[str]                  # the preset's reply check, re-run on the reply
    refused_attempts: list[list[str]]    # what the check refused before this reply
    send_backs: int


def quality_list(session: Session, cfg: DeskSettings) -> list[ToCheck]:
    """Replies waiting for their check, the oldest first."""
    replied, approved = (_last_seq((EventKind.REPLIED.value,)),
                         _last_seq((EventKind.QUALITY_APPROVED.value,)))
    orders = session.scalars(
        select(WorkOrder).where(WorkOrder.status == Status.REPLIED.value,
                                or_(approved.is_(None), approved < replied))
        .order_by(WorkOrder.replied_at, WorkOrder.id).limit(LIST_MAX)).all()
    events = _events(session, (o.id for o in orders))
    now = cfg.now()
    out = []
    for order in orders:
        evs = events[order.id]
        reply = [e for e in evs if e.kind == EventKind.REPLIED.value][-1]
        parts = {ReplyPart(k): str(v) for k, v in dict(reply.data.get("parts", {})).items()
                 if k in ReplyPart._value2member_map_}
        draft = ReplyDraft(parts=parts, resolved=bool(reply.data.get("resolved", True)),
                           citizen_replied_at=None if not reply.data.get("citizen_replied_at")
                           else datetime.fromisoformat(reply.data["citizen_replied_at"]))
        state = fold(EventRecord(e.kind, e.at, e.unit, e.data) for e in evs)
        out.append(ToCheck(
            order=_line(order, cfg.zone), replied_at=_iso(reply.at, cfg.zone),
            replied_by=reply.unit, resolved=draft.resolved, late=bool(reply.data.get("late")),
            parts=[ReplyPartText(p.value, PART_LABELS[p], t) for p, t in parts.items()],
            findings=check_reply(cfg.preset.reply, draft, now),
            refused_attempts=[list(e.data.get("problems", [])) for e in evs
                              if e.kind == EventKind.REPLY_REFUSED.value],
            send_backs=state.quality_send_backs))
    return out


# ------------------------------------------------------------------ callback

CALLBACK = CampaignKind.SATISFACTION_CALLBACK.value
OUTCOME_WORDS = {
    EventKind.CALLBACK_SCHEDULED.value: "已排入自动回访",
    EventKind.CALL_ATTEMPT.value: "自动回访已拨打",
    EventKind.CALL_UNREACHED.value: "自动回访未接通，转人工回访",
}


@dataclass(frozen=True)
class ToCallBack:
    order: OrderLine
    replied_at: str | None
    callback_due_at: str | None
    seconds_left: int | None      # negative: the callback window has passed
    automated: str                # what the automated callback did last ("" nothing yet)
    automated_detail: str
    quality_approved: bool
    round: int


def callback_list(session: Session, cfg: DeskSettings) -> list[ToCallBack]:
    """Replied orders waiting for their callback, the nearest window end first."""
    orders = session.scalars(
        select(WorkOrder).where(WorkOrder.status == Status.REPLIED.value)
        .order_by(WorkOrder.callback_due_at, WorkOrder.id).limit(LIST_MAX)).all()
    events = _events(session, (o.id for o in orders))
    now = cfg.now()
    out = []
    for order in orders:
        evs = events[order.id]
        last_reply = max(e.seq for e in evs if e.kind == EventKind.REPLIED.value)
        campaign = [e for e in evs if e.kind in CAMPAIGN_KINDS and e.seq > last_reply
                    and e.data.get("campaign", CALLBACK) == CALLBACK]
        last = campaign[-1] if campaign else None
        detail = ""
        if last is not None and last.kind == EventKind.CALL_ATTEMPT.value:
            detail = f"第{last.data.get('seq', '')}次: {last.data.get('outcome', '')}"
        elif last is not None and last.kind == EventKind.CALL_UNREACHED.value:
            detail = str(last.data.get("reason", ""))
        state = fold(EventRecord(e.kind, e.at, e.unit, e.data) for e in evs)
        due = order.callback_due_at
        out.append(ToCallBack(
            order=_line(order, cfg.zone), replied_at=_iso(order.replied_at, cfg.zone),
            callback_due_at=_iso(due, cfg.zone),
            seconds_left=int((due - now).total_seconds()) if due else None,
            automated=OUTCOME_WORDS.get(last.kind, "") if last is not None else "",
            automated_detail=detail, quality_approved=state.quality_approved,
            round=len(state.evaluations) + 1))
    return out


# ------------------------------------------------------------------ monitoring pool


@dataclass(frozen=True)
class Reminder:
    at: str | None
    what: str


@dataclass(frozen=True)
class InPool:
    order: OrderLine
    why: list[str]
    on_ledger: bool
    ledger_criteria: str
    reminders: list[Reminder] = field(default_factory=list)


REMINDER_WORDS = {
    EventKind.REMINDER.value: "催办",
    EventKind.REMINDER_CALL_SCHEDULED.value: "催办电话已排队",
    EventKind.REMINDER_CONFIRMED.value: "联络员已确认催办",
    EventKind.SPECIAL_SUPERVISION.value: "启动专项督办",
}


def monitoring_list(session: Session, cfg: DeskSettings) -> list[InPool]:
    """Open C and D orders (工单监测池), D first."""
    orders = session.scalars(
        select(WorkOrder).where(WorkOrder.grade.in_(("C", "D")),
                                WorkOrder.status.in_([s.value for s in OPEN_STATUSES]))
        .order_by(WorkOrder.grade.desc(), WorkOrder.id).limit(LIST_MAX)).all()
    events = _events(session, (o.id for o in orders))
    out = []
    for order in orders:
        evs = events[order.id]
        state = fold(EventRecord(e.kind, e.at, e.unit, e.data) for e in evs)
        why = []
        if state.satisfied is False:
            label = EVALUATION_LABELS.get(state.evaluation, "") if state.evaluation else ""
            why.append(f"群众不满意（{label}）")
        if state.extensions_approved:
            why.append(f"延期 {state.extensions_approved} 次")
        ledger = [e for e in evs if e.kind == EventKind.LEDGER_OPENED.value]
        if state.on_ledger:
            why.append("挂账")
        out.append(InPool(
            order=_line(order, cfg.zone), why=why, on_ledger=state.on_ledger,
            ledger_criteria=str(ledger[-1].data.get("criteria", "")) if ledger else "",
            reminders=[Reminder(_iso(e.at, cfg.zone), REMINDER_WORDS[e.kind])
                       for e in evs if e.kind in REMINDER_WORDS]))
    return out


# ------------------------------------------------------------------ supervision


@dataclass(frozen=True)
class Supervised:
    order: OrderLine
    light: str
    reminded_at: str | None
    special_supervision_at: str | None


def supervision_list(session: Session, cfg: DeskSettings) -> list[Supervised]:
    """Red, then yellow orders, and every order under special supervision (专项督办)."""
    now = cfg.now()
    flagged = {row.order_id: row.light.value for row in lights(session, cfg.preset, now)
               if row.light.value in ("yellow", "red")}
    special = session.scalars(
        select(WorkOrderEvent.order_id).join(WorkOrder, WorkOrder.id == WorkOrderEvent.order_id)
        .where(WorkOrderEvent.kind == EventKind.SPECIAL_SUPERVISION.value,
               WorkOrder.status.in_([s.value for s in OPEN_STATUSES]))).all()
    ids = sorted(set(flagged) | set(special),
                 key=lambda i: (flagged.get(i) != "red", flagged.get(i) != "yellow", i))
    ids = ids[:LIST_MAX]
    orders = {o.id: o for o in session.scalars(select(WorkOrder).where(WorkOrder.id.in_(ids)))}
    events = _events(session, ids)
    out = []
    for oid in ids:
        state = fold(EventRecord(e.kind, e.at, e.unit, e.data) for e in events[oid])
        if oid not in flagged and state.special_supervision_at is None:
            continue   # its special supervision ended with a redo
        out.append(Supervised(
            order=_line(orders[oid], cfg.zone), light=flagged.get(oid, ""),
            reminded_at=_iso(state.reminded_at, cfg.zone),
            special_supervision_at=_iso(state.special_supervision_at, cfg.zone)))
    return out
