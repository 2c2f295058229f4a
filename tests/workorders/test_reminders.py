"""Reminder calls (催办电话) in the domain, on SQLite and PostgreSQL: supervision's reminder
of an overdue order is queued once for the unit's liaisons A then B (R-AB), each attempt
and the confirmation are order events the unit reads, and the call says how long the
order is overdue.

Expected values: the unit directory (config/units.sample.csv: dept-transport, 韩联络
13800001401 as A, 唐联络 13800001402 as B), the gaotai preset (help: 1 working day) and
the clock moved by hand.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hotline_core.campaigns.config import KindSettings
from hotline_core.campaigns.model import (
    AttemptOutcome,
    CampaignKind,
    CampaignTarget,
    TargetState,
)
from hotline_core.workorders import callbacks, desk, reminders
from hotline_core.workorders.desk import DeskSettings, Intake
from hotline_core.workorders.model import Unit, WorkOrder
from hotline_core.workorders.presets import Category, ReplyPart
from hotline_core.workorders.replies import ReplyDraft
from hotline_core.workorders.supervision import run_supervision
from tests.workorders.conftest import Clock
from tests.workorders.order_campaigns import (
    DISPATCHER,
    OPERATOR,
    TRANSPORT,
    hooked_store,
    only_target,
    order_events,
)

A_PHONE, B_PHONE = "13800001401", "13800001402"


def _overdue(maker: sessionmaker[Session], cfg: DeskSettings, clock: Clock) -> int:
    """A help demand (1 working day under gaotai) made Monday 09:00, signed off and left:
    due Tuesday 09:00; supervision runs Wednesday 12:30, 1 day 3.5 hours late."""
    with maker.begin() as s:
        oid = desk.create_order(s, cfg, OPERATOR, Intake(
            channel="web", category=Category.HELP, description="路面塌陷", matter="道路破损",
            caller_number="13700000000")).order.id
        desk.dispatch(s, cfg, DISPATCHER, oid)
        desk.sign_off(s, cfg, TRANSPORT, oid)
    clock.advance(days=2, hours=3, minutes=30)
    with maker.begin() as s:
        assert run_supervision(s, cfg).reminders == [oid]
    return oid


def test_a_reminder_is_queued_once_for_a_then_b(
        seeded: sessionmaker[Session], settings: DeskSettings, clock: Clock) -> None:
    oid = _overdue(seeded, settings, clock)
    with seeded.begin() as s:
        assert reminders.due_for_reminder_call(s) == [oid]
        assert reminders.schedule_reminder_calls(s, settings) == [oid]
    with seeded.begin() as s:
        assert reminders.schedule_reminder_calls(s, settings) == []
    with seeded() as s:
        targets = list(s.scalars(select(CampaignTarget).where(CampaignTarget.order_id == oid)))
    assert len(targets) == 1
    assert targets[0].destinations == [{"number": A_PHONE, "role": "A"},
                                       {"number": B_PHONE, "role": "B"}]
    assert targets[0].data["names"] == {"A": "韩联络", "B": "唐联络"}
    reminder, scheduled = order_events(seeded, oid)[-2:]
    assert scheduled.kind == "reminder_call_scheduled" and scheduled.unit == "dept-transport"
    assert targets[0].key == f"reminder/{oid}/{reminder.seq}"


def test_the_call_says_how_long_the_order_is_overdue(
        seeded: sessionmaker[Session], settings: DeskSettings, clock: Clock) -> None:
    oid = _overdue(seeded, settings, clock)
    with seeded() as s:
        script = reminders.reminder_script(s, settings, oid)
    assert script.open is True
    assert script.overdue == timedelta(days=1, hours=3, minutes=30)
    assert script.days_hours == (1, 3)


def test_a_unanswered_then_b_confirms_all_as_order_events(
        seeded: sessionmaker[Session], settings: DeskSettings, clock: Clock) -> None:
    """The dialer's store with the order hooks: A does not answer (attempt 1), B is next
    at once (same round, no spacing) and confirms with key 1 (attempt 2)."""
    oid = _overdue(seeded, settings, clock)
    with seeded.begin() as s:
        reminders.schedule_reminder_calls(s, settings)
    store = hooked_store(seeded, settings, CampaignKind.REMINDER)
    rules = KindSettings(max_attempts=4, retry_spacing_seconds=1800)
    target_id = only_target(seeded, oid).id
    first = store.begin_attempt(target_id, A_PHONE, "A")
    assert first is not None
    assert store.end_attempt(first.id, AttemptOutcome.NO_ANSWER, "", rules) \
        is TargetState.PENDING
    due = store.due(settings.now(), 10, [CampaignKind.REMINDER])
    assert [(d.id, d.destination.number, d.destination.role) for d in due] == [
        (target_id, B_PHONE, "B")]
    second = store.begin_attempt(target_id, B_PHONE, "B")
    assert second is not None
    store.mark_up(second.id)
    with seeded.begin() as s:
        reminders.confirm(s, settings, oid, second.id,
                          reminders.Liaison("B", "唐联络", B_PHONE))
    store.flow_result(second.id, AttemptOutcome.COMPLETED, {"confirmed": True}, True)
    assert store.end_attempt(second.id, None, "", rules) is TargetState.DONE
    events = order_events(seeded, oid)
    kinds = [e.kind for e in events]
    assert kinds[-5:] == ["reminder", "reminder_call_scheduled", "call_attempt",
                          "reminder_confirmed", "call_attempt"]
    a_try, confirmed, b_try = events[-3], events[-2], events[-1]
    assert (a_try.data["party"], a_try.data["outcome"], a_try.data["name"],
            a_try.data["phone"]) == ("A", "no_answer", "韩联络", A_PHONE)
    assert (b_try.data["party"], b_try.data["outcome"]) == ("B", "completed")
    assert (confirmed.data["role"], confirmed.actor, confirmed.actor_role) == (
        "B", "唐联络(B)", "unit")
    assert {e.unit for e in (a_try, confirmed, b_try)} == {"dept-transport"}


def test_a_reply_in_the_meantime_means_nothing_is_due(
        seeded: sessionmaker[Session], settings: DeskSettings, clock: Clock) -> None:
    oid = _overdue(seeded, settings, clock)
    with seeded.begin() as s:
        reminders.schedule_reminder_calls(s, settings)
        desk.reply(s, settings, TRANSPORT, oid, ReplyDraft(
            {ReplyPart.RESPONSE: "已查看。", ReplyPart.RESULT: "已修补。"}))
    with seeded() as s:
        assert reminders.reminder_script(s, settings, oid).open is False
        assert reminders.still_overdue(s, oid) is False
        target_id = s.scalars(select(CampaignTarget.id)
                              .where(CampaignTarget.order_id == oid)).one()
        # The pass cancels the call instead of ringing the liaisons for nothing.
        assert callbacks.stale_targets(s) == [target_id]


def test_a_unit_without_liaison_phones_gets_no_call(
        seeded: sessionmaker[Session], settings: DeskSettings, clock: Clock) -> None:
    with seeded.begin() as s:
        unit = s.get(Unit, "dept-transport")
        assert unit is not None
        unit.contacts = [c for c in unit.contacts if c.role == "lead"]
    oid = _overdue(seeded, settings, clock)
    with seeded.begin() as s:
        assert reminders.schedule_reminder_calls(s, settings) == [oid]
    with seeded() as s:
        assert list(s.scalars(select(CampaignTarget).where(CampaignTarget.order_id == oid))) \
            == []
        order = s.get(WorkOrder, oid)
        assert order is not None and order.status == "handling"
    last = order_events(seeded, oid)[-1]
    assert last.kind == "reminder_call_scheduled"
    assert last.data["reason"] == "the unit directory names no A/B liaison phone"
