"""The automated satisfaction callback (全量回访, R-CALLBACK, R-REDO): which orders are due,
what the call says, and what the citizen's answer does to the order.

Every order with a unit reply (status ``replied``) is called once per reply round, inside
the preset's ``[callback] limit`` (the reply event wrote ``callback_due_at``): the order is
queued as a target of the dialer (:mod:`hotline_core.campaigns`) in the same transaction as
its ``callback_scheduled`` event, so it is queued exactly once. The citizen rates the
handling 1–5 by key or by voice; the rating is the order's evaluation through the desk's
own :func:`~hotline_core.workorders.desk.evaluate`, so an unsatisfied rating (the preset's
``[satisfaction]``: 不满意 and 非常不满意 under every shipped preset) moves the order to
review, the way to a redo (重办), exactly as a rating typed in by callback staff does.
Each attempt is a ``call_attempt`` event; a target the dialer gives up on goes to the
human callback worklist (the dialer's ``worklist`` state) and the order gets a
``call_unreached`` event.

The campaign events never carry the citizen's number or voice: units read an order's
events, and R-PRIVACY keeps the citizen's identity from them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, exists, func, or_, select
from sqlalchemy.orm import Session, aliased

from hotline_core.access import Principal, Role
from hotline_core.campaigns.model import (
    Campaign,
    CampaignAttempt,
    CampaignKind,
    CampaignTarget,
    TargetState,
)
from hotline_core.campaigns.store import Destination, enqueue_in
from hotline_core.workorders.desk import (
    Conflict,
    DeskSettings,
    _append,
    evaluate,
    load,
    state_of,
)
from hotline_core.workorders.lifecycle import UNIT_WORKING, EventKind, OrderState, Status
from hotline_core.workorders.model import Unit, WorkOrder, WorkOrderEvent
from hotline_core.workorders.presets import SatisfactionLevel

# The IVR records evaluations as a callback agent (回访员) would; the actor's name says it
# was the automated call.
IVR_CALLBACK = Principal(name="ivr-callback", role=Role.CALLBACK)
PLATFORM = Principal(name="platform", role=Role.SUPERVISOR)
CITIZEN = "citizen"   # the role of the callback's only destination

# The spoken scale, in the order 12345 callback scripts read it: key 1 = 非常满意 …
# key 5 = 非常不满意 (huizhou's five levels, R-CALLBACK).
RATING_KEYS: dict[str, SatisfactionLevel] = {
    "1": SatisfactionLevel.VERY_SATISFIED,
    "2": SatisfactionLevel.SATISFIED,
    "3": SatisfactionLevel.BASICALLY_SATISFIED,
    "4": SatisfactionLevel.UNSATISFIED,
    "5": SatisfactionLevel.VERY_UNSATISFIED,
}


def rating_for_key(key: str) -> SatisfactionLevel | None:
    """The level a key (or a speech grammar's choice key) stands for; None otherwise."""
    return RATING_KEYS.get(key.strip())


def _last_seq(order_id: Any, kind: EventKind) -> Any:
    ev = aliased(WorkOrderEvent)
    return (select(func.max(ev.seq)).where(ev.order_id == order_id, ev.kind == kind.value)
            .scalar_subquery())


# ------------------------------------------------------------------ which orders are due


def due_for_callback(session: Session, limit: int = 500) -> list[int]:
    """Orders waiting for their callback whose current reply has no callback queued yet,
    oldest reply first (the nearest to the end of its window)."""
    scheduled = aliased(WorkOrderEvent)
    already = exists().where(and_(
        scheduled.order_id == WorkOrder.id,
        scheduled.kind == EventKind.CALLBACK_SCHEDULED.value,
        scheduled.seq > _last_seq(WorkOrder.id, EventKind.REPLIED)))
    stmt = (select(WorkOrder.id).where(WorkOrder.status == Status.REPLIED.value, ~already)
            .order_by(WorkOrder.replied_at, WorkOrder.id).limit(limit))
    return list(session.scalars(stmt))


def _callback_key(order_id: int, rounds: int, send_backs: int) -> str:
    """One dialer target per reply: a reply the quality check sent back (质检退回) had its
    target cancelled, so the unit's new reply needs a key of its own."""
    key = f"order/{order_id}/round/{rounds}"
    return f"{key}/resent/{send_backs}" if send_backs else key


def schedule_callback(session: Session, cfg: DeskSettings, order_id: int) -> int | None:
    """Queue the order's callback for its current reply round; the dialer's target id, or
    None when the order has no number to call (it goes to staff at once)."""
    order = load(session, order_id, lock=True)
    state = state_of(session, order)
    if state.status is not Status.REPLIED:
        raise Conflict(f"work order {order_id} is {state.status.value}, not replied")
    rounds = len(state.evaluations) + 1
    data: dict[str, Any] = {"round": rounds, "due_by": _iso(state.callback_due_at)}
    if not order.caller_number:
        _append(session, order, EventKind.CALLBACK_SCHEDULED, PLATFORM, cfg.now(), data)
        _append(session, order, EventKind.CALL_UNREACHED, PLATFORM, cfg.now(), {
            "campaign": CampaignKind.SATISFACTION_CALLBACK.value, "attempts": 0,
            "reason": "the order has no caller number"})
        return None
    target_id, _created = enqueue_in(
        session, CampaignKind.SATISFACTION_CALLBACK, line=order.line,
        destinations=[Destination(order.caller_number, CITIZEN)],
        key=_callback_key(order.id, rounds, state.quality_send_backs), order_id=order.id,
        data={"order_id": order.id, "round": rounds})
    _append(session, order, EventKind.CALLBACK_SCHEDULED, PLATFORM, cfg.now(),
            {**data, "target": target_id})
    return target_id


def schedule_callbacks(session: Session, cfg: DeskSettings, limit: int = 500) -> list[int]:
    """One pass: queue every due order's callback; returns the orders queued."""
    done = []
    for order_id in due_for_callback(session, limit):
        schedule_callback(session, cfg, order_id)
        done.append(order_id)
    return done


def stale_targets(session: Session, limit: int = 500) -> list[int]:
    """Pending dialer targets no longer wanted: a callback whose order is no longer waiting
    for it (staff evaluated it by hand), a reminder call whose unit has replied or returned
    the order. The pass cancels them, so nobody is called for nothing."""
    working = [s.value for s in UNIT_WORKING]
    stmt = (select(CampaignTarget.id)
            .join(Campaign, Campaign.id == CampaignTarget.campaign_id)
            .join(WorkOrder, WorkOrder.id == CampaignTarget.order_id)
            .where(CampaignTarget.state == TargetState.PENDING.value, or_(
                and_(Campaign.kind == CampaignKind.SATISFACTION_CALLBACK.value,
                     WorkOrder.status != Status.REPLIED.value),
                and_(Campaign.kind == CampaignKind.REMINDER.value,
                     WorkOrder.status.not_in(working))))
            .order_by(CampaignTarget.id).limit(limit))
    return list(session.scalars(stmt))


# ------------------------------------------------------------------ what the call says


@dataclass(frozen=True)
class CallbackScript:
    """What the IVR tells the citizen: the order, its unit and a short result (办理结果);
    ``open`` is False once the order no longer waits for this callback."""

    order_id: int
    unit_name: str
    result: str
    open: bool

    @property
    def text(self) -> str:
        """The order's own sentence, in Chinese, for its generated prompt."""
        return f"由{self.unit_name}办理。办理结果:{self.result}"


RESULT_CHARS = 80   # a phone prompt, not the reply: its first sentences up to this length


def short_result(text: str, limit: int = RESULT_CHARS) -> str:
    """The reply's result cut at a sentence end within ``limit`` characters (or hard)."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = max(text.rfind(mark, 0, limit) for mark in "。!?;!?;")
    return text[: cut + 1] if cut > 0 else text[:limit] + "…"


def callback_script(session: Session, order_id: int) -> CallbackScript:
    """The script of the order's current callback, from its last reply."""
    order = load(session, order_id)
    replied = session.scalars(
        select(WorkOrderEvent).where(WorkOrderEvent.order_id == order_id,
                                     WorkOrderEvent.kind == EventKind.REPLIED.value)
        .order_by(WorkOrderEvent.seq.desc()).limit(1)).first()
    parts = dict(replied.data.get("parts", {})) if replied is not None else {}
    result = str(parts.get("result") or parts.get("response") or "")
    unit = session.get(Unit, order.lead_unit) if order.lead_unit else None
    return CallbackScript(order_id=order.id, unit_name=unit.name if unit else "承办单位",
                          result=short_result(result),
                          open=order.status == Status.REPLIED.value)


# ------------------------------------------------------------------ the citizen's answer


@dataclass(frozen=True)
class Rating:
    """The citizen's answer on the call."""

    level: SatisfactionLevel
    by: str                 # "dtmf" or "voice"
    heard: str = ""         # the phrase the grammar matched (voice)


def record_rating(session: Session, cfg: DeskSettings, order_id: int,
                  rating: Rating) -> OrderState:
    """The rating becomes the order's evaluation (the desk's ``evaluate``: an unsatisfied
    level moves the order to review, the way to a redo). Refused (desk Conflict) when the
    order no longer waits for its callback, e.g. staff evaluated it meanwhile."""
    how = f"自动回访: {'按键' if rating.by == 'dtmf' else '语音'}"
    return evaluate(session, cfg, IVR_CALLBACK, order_id, rating.level,
                    comment=f"{how} {rating.heard}".strip())


# ------------------------------------------------------------------ order events (dialer hooks)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


class OrderCampaignHooks:
    """The dialer's hooks for kinds about a work order: every attempt that ends is a
    ``call_attempt`` event, a target sent to the worklist a ``call_unreached`` event. Run
    inside the dialer's transaction, so event and attempt commit together."""

    def __init__(self, cfg: DeskSettings, kind: CampaignKind) -> None:
        self.cfg = cfg
        self.kind = kind

    def attempt_ended(self, session: Session, target: CampaignTarget,
                      attempt: CampaignAttempt) -> None:
        if target.order_id is None:
            return
        order = load(session, target.order_id, lock=True)
        data: dict[str, Any] = {
            "campaign": self.kind.value, "target": target.id, "attempt": attempt.id,
            "seq": attempt.seq, "outcome": attempt.outcome, "party": attempt.role,
            "channel": attempt.channel,
        }
        unit = None
        if attempt.role != CITIZEN:
            # A liaison's phone is the unit directory's; a citizen's never enters an event.
            data.update(_liaison(target, attempt))
            unit = order.lead_unit
        _append(session, order, EventKind.CALL_ATTEMPT, PLATFORM, self.cfg.now(), data,
                unit=unit)

    def target_closed(self, session: Session, target: CampaignTarget) -> None:
        if target.order_id is None or target.state != TargetState.WORKLIST.value:
            return
        order = load(session, target.order_id, lock=True)
        _append(session, order, EventKind.CALL_UNREACHED, PLATFORM, self.cfg.now(), {
            "campaign": self.kind.value, "target": target.id, "attempts": target.attempts,
            "reason": target.outcome or "no attempt reached anyone",
        })


def _liaison(target: CampaignTarget, attempt: CampaignAttempt) -> dict[str, str]:
    """The liaison's name (the target's data) and phone (its destination)."""
    names = target.data.get("names", {}) if isinstance(target.data, dict) else {}
    phone = next((str(d.get("number", "")) for d in target.destinations
                  if d.get("role") == attempt.role), attempt.number)
    return {"name": str(names.get(attempt.role, "")), "phone": phone}
