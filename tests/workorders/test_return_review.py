"""The platform's reviews in the domain (SQLite): a disputed return (退单审核, 国办函〔2025〕66号:
"review of dispatch disputes with return and re-dispatch") and the quality check of a
reply (质检, R-SEATS). Expected states are written by hand from the rules:

- a lead unit's return leaves the order waiting for dispatch *with the return waiting for
  review*; accepting it re-dispatches (改派) to another unit; refusing it sends the order
  back to the returning unit as it was (signed: handling, its sign-off kept; not signed:
  dispatched, with a new sign-off deadline of 1 hour — gaotai ``[sign_off] limit``,
  R-SIGN "签收 within 1 hour"); the handling deadline does not move;
- a quality send-back returns the order to the lead unit to reply again; the callback
  queued for the sent-back reply is cancelled and the new reply gets its own.

The clock is the work-order fixtures' Monday 2026-06-08 09:00 (Asia/Shanghai wall time).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hotline_core.access import Principal, Role
from hotline_core.campaigns.model import CampaignTarget
from hotline_core.migrate import upgrade
from hotline_core.workorders import callbacks, desk, platform_review, worklists
from hotline_core.workorders.desk import Conflict, DeskSettings, Forbidden, Intake, Invalid
from hotline_core.workorders.lifecycle import EventKind, EventRecord, Status, fold
from hotline_core.workorders.model import UnitAssignment, WorkOrder, WorkOrderEvent
from hotline_core.workorders.presets import Category, ReplyPart
from hotline_core.workorders.replies import ReplyDraft
from tests.workorders.conftest import Clock

OPERATOR = Principal("op", Role.OPERATOR)
DISPATCHER = Principal("disp", Role.DISPATCHER)
QUALITY = Principal("qc", Role.QUALITY)
TRANSPORT = Principal("transport", Role.UNIT, "dept-transport")
CHENGGUAN = Principal("chengguan", Role.UNIT, "town-chengguan")
SHANGHAI = ZoneInfo("Asia/Shanghai")
REPLY = ReplyDraft({ReplyPart.RESPONSE: "已派人现场查看。",
                    ReplyPart.RESULT: "已安排养护队完成路面修补。现场已恢复通行。"})


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """SQLite only: these rules touch no backend-specific SQL beyond what the worklists'
    subqueries use, which the API tests run too."""
    url = f"sqlite:///{tmp_path / 'hotline.db'}"
    upgrade(url)
    return url


def _at(hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 6, 8, hour, minute, tzinfo=SHANGHAI)


def _road_order(maker: sessionmaker[Session], cfg: DeskSettings) -> int:
    """道路破损 → dept-transport by the sample responsibility list; web channel, no number."""
    with maker.begin() as s:
        oid = desk.create_order(s, cfg, OPERATOR, Intake(
            channel="web", category=Category.HELP, description="路面塌陷",
            matter="道路破损")).order.id
        desk.dispatch(s, cfg, DISPATCHER, oid)
    return oid


def _state(maker: sessionmaker[Session], oid: int) -> tuple[WorkOrder, list[WorkOrderEvent]]:
    with maker() as s:
        order = s.get(WorkOrder, oid)
        assert order is not None
        s.expunge(order)
        evs = list(s.scalars(select(WorkOrderEvent).where(WorkOrderEvent.order_id == oid)
                             .order_by(WorkOrderEvent.seq)))
        for e in evs:
            s.expunge(e)
        return order, evs


def _active(maker: sessionmaker[Session], oid: int) -> dict[str, bool]:
    with maker() as s:
        return {a.unit_code: a.active for a in s.scalars(
            select(UnitAssignment).where(UnitAssignment.order_id == oid))}


# ------------------------------------------------------------------ the fold alone


def test_fold_of_a_refused_and_of_an_accepted_return() -> None:
    t = datetime(2026, 6, 8, 1, 0, tzinfo=UTC)
    base = [
        EventRecord("created", t, data={"due_at": "2026-06-09T01:00:00+00:00"}),
        EventRecord("dispatched", t, data={"lead": "A", "assists": ["B"],
                                           "sign_due_at": "2026-06-08T02:00:00+00:00"}),
        EventRecord("signed_off", t + timedelta(minutes=5), unit="A"),
        EventRecord("returned", t + timedelta(minutes=30), unit="A", data={"reason": "x"}),
    ]
    waiting = fold(base)
    assert (waiting.status, waiting.lead_unit, waiting.return_pending_from) == (
        Status.PENDING_DISPATCH, None, "A")
    refused = fold([*base, EventRecord("return_refused", t + timedelta(hours=1), unit="A", data={
        "lead": "A", "assists": ["B"], "status": "handling", "signed_units": ["A"],
        "signed_at": (t + timedelta(minutes=5)).isoformat(), "sign_due_at": None})])
    assert refused.status is Status.HANDLING
    assert (refused.lead_unit, refused.assisting_units, refused.return_pending_from) == (
        "A", ["B"], None)
    assert refused.signed_at == t + timedelta(minutes=5)
    assert refused.due_at == datetime(2026, 6, 9, 1, 0, tzinfo=UTC)   # unchanged
    assert (refused.returns, refused.refused_returns) == (1, 1)
    accepted = fold([*base, EventRecord("return_accepted", t + timedelta(hours=1)),
                     EventRecord("dispatched", t + timedelta(hours=1), data={"lead": "C"})])
    assert (accepted.status, accepted.lead_unit, accepted.return_pending_from) == (
        Status.DISPATCHED, "C", None)
    # An assisting unit's return leaves the lead working: nothing waits for review.
    assist = fold([*base[:3], EventRecord("returned", t, unit="B")])
    assert (assist.status, assist.return_pending_from) == (Status.HANDLING, None)


def test_fold_of_a_quality_send_back() -> None:
    t = datetime(2026, 6, 8, 1, 0, tzinfo=UTC)
    replied = [
        EventRecord("created", t), EventRecord("dispatched", t, data={"lead": "A"}),
        EventRecord("signed_off", t, unit="A"),
        EventRecord("replied", t, unit="A", data={"callback_due_at": t.isoformat()}),
    ]
    back = fold([*replied, EventRecord("quality_sent_back", t, data={"reason": "r"})])
    assert (back.status, back.callback_due_at, back.quality_send_backs) == (
        Status.HANDLING, None, 1)
    again = fold([*replied, EventRecord("quality_sent_back", t), replied[-1]])
    assert (again.status, again.quality_approved) == (Status.REPLIED, False)
    ok = fold([*replied, EventRecord("quality_approved", t)])
    assert (ok.status, ok.quality_approved) == (Status.REPLIED, True)
    # In a redo round the unit is back in redo, not in first handling.
    redo = [*replied, EventRecord("evaluated", t, data={"level": "unsatisfied",
                                                        "satisfied": False,
                                                        "redo_possible": True}),
            EventRecord("review_decided", t, data={"decision": "redo",
                                                   "due_at": t.isoformat()}),
            replied[-1], EventRecord("quality_sent_back", t)]
    assert fold(redo).status is Status.REDO


# ------------------------------------------------------------------ return review


def test_a_return_accepted_is_re_dispatched_to_another_unit(
        seeded: sessionmaker[Session], settings: DeskSettings, clock: Clock) -> None:
    oid = _road_order(seeded, settings)
    clock.advance(minutes=10)
    with seeded.begin() as s:
        desk.sign_off(s, settings, TRANSPORT, oid)
        desk.return_order(s, settings, TRANSPORT, oid, "路段属城关镇管养")
    with seeded() as s:
        assert worklists.return_waiting(s, oid)
        listed = worklists.dispatch_list(s, settings)
        assert [r.order.id for r in listed.returns] == [oid]
        assert listed.returns[0].returned_by == "dept-transport"
        assert listed.returns[0].reason == "路段属城关镇管养"
        assert oid not in [n.order.id for n in listed.new]
    # Auto routing names dept-transport again: that is a refusal, not a re-dispatch.
    with pytest.raises(Invalid) as bad, seeded.begin() as s:
        platform_review.accept_return(s, settings, DISPATCHER, oid)
    assert bad.value.extra["field"] == "lead"
    # Named units need a reason; nothing is written by the refused command.
    with pytest.raises(Invalid) as bad, seeded.begin() as s:
        platform_review.accept_return(s, settings, DISPATCHER, oid, lead="town-chengguan")
    assert bad.value.extra["field"] == "reason"
    assert [e.kind for e in _state(seeded, oid)[1]] == [
        "created", "dispatched", "signed_off", "returned"]
    clock.advance(minutes=20)
    with seeded.begin() as s:
        platform_review.accept_return(s, settings, DISPATCHER, oid, lead="town-chengguan",
                                      reason="城关镇辖区道路")
    order, evs = _state(seeded, oid)
    assert [e.kind for e in evs][-3:] == ["returned", "return_accepted", "dispatched"]
    assert (order.status, order.lead_unit) == ("dispatched", "town-chengguan")
    # Sign-off within 1 hour of the new dispatch (09:30 + 1 h).
    assert order.sign_due_at == _at(10, 30)
    assert _active(seeded, oid) == {"dept-transport": False, "town-chengguan": True}
    with seeded() as s:
        assert not worklists.return_waiting(s, oid)
    with pytest.raises(Conflict), seeded.begin() as s:
        platform_review.refuse_return(s, settings, DISPATCHER, oid, "晚了")


def test_a_refused_return_goes_back_to_the_unit_as_it_was(
        seeded: sessionmaker[Session], settings: DeskSettings, clock: Clock) -> None:
    signed, unsigned = _road_order(seeded, settings), _road_order(seeded, settings)
    due_before = _state(seeded, signed)[0].due_at
    clock.advance(minutes=10)                        # 09:10
    with seeded.begin() as s:
        desk.sign_off(s, settings, TRANSPORT, signed)
        clock.advance(minutes=20)                    # 09:30
        desk.return_order(s, settings, TRANSPORT, signed, "不属本单位职责")
        desk.return_order(s, settings, TRANSPORT, unsigned, "不属本单位职责")
    for who, reason, field in ((OPERATOR, "x", None), (CHENGGUAN, "x", None),
                               (DISPATCHER, "   ", "reason"),
                               (DISPATCHER, "长" * 501, "reason")):
        with pytest.raises((Forbidden, Invalid)) as bad, seeded.begin() as s:
            platform_review.refuse_return(s, settings, who, signed, reason)
        if field:
            assert bad.value.extra["field"] == field
        else:
            assert isinstance(bad.value, Forbidden)
    clock.advance(minutes=30)                        # 10:00
    with seeded.begin() as s:
        platform_review.refuse_return(s, settings, DISPATCHER, signed,
                                      "道路养护属交通运输局职责")
        platform_review.refuse_return(s, settings, DISPATCHER, unsigned,
                                      "道路养护属交通运输局职责")
    order, evs = _state(seeded, signed)
    assert (order.status, order.lead_unit) == ("handling", "dept-transport")
    assert order.signed_at == _at(9, 10)             # its own sign-off stands
    assert order.due_at == due_before                # the clock kept running
    refusal = evs[-1]
    assert (refusal.kind, refusal.unit, refusal.data["reason"]) == (
        "return_refused", "dept-transport", "道路养护属交通运输局职责")
    order2, _ = _state(seeded, unsigned)
    assert (order2.status, order2.lead_unit) == ("dispatched", "dept-transport")
    assert order2.sign_due_at == _at(11, 0)          # 10:00 + 1 hour
    assert _active(seeded, signed) == {"dept-transport": True}
    # The unit works on it again: it may reply (signed) and sign (unsigned).
    with seeded.begin() as s:
        desk.sign_off(s, settings, TRANSPORT, unsigned)
        assert desk.reply(s, settings, TRANSPORT, signed, REPLY).accepted
    # Refused once, nothing waits for review now.
    with pytest.raises(Conflict), seeded.begin() as s:
        platform_review.refuse_return(s, settings, DISPATCHER, unsigned, "再次")
    with pytest.raises(Conflict), seeded.begin() as s:
        platform_review.accept_return(s, settings, DISPATCHER, signed, lead="town-chengguan",
                                      reason="r")


# ------------------------------------------------------------------ quality check


def test_quality_send_back_and_the_callback_of_the_new_reply(
        seeded: sessionmaker[Session], settings: DeskSettings, clock: Clock) -> None:
    with seeded.begin() as s:
        oid = desk.create_order(s, settings, OPERATOR, Intake(
            channel="web", category=Category.HELP, description="路面塌陷", matter="道路破损",
            caller_number="13700000000")).order.id
        desk.dispatch(s, settings, DISPATCHER, oid)
        desk.sign_off(s, settings, TRANSPORT, oid)
        assert desk.reply(s, settings, TRANSPORT, oid, REPLY).accepted
    with seeded.begin() as s:
        assert [r.order.id for r in worklists.quality_list(s, settings)] == [oid]
        first = callbacks.schedule_callback(s, settings, oid)
    for who, decide in ((TRANSPORT, "approve"), (DISPATCHER, "approve"), (OPERATOR, "back")):
        with pytest.raises(Forbidden), seeded.begin() as s:
            if decide == "approve":
                platform_review.approve_reply(s, settings, who, oid)
            else:
                platform_review.send_reply_back(s, settings, who, oid, "r")
    with pytest.raises(Invalid) as bad, seeded.begin() as s:
        platform_review.send_reply_back(s, settings, QUALITY, oid, " ")
    assert bad.value.extra["field"] == "reason"
    with seeded.begin() as s:
        platform_review.send_reply_back(s, settings, QUALITY, oid, "办理结果未写明修补时间")
    order, evs = _state(seeded, oid)
    assert (order.status, evs[-1].kind, evs[-1].unit) == (
        "handling", "quality_sent_back", "dept-transport")
    with seeded() as s:
        assert worklists.quality_list(s, settings) == []
        # The callback queued for the sent-back reply is no longer wanted.
        assert first in callbacks.stale_targets(s)
    with pytest.raises(Conflict), seeded.begin() as s:
        platform_review.approve_reply(s, settings, QUALITY, oid)
    clock.advance(hours=1)
    with seeded.begin() as s:
        assert desk.reply(s, settings, TRANSPORT, oid, REPLY).accepted
        assert callbacks.due_for_callback(s) == [oid]
        second = callbacks.schedule_callback(s, settings, oid)
        assert second is not None and second != first
        platform_review.approve_reply(s, settings, QUALITY, oid, "")
    with seeded() as s:
        assert worklists.quality_list(s, settings) == []
        keys = sorted(t.key for t in s.scalars(
            select(CampaignTarget).where(CampaignTarget.order_id == oid)))
    assert keys == [f"order/{oid}/round/1", f"order/{oid}/round/1/resent/1"]
    with pytest.raises(Conflict), seeded.begin() as s:
        platform_review.approve_reply(s, settings, QUALITY, oid)
    assert EventKind.QUALITY_APPROVED.value == _state(seeded, oid)[1][-1].kind
