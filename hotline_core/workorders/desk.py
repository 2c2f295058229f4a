"""The work-order desk (工单台): every command that changes an order.

Each command checks who asks and the order's current state, asks the rule layer for
deadlines, appends one or more events and refreshes the order's projection, all in the
caller's session: the caller commits once, so a refused command leaves nothing behind.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, tzinfo
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hotline_core.access import Principal, Role
from hotline_core.call_records import CallRecord
from hotline_core.clock import DEFAULT_ZONE, in_zone, utc_now
from hotline_core.workorders import deadlines
from hotline_core.workorders.acceptance import REASONS, NotAcceptedReason, find_duplicate
from hotline_core.workorders.calendar import CalendarGapError, WorkingCalendar
from hotline_core.workorders.dispatch import UnitChoiceError, choose_units
from hotline_core.workorders.lifecycle import (
    UNIT_WORKING,
    EventKind,
    EventRecord,
    OrderState,
    Status,
    fold,
)
from hotline_core.workorders.lights import set_light_instant
from hotline_core.workorders.model import (
    KnowledgeEntry,
    Unit,
    UnitAssignment,
    WorkOrder,
    WorkOrderEvent,
)
from hotline_core.workorders.presets import Category, Preset, SatisfactionLevel
from hotline_core.workorders.replies import ReplyDraft, check_reply


class WorkOrderError(Exception):
    """A refused command; ``status`` is the HTTP status the API answers with."""

    status = 409

    def __init__(self, reason: str, **extra: Any) -> None:
        super().__init__(reason)
        self.reason = reason
        self.extra = extra


class NotFound(WorkOrderError):
    status = 404


class Forbidden(WorkOrderError):
    status = 403


class Invalid(WorkOrderError):
    status = 422


class Conflict(WorkOrderError):
    status = 409


class OrderChanged(Conflict):
    """Another command changed the order between this command's read and its write.

    Every event takes the next sequence number of its order, and (order id, seq) is
    unique in the database: of two commands that read the same state, the second to
    write is refused whole, and the client may simply retry on the new state.
    """

    def __init__(self, order_id: int) -> None:
        super().__init__(f"work order {order_id}: the order changed meanwhile, retry",
                         retry=True)


class RulesUnavailable(WorkOrderError):
    """The working-day calendar has no data for the dates needed (year not published)."""

    status = 503


@dataclass(frozen=True)
class DeskSettings:
    """Everything the desk needs besides the database, validated at start-up."""

    preset: Preset
    calendar: WorkingCalendar
    # How long after closing an order a repeat call about it is still a duplicate (重复件).
    duplicate_window: timedelta = timedelta(days=30)
    # The hotline's zone (``[workorders] time_zone``): where its days begin and end.
    zone: tzinfo = DEFAULT_ZONE
    # Reads the current instant; the default is aware UTC, never the host's zone.
    clock: Callable[[], datetime] = utc_now

    def now(self) -> datetime:
        """The clock's reading as an aware instant; a naive reading (a test's hand-set
        clock) is wall-clock time in the hotline's zone."""
        return in_zone(self.clock(), self.zone)


@dataclass(frozen=True)
class Intake:
    """What an agent or a web/API channel records for a new demand."""

    channel: str
    category: Category
    description: str
    caller_number: str = ""
    caller_name: str = ""
    line: str = "12345"
    address: str = ""
    locality: str = ""
    matter: str = ""
    confidential: bool = False
    emergency: bool = False
    priority: int = 0
    leader_instruction: bool = False
    call_record_id: str | None = None
    recording: str | None = None  # only the named call's own (see _from_call)
    department: str = ""  # set from the call record, never by the client
    new_information: bool = False  # the caller brings something new: never a duplicate
    publish_consent: bool = False  # the citizen agreed to publication on Open311


@dataclass(frozen=True)
class CreateResult:
    order: WorkOrder
    created: bool
    duplicate_of: int | None = None


@dataclass
class ReplyOutcome:
    accepted: bool
    problems: list[str] = field(default_factory=list)


CHANNELS = frozenset({"phone", "web", "api", "sms", "wechat", "app", "station"})
STAFF = frozenset({Role.DISPATCHER, Role.SUPERVISOR})


def _require(who: Principal, roles: frozenset[Role] | set[Role], action: str) -> None:
    if who.role not in roles:
        allowed = ", ".join(sorted(r.value for r in roles))
        raise Forbidden(f"{who.role.value} may not {action}; allowed: {allowed}")


def _rules(fn: Callable[[], datetime]) -> datetime:
    try:
        return fn()
    except CalendarGapError as exc:
        raise RulesUnavailable(str(exc)) from exc


# ------------------------------------------------------------------ events & projection


def events_of(session: Session, order_id: int) -> list[WorkOrderEvent]:
    stmt = (select(WorkOrderEvent).where(WorkOrderEvent.order_id == order_id)
            .order_by(WorkOrderEvent.seq))
    return list(session.scalars(stmt))


def state_of(session: Session, order: WorkOrder) -> OrderState:
    return fold(EventRecord(e.kind, e.at, e.unit, e.data) for e in events_of(session, order.id))


def _append(
    session: Session, order: WorkOrder, kind: EventKind, who: Principal, at: datetime,
    data: dict[str, Any] | None = None, unit: str | None = None,
) -> OrderState:
    """Record one event and rewrite the projection from the whole stream."""
    session.add(WorkOrderEvent(
        order_id=order.id, seq=order.event_count + 1, kind=kind.value, at=at,
        actor=who.name, actor_role=who.role.value, unit=unit, data=dict(data or {}),
    ))
    order.event_count += 1
    order_id = order.id  # the failed flush below expires the order's attributes
    try:
        session.flush()
    except IntegrityError as exc:
        if _is_sequence_clash(exc):
            raise OrderChanged(order_id) from exc
        raise
    state = state_of(session, order)
    _project(order, state)
    set_light_instant(session, order)  # the light's stored yellow instant (lights.py)
    return state


def _is_sequence_clash(exc: IntegrityError) -> bool:
    """The unique (order id, seq) of the event table refused a second event ``seq``."""
    diag = getattr(exc.orig, "diag", None)  # psycopg names the constraint
    if diag is not None and getattr(diag, "constraint_name", None):
        return bool(diag.constraint_name == "uq_wo_events_order_seq")
    return "wo_events.order_id, wo_events.seq" in str(exc.orig)  # SQLite names the columns


def _project(order: WorkOrder, s: OrderState) -> None:
    order.status = s.status.value
    order.lead_unit = s.lead_unit
    order.due_at = s.due_at
    order.handling_started_at = s.handling_started_at
    order.dispatched_at = s.dispatched_at
    order.sign_due_at = s.sign_due_at
    order.signed_at = s.signed_at
    order.replied_at = s.replied_at
    order.callback_due_at = s.callback_due_at
    order.closed_at = s.closed_at
    order.redo_count = s.redo_count
    order.evaluation = s.evaluation.value if s.evaluation else None
    order.grade = s.grade
    order.excluded_from_score = s.excluded_from_score
    order.leader_instruction = s.leader_instruction
    order.late_replies = s.late_replies
    order.late_returns = s.late_returns


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def load(session: Session, order_id: int, *, lock: bool = False) -> WorkOrder:
    order = session.get(WorkOrder, order_id, with_for_update=lock)
    if order is None:
        raise NotFound(f"work order {order_id} does not exist")
    return order


def _in_status(state: OrderState, allowed: Sequence[Status], action: str) -> None:
    if state.status not in allowed:
        raise Conflict(
            f"cannot {action} a work order that is {state.status.value}; "
            f"it must be {' or '.join(s.value for s in allowed)}",
            order_status=state.status.value,
        )


# ------------------------------------------------------------------ intake (受理)


def _validate_intake(intake: Intake) -> None:
    if intake.channel not in CHANNELS:
        raise Invalid(f"channel {intake.channel!r} is not one of {sorted(CHANNELS)}",
                      field="channel")
    if not intake.description.strip():
        raise Invalid("description must not be empty", field="description")
    if intake.channel == "phone" and not intake.call_record_id:
        raise Invalid("an order from a call must name its call_record_id", field="call_record_id")


def _from_call(session: Session, intake: Intake) -> Intake:
    """An order made from a call takes line, department, caller and recording from the
    call record on the server, whatever the client sent for line and caller; a recording
    the client names must be that call's own. Without a call, no recording."""
    if not intake.call_record_id:
        if intake.recording:
            raise Invalid("recording: only a call brings a recording; name the call's "
                          "call_record_id", field="recording")
        return intake
    record = session.get(CallRecord, intake.call_record_id)
    if record is None:
        raise Invalid(f"call_record_id {intake.call_record_id!r} names no call record",
                      field="call_record_id")
    own = record.recording or record.message
    if intake.recording and intake.recording != own:
        raise Invalid(f"recording: not the recording of call {intake.call_record_id!r}; "
                      "leave it out, it comes from the call record", field="recording")
    return replace(intake, line=record.line, department=record.department,
                   caller_number=record.caller, recording=own)


def _new_order(session: Session, intake: Intake, who: Principal, now: datetime) -> WorkOrder:
    order = WorkOrder(
        received_at=now, channel=intake.channel, call_record_id=intake.call_record_id,
        recording=intake.recording, line=intake.line, department=intake.department,
        caller_number=intake.caller_number,
        caller_name=intake.caller_name, category=intake.category.value,
        description=intake.description, address=intake.address, locality=intake.locality,
        matter=intake.matter, confidential=intake.confidential, emergency=intake.emergency,
        publish_consent=intake.publish_consent,
        priority=intake.priority, created_by=who.name, status=Status.PENDING_DISPATCH.value,
        event_count=0,
    )
    session.add(order)
    session.flush()
    return order


def _created_data(intake: Intake, due: datetime | None) -> dict[str, Any]:
    # The caller's identity stays on the order row only, so no event ever carries it.
    return {
        "channel": intake.channel, "category": intake.category.value, "line": intake.line,
        "matter": intake.matter, "locality": intake.locality, "confidential": intake.confidential,
        "emergency": intake.emergency, "priority": intake.priority,
        "leader_instruction": intake.leader_instruction,
        "publish_consent": intake.publish_consent,
        "call_record_id": intake.call_record_id, "department": intake.department,
        "due_at": _iso(due),
    }


def create_order(session: Session, cfg: DeskSettings, who: Principal,
                 intake: Intake) -> CreateResult:
    """Accept a demand as a work order, or link it to the order it repeats."""
    _require(who, {Role.OPERATOR, Role.DISPATCHER}, "create work orders")
    _validate_intake(intake)
    intake = _from_call(session, intake)
    now = cfg.now()
    if not intake.new_information:
        existing = find_duplicate(
            session, caller_number=intake.caller_number, locality=intake.locality,
            matter=intake.matter, now=now, window=cfg.duplicate_window,
        )
        if existing is not None:
            _append(session, existing, EventKind.DUPLICATE_LINKED, who, now, {
                "channel": intake.channel, "call_record_id": intake.call_record_id,
                "description": intake.description,
                "reason": "同一事实、同一理由重复反映, 无新情况新内容",
            })
            return CreateResult(existing, created=False, duplicate_of=existing.id)
    due = _rules(lambda: deadlines.due_at(cfg.preset, cfg.calendar, intake.category, now,
                                          intake.emergency))
    order = _new_order(session, intake, who, now)
    _append(session, order, EventKind.CREATED, who, now, _created_data(intake, due))
    return CreateResult(order, created=True)


def record_not_accepted(session: Session, cfg: DeskSettings, who: Principal, intake: Intake,
                        reason: NotAcceptedReason, note: str = "") -> WorkOrder:
    """Keep the record of a demand that is not accepted, with reason and proper channel."""
    _require(who, {Role.OPERATOR, Role.DISPATCHER}, "record not-accepted demands")
    _validate_intake(intake)
    intake = _from_call(session, intake)
    now = cfg.now()
    order = _new_order(session, intake, who, now)
    _append(session, order, EventKind.CREATED, who, now, _created_data(intake, None))
    text = REASONS[reason]
    _append(session, order, EventKind.NOT_ACCEPTED, who, now, {
        "reason": reason.value, "label": text.label, "proper_channel": text.proper_channel,
        "note": note,
    })
    return order


def answer_from_knowledge_base(session: Session, cfg: DeskSettings, who: Principal,
                               intake: Intake, entry_id: int) -> WorkOrder:
    """A consult answered on the spot from the knowledge base (即办): closed at once."""
    _require(who, {Role.OPERATOR, Role.DISPATCHER}, "answer from the knowledge base")
    if intake.category not in (Category.CONSULT, Category.HELP):
        raise Invalid("only consult and help demands are answered on the spot",
                      field="category")
    entry = session.get(KnowledgeEntry, entry_id)
    if entry is None:
        raise Invalid(f"knowledge-base entry {entry_id} does not exist", field="kb_entry_id")
    _validate_intake(intake)
    intake = _from_call(session, intake)
    now = cfg.now()
    order = _new_order(session, intake, who, now)
    _append(session, order, EventKind.CREATED, who, now, _created_data(intake, None))
    _append(session, order, EventKind.KB_ANSWERED, who, now, {
        "entry_id": entry.id, "question": entry.question, "answer": entry.answer,
        "unit": entry.unit_code,
    })
    return order


# ------------------------------------------------------------------ dispatch (派单)


def _set_assignments(session: Session, order: WorkOrder, lead: str, assists: list[str]) -> None:
    wanted = {lead: "lead", **{a: "assist" for a in assists}}
    by_unit = {a.unit_code: a for a in order.assignments}
    for unit, a in by_unit.items():
        if unit not in wanted:
            a.active = False
    for unit, role in wanted.items():
        if unit in by_unit:
            by_unit[unit].role, by_unit[unit].active = role, True
        else:
            order.assignments.append(UnitAssignment(unit_code=unit, role=role, active=True))


def dispatch(session: Session, cfg: DeskSettings, who: Principal, order_id: int, *,
             lead: str | None = None, assists: Sequence[str] = (),
             reason: str = "") -> OrderState:
    """Dispatch by the responsibility list, or to the units a dispatcher names with a reason.

    A matter that needs a leader's instruction first goes to approval instead.
    """
    _require(who, STAFF, "dispatch work orders")
    order = load(session, order_id, lock=True)
    state = state_of(session, order)
    _in_status(state, [Status.PENDING_DISPATCH], "dispatch")
    now = cfg.now()
    if lead is None:
        try:
            choice = choose_units(session, order.matter, order.locality, order.address)
        except UnitChoiceError as exc:
            raise Invalid(f"{exc}; name the lead unit and the reason", field="lead") from exc
        lead, assist_list, reasons, how = choice.lead, choice.assists, choice.reasons, "auto"
        if choice.approval and not state.leader_instruction:
            return _append(session, order, EventKind.APPROVAL_REQUESTED, who, now, {
                "kind": choice.approval, "reasons": choice.reasons,
                "proposed_lead": choice.lead, "proposed_assists": choice.assists,
            })
    else:
        if not reason.strip():
            raise Invalid("a dispatcher who chooses the units must give the reason",
                          field="reason")
        assist_list, reasons, how = [a for a in assists if a != lead], [reason.strip()], "manual"
        for code in [lead, *assist_list]:
            if session.get(Unit, code) is None:
                raise Invalid(f"unit {code!r} does not exist", field="lead")
    sign_due = _rules(lambda: deadlines.sign_off_due(cfg.preset, cfg.calendar, now))
    _set_assignments(session, order, lead, assist_list)
    return _append(session, order, EventKind.DISPATCHED, who, now, {
        "lead": lead, "assists": assist_list, "reasons": reasons, "routing": how,
        "sign_due_at": _iso(sign_due),
    })


def request_approval(session: Session, cfg: DeskSettings, who: Principal, order_id: int,
                     kind: str, reason: str) -> OrderState:
    _require(who, STAFF | {Role.OPERATOR}, "ask for a leader's instruction")
    order = load(session, order_id, lock=True)
    _in_status(state_of(session, order), [Status.PENDING_DISPATCH], "ask approval for")
    return _append(session, order, EventKind.APPROVAL_REQUESTED, who, cfg.now(),
                   {"kind": kind, "reasons": [reason]})


def approve(session: Session, cfg: DeskSettings, who: Principal, order_id: int,
            leader: str, instruction: str) -> OrderState:
    """Record the leader's instruction (领导批示); the order may then be dispatched."""
    _require(who, STAFF, "record a leader's instruction")
    if not leader.strip() or not instruction.strip():
        raise Invalid("name the leader and the instruction", field="instruction")
    order = load(session, order_id, lock=True)
    _in_status(state_of(session, order), [Status.AWAITING_APPROVAL], "approve")
    return _append(session, order, EventKind.APPROVED, who, cfg.now(),
                   {"leader": leader, "instruction": instruction})


# ------------------------------------------------------------------ unit work (签收/退单/延期/回复)


def _unit_on_order(order: WorkOrder, who: Principal) -> UnitAssignment:
    _require(who, {Role.UNIT}, "act for a unit")
    for a in order.assignments:
        if a.unit_code == who.unit and a.active:
            return a
    if not unit_can_read(order, who):
        # Same answer as a missing order: a unit learns nothing about others' orders.
        raise NotFound(f"work order {order.id} does not exist")
    raise Forbidden(f"work order {order.id} is not assigned to unit {who.unit}")


def _lead_only(order: WorkOrder, who: Principal, action: str) -> None:
    if _unit_on_order(order, who).role != "lead":
        raise Forbidden(f"only the lead unit (工单管家) may {action}")


def sign_off(session: Session, cfg: DeskSettings, who: Principal, order_id: int) -> OrderState:
    order = load(session, order_id, lock=True)
    _unit_on_order(order, who)
    state = state_of(session, order)
    _in_status(state, [Status.DISPATCHED, Status.HANDLING], "sign off")
    if who.unit in state.signed_units:
        raise Conflict(f"unit {who.unit} has already signed off work order {order.id}")
    now = cfg.now()
    data: dict[str, Any] = {"late": bool(state.sign_due_at and now > state.sign_due_at)}
    if who.unit == state.lead_unit and state.dispatched_at is not None:
        dispatched_at = state.dispatched_at
        data["return_due_at"] = _iso(_rules(lambda: deadlines.return_due(
            cfg.preset, cfg.calendar, dispatched_at, now)))
    return _append(session, order, EventKind.SIGNED_OFF, who, now, data, unit=who.unit)


def return_order(session: Session, cfg: DeskSettings, who: Principal, order_id: int,
                 reason: str, suggested_unit: str = "") -> OrderState:
    """A unit that is not responsible sends the order back (退单), with its reason."""
    order = load(session, order_id, lock=True)
    _unit_on_order(order, who)
    state = state_of(session, order)
    _in_status(state, [Status.DISPATCHED, Status.HANDLING], "return")
    rule = cfg.preset
    if rule.return_reason_required and not reason.strip():
        raise Invalid("a return must give the reason", field="reason")
    if rule.return_suggested_unit_required and not suggested_unit.strip():
        raise Invalid("a return must suggest the proper unit", field="suggested_unit")
    now = cfg.now()
    due = state.return_due_at
    if due is None and state.dispatched_at is not None:
        dispatched_at, signed_at = state.dispatched_at, state.signed_at
        try:
            due = deadlines.return_due(rule, cfg.calendar, dispatched_at, signed_at)
        except ValueError:
            due = None  # window counted from sign-off, not signed yet: still open
        except CalendarGapError as exc:
            raise RulesUnavailable(str(exc)) from exc
    for a in order.assignments:
        if a.unit_code == who.unit:
            a.active = False
    return _append(session, order, EventKind.RETURNED, who, now, {
        "reason": reason.strip(), "suggested_unit": suggested_unit.strip(),
        "late": bool(due and now > due), "return_due_at": _iso(due),
    }, unit=who.unit)


def request_extension(session: Session, cfg: DeskSettings, who: Principal, order_id: int,
                      new_due_at: datetime, reason: str, signed_by: str = "") -> OrderState:
    """A lead unit asks for a later deadline (延期申请), before the current one."""
    order = load(session, order_id, lock=True)
    _lead_only(order, who, "ask for an extension")
    state = state_of(session, order)
    _in_status(state, [Status.HANDLING, Status.REDO], "extend")
    rule = cfg.preset.extension
    if state.extension_pending:
        raise Conflict("an extension request is already waiting for approval")
    if rule.reason_required and not reason.strip():
        raise Invalid("an extension request must give its reasons", field="reason")
    if rule.written_signed and not signed_by.strip():
        raise Invalid("an extension request must be signed by the unit's head",
                      field="signed_by")
    now = cfg.now()
    new_due_at = in_zone(new_due_at, cfg.zone)
    assert state.due_at is not None  # a unit only works on orders with a deadline
    current_due = state.due_at
    try:
        check = deadlines.extension_allowed(
            cfg.preset, cfg.calendar, received_at=order.received_at, current_due=current_due,
            requested_at=now, new_due=new_due_at, extensions_so_far=state.extensions_approved,
        )
    except CalendarGapError as exc:
        raise RulesUnavailable(str(exc)) from exc
    if not check.allowed:
        raise Invalid(f"extension refused: {check.reason}", field="new_due_at")
    data = {"new_due_at": new_due_at.isoformat(), "reason": reason.strip(),
            "signed_by": signed_by.strip(), "current_due_at": current_due.isoformat()}
    state = _append(session, order, EventKind.EXTENSION_REQUESTED, who, now, data, unit=who.unit)
    if not rule.needs_approval:
        state = _append(session, order, EventKind.EXTENSION_APPROVED, who, now,
                        {"new_due_at": new_due_at.isoformat(), "by_rule": True})
    return state


def decide_extension(session: Session, cfg: DeskSettings, who: Principal, order_id: int,
                     approve_it: bool, note: str = "") -> OrderState:
    """The platform approves or refuses a pending extension (审核)."""
    _require(who, STAFF, "decide extensions")
    order = load(session, order_id, lock=True)
    state = state_of(session, order)
    if not state.extension_pending:
        raise Conflict("no extension request is waiting for a decision")
    requested = [e for e in events_of(session, order.id)
                 if e.kind == EventKind.EXTENSION_REQUESTED.value][-1]
    if approve_it:
        return _append(session, order, EventKind.EXTENSION_APPROVED, who, cfg.now(),
                       {"new_due_at": requested.data["new_due_at"], "note": note})
    if not note.strip():
        raise Invalid("a refusal must say why", field="note")
    return _append(session, order, EventKind.EXTENSION_REFUSED, who, cfg.now(), {"note": note})


def tell_citizen(session: Session, cfg: DeskSettings, who: Principal, order_id: int,
                 about: str, message: str, channel: str) -> OrderState:
    """Record that the citizen was told something (e.g. the new deadline after extension)."""
    _require(who, STAFF | {Role.OPERATOR, Role.CALLBACK}, "record what the citizen was told")
    if not message.strip() or not about.strip():
        raise Invalid("say what the citizen was told and about what", field="message")
    order = load(session, order_id, lock=True)
    return _append(session, order, EventKind.CITIZEN_TOLD, who, cfg.now(),
                   {"about": about, "message": message, "channel": channel})


def ledger(session: Session, cfg: DeskSettings, who: Principal, order_id: int, *,
           open_it: bool, criteria: str) -> OrderState:
    """Put an order that cannot be solved soon on the ledger (挂账), or close it out (销账)."""
    _require(who, STAFF, "keep the ledger")
    if not criteria.strip():
        raise Invalid("the ledger entry needs its criteria / close-out note", field="criteria")
    order = load(session, order_id, lock=True)
    state = state_of(session, order)
    if open_it == state.on_ledger:
        raise Conflict("the order is already " + ("on" if open_it else "off") + " the ledger")
    kind = EventKind.LEDGER_OPENED if open_it else EventKind.LEDGER_CLOSED
    return _append(session, order, kind, who, cfg.now(), {"criteria": criteria})


def grade(session: Session, cfg: DeskSettings, who: Principal, order_id: int,
          value: str) -> OrderState:
    """A supervisor grades an order A or B; C and D follow from the events themselves."""
    _require(who, STAFF, "grade orders")
    if value not in ("A", "B"):
        raise Invalid("only A or B can be set; C (extended/ledger) and D (unsatisfied) "
                      "are derived", field="grade")
    order = load(session, order_id, lock=True)
    return _append(session, order, EventKind.GRADED, who, cfg.now(), {"grade": value})


def reply(session: Session, cfg: DeskSettings, who: Principal, order_id: int,
          draft: ReplyDraft, signer: str = "", handler: str = "") -> ReplyOutcome:
    """The lead unit reports its result; a reply that breaks the rules is refused and the
    refusal, with its reasons, is recorded."""
    order = load(session, order_id, lock=True)
    _lead_only(order, who, "reply")
    state = state_of(session, order)
    _in_status(state, [Status.HANDLING, Status.REDO], "reply to")
    now = cfg.now()
    problems = check_reply(cfg.preset.reply, draft, now)
    if problems:
        _append(session, order, EventKind.REPLY_REFUSED, who, now, {"problems": problems},
                unit=who.unit)
        return ReplyOutcome(False, problems)
    callback_due = _rules(lambda: deadlines.callback_due(cfg.preset, cfg.calendar, now))
    _append(session, order, EventKind.REPLIED, who, now, {
        "parts": {p.value: t for p, t in draft.parts.items()}, "resolved": draft.resolved,
        "citizen_replied_at": _iso(draft.citizen_replied_at),
        "late": bool(state.due_at and now > state.due_at),
        "callback_due_at": _iso(callback_due), "round": state.redo_count + 1,
    }, unit=who.unit)
    return ReplyOutcome(True)


def reply_problems(session: Session, cfg: DeskSettings, who: Principal, order_id: int,
                   draft: ReplyDraft) -> list[str]:
    """The reply check (答复检查) of :func:`reply`, run before submitting: the same rules,
    nothing recorded. Refused like the reply itself when the unit may not reply."""
    order = readable(session, who, order_id)
    _lead_only(order, who, "reply")
    _in_status(state_of(session, order), [Status.HANDLING, Status.REDO], "reply to")
    return check_reply(cfg.preset.reply, draft, cfg.now())


# ------------------------------------------------------------------ callback & review (回访/复核)


def evaluate(session: Session, cfg: DeskSettings, who: Principal, order_id: int,
             level: SatisfactionLevel, comment: str = "") -> OrderState:
    """The citizen's evaluation from the callback; after a redo the second one counts."""
    _require(who, {Role.CALLBACK}, "record evaluations")
    order = load(session, order_id, lock=True)
    state = state_of(session, order)
    _in_status(state, [Status.REPLIED], "evaluate")
    now = cfg.now()
    return _append(session, order, EventKind.EVALUATED, who, now, {
        "level": level.value, "satisfied": cfg.preset.is_satisfied(level),
        "redo_possible": deadlines.redo_allowed(cfg.preset, state.redo_count),
        "comment": comment, "round": len(state.evaluations) + 1,
        "late_callback": bool(state.callback_due_at and now > state.callback_due_at),
    })


def decide_review(session: Session, cfg: DeskSettings, who: Principal, order_id: int, *,
                  redo: bool, reason: str, citizen_asked: bool = True) -> OrderState:
    """After an unsatisfied evaluation the platform reviews: back to the unit for a redo
    (重办, once) or closed because the handling was in order."""
    _require(who, STAFF, "review unsatisfied orders")
    if not reason.strip():
        raise Invalid("the review decision must give its reason", field="reason")
    order = load(session, order_id, lock=True)
    state = state_of(session, order)
    _in_status(state, [Status.REVIEW], "review")
    now = cfg.now()
    if not redo:
        return _append(session, order, EventKind.REVIEW_DECIDED, who, now,
                       {"decision": "close", "reason": reason})
    if not citizen_asked:
        raise Invalid("a redo follows the citizen's request", field="citizen_asked")
    if not deadlines.redo_allowed(cfg.preset, state.redo_count):
        raise Conflict(f"at most {cfg.preset.redo.max_redos} redo(s) under preset "
                       f"{cfg.preset.name!r}")
    due = _rules(lambda: deadlines.redo_due(cfg.preset, cfg.calendar, Category(order.category),
                                            now, order.emergency))
    return _append(session, order, EventKind.REVIEW_DECIDED, who, now,
                   {"decision": "redo", "reason": reason, "due_at": due.isoformat()})


def file_review_form(session: Session, cfg: DeskSettings, who: Principal, order_id: int,
                     signer: str, text: str) -> OrderState:
    """Still unsatisfied after the redo: the unit files the signed review form
    (群众不满意诉求审核反馈表)."""
    order = load(session, order_id, lock=True)
    _lead_only(order, who, "file the review form")
    _in_status(state_of(session, order), [Status.REVIEW_FORM], "file a review form for")
    if not signer.strip() or not text.strip():
        raise Invalid("the review form needs the head's signature and the explanation",
                      field="signer")
    return _append(session, order, EventKind.REVIEW_FORM_FILED, who, cfg.now(),
                   {"signer": signer, "text": text}, unit=who.unit)


REVIEW_OUTCOMES = ("closed", "unreasonable", "must_fix")


def conclude_review(session: Session, cfg: DeskSettings, who: Principal, order_id: int,
                    outcome: str, reason: str, panel: str = "") -> OrderState:
    """The platform's (or social review panel's, 社会评议) conclusion: ``closed`` — handled
    in order; ``unreasonable`` — closed and left out of the unit's score; ``must_fix`` —
    back to the unit with a new deadline."""
    _require(who, STAFF, "conclude reviews")
    if outcome not in REVIEW_OUTCOMES:
        raise Invalid(f"outcome {outcome!r} is not one of {list(REVIEW_OUTCOMES)}",
                      field="outcome")
    if not reason.strip():
        raise Invalid("the conclusion must give its reason", field="reason")
    order = load(session, order_id, lock=True)
    _in_status(state_of(session, order), [Status.REVIEW_FORM], "conclude the review of")
    now = cfg.now()
    data: dict[str, Any] = {"outcome": outcome, "reason": reason, "panel": panel}
    if outcome == "must_fix":
        data["due_at"] = _rules(lambda: deadlines.redo_due(
            cfg.preset, cfg.calendar, Category(order.category), now, order.emergency)).isoformat()
    return _append(session, order, EventKind.REVIEW_CONCLUDED, who, now, data)


# ------------------------------------------------------------------ reads


def unit_can_read(order: WorkOrder, who: Principal) -> bool:
    return any(a.unit_code == who.unit for a in order.assignments)


def readable(session: Session, who: Principal, order_id: int) -> WorkOrder:
    order = load(session, order_id)
    if who.role is Role.UNIT and not unit_can_read(order, who):
        # Same answer as a missing order: a unit learns nothing about others' orders.
        raise NotFound(f"work order {order_id} does not exist")
    return order


def working_statuses() -> list[str]:
    return [s.value for s in UNIT_WORKING]
