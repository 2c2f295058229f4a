"""Satisfaction callback (全量回访) in the domain, on SQLite and PostgreSQL: every replied order
is queued once per reply round, a rating becomes the evaluation (不满意 opens the review
that leads to the redo, R-REDO), each attempt is an order event without the citizen's
number, and a target the dialer gives up on leaves a ``call_unreached`` event.

Expected values come from the rules (gaotai preset: 不满意 and 非常不满意 are the
unsatisfied levels, "对评价为不满意和非常不满意的工单 … 发回承办单位重办", one redo) and
from the order built by hand below, not from the code under test.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hotline_core.access import Principal, Role
from hotline_core.campaigns.config import KindSettings
from hotline_core.campaigns.model import (
    AttemptOutcome,
    CampaignKind,
    CampaignTarget,
    TargetState,
)
from hotline_core.workorders import callbacks, desk
from hotline_core.workorders.callbacks import Rating
from hotline_core.workorders.desk import Conflict, DeskSettings, Intake
from hotline_core.workorders.model import WorkOrder
from hotline_core.workorders.presets import Category, ReplyPart, SatisfactionLevel
from hotline_core.workorders.replies import ReplyDraft
from tests.workorders.conftest import Clock
from tests.workorders.order_campaigns import (
    DISPATCHER,
    OPERATOR,
    TRANSPORT,
    hooked_store,
    only_target,
    order_events,
)

STAFF_CALLBACK = Principal("cb", Role.CALLBACK)
CITIZEN = "13700000000"
SHANGHAI = ZoneInfo("Asia/Shanghai")
RESULT = "已安排养护队于6月8日完成路面修补,现场已恢复通行。后续将加强巡查。"


def _replied(maker: sessionmaker[Session], cfg: DeskSettings, clock: Clock) -> int:
    """A help demand about a broken road (道路破损 → dept-transport, 县交通运输局), signed
    off and replied to with a result."""
    with maker.begin() as s:
        oid = desk.create_order(s, cfg, OPERATOR, Intake(
            channel="web", category=Category.HELP, description="路面塌陷", matter="道路破损",
            caller_number=CITIZEN)).order.id
        desk.dispatch(s, cfg, DISPATCHER, oid)
        clock.advance(minutes=20)
        desk.sign_off(s, cfg, TRANSPORT, oid)
        clock.advance(hours=2)
        assert desk.reply(s, cfg, TRANSPORT, oid, ReplyDraft(
            {ReplyPart.RESPONSE: "已派人现场查看。", ReplyPart.RESULT: RESULT})).accepted
    return oid


def test_a_replied_order_is_queued_once_per_reply_round(
        seeded: sessionmaker[Session], settings: DeskSettings, clock: Clock) -> None:
    oid = _replied(seeded, settings, clock)
    with seeded.begin() as s:
        assert callbacks.due_for_callback(s) == [oid]
        assert callbacks.schedule_callbacks(s, settings) == [oid]
    with seeded.begin() as s:
        assert callbacks.due_for_callback(s) == []   # queued: not again
        assert callbacks.schedule_callbacks(s, settings) == []
    target = only_target(seeded, oid)
    assert target.destinations == [{"number": CITIZEN, "role": "citizen"}]
    assert target.key == f"order/{oid}/round/1"
    assert target.state == TargetState.PENDING.value
    scheduled = [e for e in order_events(seeded, oid) if e.kind == "callback_scheduled"]
    assert len(scheduled) == 1
    assert scheduled[0].data["target"] == target.id
    # gaotai: 24 hours from the unit's reply (made 2 h 20 min after intake at 09:00).
    assert datetime.fromisoformat(scheduled[0].data["due_by"]) == datetime(
        2026, 6, 9, 11, 20, tzinfo=SHANGHAI)
    assert CITIZEN not in str(scheduled[0].data)


def test_orders_without_a_reply_are_not_due(
        seeded: sessionmaker[Session], settings: DeskSettings, clock: Clock) -> None:
    with seeded.begin() as s:
        oid = desk.create_order(s, settings, OPERATOR, Intake(
            channel="web", category=Category.HELP, description="路灯不亮", matter="道路破损",
            caller_number="13700000001")).order.id
        desk.dispatch(s, settings, DISPATCHER, oid)
    with seeded.begin() as s:
        assert oid not in callbacks.due_for_callback(s)


@pytest.mark.parametrize(("key", "level", "status"), [
    ("4", "unsatisfied", "review"),            # 不满意: the platform reviews, may send back
    ("5", "very_unsatisfied", "review"),       # 非常不满意: the same
    ("3", "basically_satisfied", "closed"),    # 基本满意 counts as satisfied: 办结
    ("1", "very_satisfied", "closed"),
])
def test_a_key_rating_becomes_the_evaluation(
        seeded: sessionmaker[Session], settings: DeskSettings, clock: Clock,
        key: str, level: str, status: str) -> None:
    oid = _replied(seeded, settings, clock)
    rated = callbacks.rating_for_key(key)
    assert rated is not None
    with seeded.begin() as s:
        callbacks.record_rating(s, settings, oid, Rating(rated, "dtmf"))
    with seeded() as s:
        order = s.get(WorkOrder, oid)
        assert order is not None
        assert (order.evaluation, order.status) == (level, status)
    evaluated = [e for e in order_events(seeded, oid) if e.kind == "evaluated"]
    assert len(evaluated) == 1 and evaluated[0].actor == "ivr-callback"


def test_unsatisfied_by_phone_leads_to_one_redo_and_a_second_callback(
        seeded: sessionmaker[Session], settings: DeskSettings, clock: Clock) -> None:
    """不满意 → review → the platform sends it back (重办) → the unit replies again → the
    second reply round is queued again (round 2), and its rating is the one that counts."""
    oid = _replied(seeded, settings, clock)
    with seeded.begin() as s:
        callbacks.schedule_callbacks(s, settings)
        callbacks.record_rating(s, settings, oid, Rating(SatisfactionLevel.UNSATISFIED, "dtmf"))
        desk.decide_review(s, settings, Principal("sup", Role.SUPERVISOR), oid, redo=True,
                           reason="回访不满意, 复核确有办理不到位")
    with seeded() as s:
        order = s.get(WorkOrder, oid)
        assert order is not None and (order.status, order.redo_count) == ("redo", 1)
    clock.advance(hours=3)
    with seeded.begin() as s:
        assert desk.reply(s, settings, TRANSPORT, oid, ReplyDraft(
            {ReplyPart.RESPONSE: "已重新处理。", ReplyPart.RESULT: "已重新铺设路面。"})).accepted
        assert callbacks.schedule_callbacks(s, settings) == [oid]
    with seeded() as s:
        keys = sorted(s.scalars(select(CampaignTarget.key)
                                .where(CampaignTarget.order_id == oid)))
    assert keys == [f"order/{oid}/round/1", f"order/{oid}/round/2"]
    with seeded.begin() as s:
        callbacks.record_rating(s, settings, oid, Rating(SatisfactionLevel.SATISFIED, "voice",
                                                         heard="满意"))
    with seeded() as s:
        order = s.get(WorkOrder, oid)
        assert order is not None and (order.status, order.evaluation) == ("closed", "satisfied")


def test_a_rating_after_staff_evaluated_is_refused_and_writes_nothing(
        seeded: sessionmaker[Session], settings: DeskSettings, clock: Clock) -> None:
    oid = _replied(seeded, settings, clock)
    with seeded.begin() as s:
        desk.evaluate(s, settings, STAFF_CALLBACK, oid, SatisfactionLevel.SATISFIED)
    before = len(order_events(seeded, oid))
    with pytest.raises(Conflict), seeded.begin() as s:
        callbacks.record_rating(s, settings, oid, Rating(SatisfactionLevel.UNSATISFIED, "dtmf"))
    assert len(order_events(seeded, oid)) == before


def test_the_script_names_the_unit_and_a_short_result(
        seeded: sessionmaker[Session], settings: DeskSettings, clock: Clock) -> None:
    oid = _replied(seeded, settings, clock)
    with seeded() as s:
        script = callbacks.callback_script(s, oid)
    assert script.unit_name == "县交通运输局"     # config/units.sample.csv
    assert script.result == RESULT               # 33 characters: under the limit, whole
    assert script.open is True
    assert script.text == f"由县交通运输局办理。办理结果:{RESULT}"


def test_a_long_result_is_cut_at_a_sentence_end() -> None:
    first = "甲" * 50 + "。"
    assert callbacks.short_result(first + "乙" * 60, limit=80) == first
    assert callbacks.short_result("丙" * 100, limit=10) == "丙" * 10 + "…"


def test_three_unanswered_attempts_are_events_then_the_worklist(
        seeded: sessionmaker[Session], settings: DeskSettings, clock: Clock) -> None:
    """The dialer's store with the order hooks: three no-answers (max_attempts 3) are three
    ``call_attempt`` events and one ``call_unreached``; no event holds the number."""
    oid = _replied(seeded, settings, clock)
    with seeded.begin() as s:
        callbacks.schedule_callbacks(s, settings)
    store = hooked_store(seeded, settings, CampaignKind.SATISFACTION_CALLBACK)
    rules = KindSettings(max_attempts=3, retry_spacing_seconds=600)
    target_id = only_target(seeded, oid).id
    states = []
    for _ in range(3):
        attempt = store.begin_attempt(target_id, CITIZEN, "citizen")
        assert attempt is not None
        states.append(store.end_attempt(attempt.id, AttemptOutcome.NO_ANSWER, "", rules))
        clock.advance(minutes=10)
    assert states == [TargetState.PENDING, TargetState.PENDING, TargetState.WORKLIST]
    events = order_events(seeded, oid)
    tried = [e for e in events if e.kind == "call_attempt"]
    assert [(e.data["seq"], e.data["outcome"], e.data["party"]) for e in tried] == [
        (1, "no_answer", "citizen"), (2, "no_answer", "citizen"), (3, "no_answer", "citizen")]
    unreached = [e for e in events if e.kind == "call_unreached"]
    assert len(unreached) == 1
    assert unreached[0].data["attempts"] == 3 and unreached[0].data["reason"] == "no_answer"
    assert all(CITIZEN not in str(e.data) and e.unit is None for e in tried + unreached)
    # Still waiting for its evaluation: a person calls (the order stays replied).
    with seeded() as s:
        order = s.get(WorkOrder, oid)
        assert order is not None and order.status == "replied"


def test_an_order_without_a_number_goes_to_staff_at_once(
        seeded: sessionmaker[Session], settings: DeskSettings, clock: Clock) -> None:
    with seeded.begin() as s:
        oid = desk.create_order(s, settings, OPERATOR, Intake(
            channel="web", category=Category.HELP, description="井盖缺失",
            matter="道路破损")).order.id
        desk.dispatch(s, settings, DISPATCHER, oid)
        desk.sign_off(s, settings, TRANSPORT, oid)
        clock.advance(hours=1)
        desk.reply(s, settings, TRANSPORT, oid, ReplyDraft(
            {ReplyPart.RESPONSE: "已查看。", ReplyPart.RESULT: "已补装井盖。"}))
        assert callbacks.schedule_callbacks(s, settings) == [oid]
    kinds = [e.kind for e in order_events(seeded, oid)][-2:]
    assert kinds == ["callback_scheduled", "call_unreached"]
    with seeded() as s:
        assert list(s.scalars(select(CampaignTarget).where(CampaignTarget.order_id == oid))) \
            == []


def test_a_callback_evaluated_by_hand_meanwhile_is_cancelled_not_dialled(
        seeded: sessionmaker[Session], settings: DeskSettings, clock: Clock) -> None:
    oid = _replied(seeded, settings, clock)
    with seeded.begin() as s:
        callbacks.schedule_callbacks(s, settings)
    with seeded() as s:
        assert callbacks.stale_targets(s) == []      # still waiting for its callback
    with seeded.begin() as s:
        desk.evaluate(s, settings, STAFF_CALLBACK, oid, SatisfactionLevel.SATISFIED)
    target_id = only_target(seeded, oid).id
    with seeded() as s:
        assert callbacks.stale_targets(s) == [target_id]
    store = hooked_store(seeded, settings, CampaignKind.SATISFACTION_CALLBACK)
    assert store.cancel(target_id, "order moved on") is True
    assert only_target(seeded, oid).state == TargetState.CANCELLED.value
    with seeded() as s:
        assert callbacks.stale_targets(s) == []
    # Cancelled is not unreached: nothing for the worklist on the order.
    assert "call_unreached" not in [e.kind for e in order_events(seeded, oid)]
