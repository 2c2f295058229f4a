"""The platform's reviews of a unit's work (平台审核): a disputed return (退单审核) and the
quality check of a reply (质检).

Return review (国办函〔2025〕66号 asks for the review of dispatch disputes with return and
re-dispatch): a lead unit's return puts the order back to ``pending_dispatch`` with the
return *waiting for review* (:attr:`OrderState.return_pending_from`). The dispatcher
either accepts it — ``return_accepted``, then the re-dispatch (改派) to another unit as
:func:`~hotline_core.workorders.desk.dispatch` records it — or refuses it with a reason —
``return_refused``: the order goes back to the returning unit in the state it had before
the return (signed or not), its handling deadline unchanged (the clock kept running: the
return was not justified).

Quality check (R-SEATS 质检): a reply waiting for its callback (``replied``) is approved
(``quality_approved``) or sent back with the reason (``quality_sent_back``): the order goes
back to the lead unit (``handling``, or ``redo`` in a redo round) to reply again. The
quality check does not hold back the callback (no rule asks it); a callback already
queued for the sent-back reply is cancelled by the dialer's stale pass because the order
is no longer ``replied``, and the new reply is called back afresh.

Every command runs in the caller's session and transaction like the desk's: a refused
command leaves nothing behind.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from hotline_core.access import Principal, Role
from hotline_core.workorders import deadlines
from hotline_core.workorders.desk import (
    STAFF,
    Conflict,
    DeskSettings,
    Invalid,
    _append,
    _in_status,
    _iso,
    _require,
    _rules,
    _set_assignments,
    dispatch,
    events_of,
    load,
    state_of,
)
from hotline_core.workorders.dispatch import UnitChoiceError, choose_units
from hotline_core.workorders.lifecycle import (
    EventKind,
    EventRecord,
    OrderState,
    Status,
    fold,
)
from hotline_core.workorders.model import WorkOrder

# Who checks replies: the quality group (质检员) and supervisors.
QUALITY_CHECKERS = frozenset({Role.QUALITY, Role.SUPERVISOR})
REASON_MAX = 500   # characters; the API's schemas use the same bound


def _reason(text: str, *, required: bool) -> str:
    text = text.strip()
    if required and not text:
        raise Invalid("reason: give the reason (it is kept with the order)", field="reason")
    if len(text) > REASON_MAX:
        raise Invalid(f"reason: at most {REASON_MAX} characters", field="reason")
    return text


def _pending_return(state: OrderState, order_id: int) -> str:
    if state.return_pending_from is None:
        raise Conflict(f"work order {order_id} has no return waiting for review",
                       order_status=state.status.value)
    return state.return_pending_from


def accept_return(session: Session, cfg: DeskSettings, who: Principal, order_id: int, *,
                  lead: str | None = None, assists: Sequence[str] = (),
                  reason: str = "") -> OrderState:
    """Accept the return and re-dispatch (改派): by the responsibility list when ``lead`` is
    None, else to the named units (the reason is then required, as for any manual
    dispatch). The new lead may not be the unit that returned the order: that is a
    refusal (:func:`refuse_return`)."""
    _require(who, STAFF, "review returns")
    note = _reason(reason, required=False)
    if lead is not None and not note:
        # Checked before anything is written (dispatch would refuse it after the accept).
        raise Invalid("reason: a dispatcher who chooses the units must give the reason",
                      field="reason")
    order = load(session, order_id, lock=True)
    state = state_of(session, order)
    returned_by = _pending_return(state, order.id)
    new_lead = lead
    if new_lead is None:
        try:
            new_lead = choose_units(session, order.matter, order.locality, order.address).lead
        except UnitChoiceError as exc:
            raise Invalid(f"{exc}; name the lead unit and the reason", field="lead") from exc
    if new_lead == returned_by:
        raise Invalid(f"lead: {returned_by!r} returned this order; choose another unit, or "
                      "refuse the return to send it back", field="lead")
    _append(session, order, EventKind.RETURN_ACCEPTED, who, cfg.now(),
            {"unit": returned_by, "reason": note})
    return dispatch(session, cfg, who, order.id, lead=lead, assists=assists, reason=note)


def _before_return(events: list[EventRecord], unit: str) -> OrderState:
    """The order as it stood just before ``unit``'s last return."""
    last = max(i for i, e in enumerate(events)
               if e.kind == EventKind.RETURNED.value and e.unit == unit)
    return fold(events[:last])


def refuse_return(session: Session, cfg: DeskSettings, who: Principal, order_id: int,
                  reason: str) -> OrderState:
    """Refuse the return with a reason: the order goes back to the returning unit as it
    was (signed: ``handling``; not yet signed: ``dispatched`` with a new sign-off
    deadline counted from now), with the assisting units it had."""
    _require(who, STAFF, "review returns")
    why = _reason(reason, required=True)
    order = load(session, order_id, lock=True)
    records = [EventRecord(e.kind, e.at, e.unit, e.data) for e in events_of(session, order.id)]
    state = fold(records)
    _in_status(state, [Status.PENDING_DISPATCH], "refuse the return of")
    unit = _pending_return(state, order.id)
    before = _before_return(records, unit)
    now = cfg.now()
    signed = before.status is Status.HANDLING
    data: dict[str, Any] = {
        "reason": why, "lead": unit, "assists": list(before.assisting_units),
        "status": (Status.HANDLING if signed else Status.DISPATCHED).value,
        "signed_units": list(before.signed_units), "signed_at": _iso(before.signed_at),
        "return_due_at": _iso(before.return_due_at),
        "sign_due_at": None if signed else _iso(_rules(lambda: deadlines.sign_off_due(
            cfg.preset, cfg.calendar, now))),
    }
    _set_assignments(session, order, unit, list(before.assisting_units))
    return _append(session, order, EventKind.RETURN_REFUSED, who, now, data, unit=unit)


def _reply_to_check(session: Session, order_id: int,
                    doing: str) -> tuple[WorkOrder, OrderState]:
    """The order (locked) and its state, when its reply waits for the quality check."""
    order = load(session, order_id, lock=True)
    state = state_of(session, order)
    _in_status(state, [Status.REPLIED], doing)
    if state.quality_approved:
        raise Conflict(f"the reply of work order {order.id} is already approved")
    return order, state


def approve_reply(session: Session, cfg: DeskSettings, who: Principal, order_id: int,
                  note: str = "") -> OrderState:
    """The quality check approves the current reply (质检通过)."""
    _require(who, QUALITY_CHECKERS, "check replies")
    text = _reason(note, required=False)
    order, _state = _reply_to_check(session, order_id, "approve the reply of")
    return _append(session, order, EventKind.QUALITY_APPROVED, who, cfg.now(),
                   {"note": text})


def send_reply_back(session: Session, cfg: DeskSettings, who: Principal, order_id: int,
                    reason: str) -> OrderState:
    """The quality check sends the reply back to the lead unit (质检退回) with the reason;
    the unit replies again within its handling deadline."""
    _require(who, QUALITY_CHECKERS, "check replies")
    why = _reason(reason, required=True)
    order, state = _reply_to_check(session, order_id, "send back the reply of")
    return _append(session, order, EventKind.QUALITY_SENT_BACK, who, cfg.now(),
                   {"reason": why}, unit=state.lead_unit)
