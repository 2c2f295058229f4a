"""The satisfaction-callback and reminder IVR flows over a real FastAGI server, with a
scripted peer playing Asterisk (testkit.fake_asterisk), the real ``campaign`` script
(ivr/campaign_flow.py), the dialer's store and a migrated SQLite database.

What the peer expects is the call as the flows' docstrings describe it (prompt by prompt),
and the order's state afterwards comes from the rules: key 4 = 不满意, unsatisfied under
gaotai → review; key 1 on a reminder = confirmed. The real-Asterisk versions are
tests/e2e/test_satisfaction_callback.py and tests/e2e/test_reminder_calls.py.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hotline_core.access import Principal, Role
from hotline_core.campaigns.model import CampaignAttempt, CampaignKind, CampaignTarget
from hotline_core.campaigns.store import CampaignStore
from hotline_core.db import make_engine, make_sessionmaker
from hotline_core.migrate import upgrade
from hotline_core.workorders import callbacks, desk, reminders
from hotline_core.workorders.calendar import ChineseWorkingCalendar
from hotline_core.workorders.desk import DeskSettings, Intake
from hotline_core.workorders.model import WorkOrder, WorkOrderEvent
from hotline_core.workorders.presets import Category, ReplyPart, load_preset
from hotline_core.workorders.replies import ReplyDraft
from hotline_core.workorders.supervision import run_supervision
from ivr.campaign import attempt_leg
from ivr.campaign_flow import CampaignFlow
from ivr.dialplan import AgiScript
from ivr.flows.reminder_call import ReminderCallFlow, ReminderContext
from ivr.flows.satisfaction_callback import SatisfactionCallbackFlow, SatisfactionContext
from testkit.fake_asterisk import FakeAsterisk, serve
from tests.workorders.conftest import Clock, load_sample_dispatch_data

OPERATOR = Principal("op", Role.OPERATOR)
DISPATCHER = Principal("disp", Role.DISPATCHER)
TRANSPORT = Principal("transport", Role.UNIT, "dept-transport")
OK = "200 result=0 endpos=800"
S = r"STREAM FILE /i/sounds/"


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2026, 6, 8, 9, 0))


@pytest.fixture
def cfg(clock: Clock) -> DeskSettings:
    return DeskSettings(preset=load_preset("gaotai"), calendar=ChineseWorkingCalendar(),
                        clock=clock)


@pytest.fixture
def maker(tmp_path: Path) -> sessionmaker[Session]:
    url = f"sqlite:///{tmp_path / 'hotline.db'}"
    upgrade(url)
    maker = make_sessionmaker(make_engine(url))
    load_sample_dispatch_data(maker)
    return maker


def _order(maker: sessionmaker[Session], cfg: DeskSettings, *, reply: bool) -> int:
    with maker.begin() as s:
        oid = desk.create_order(s, cfg, OPERATOR, Intake(
            channel="web", category=Category.HELP, description="路面塌陷", matter="道路破损",
            caller_number="13700000000")).order.id
        desk.dispatch(s, cfg, DISPATCHER, oid)
        desk.sign_off(s, cfg, TRANSPORT, oid)
        if reply:
            assert desk.reply(s, cfg, TRANSPORT, oid, ReplyDraft(
                {ReplyPart.RESPONSE: "已查看。", ReplyPart.RESULT: "已修补。"})).accepted
    return oid


def _store(maker: sessionmaker[Session], cfg: DeskSettings) -> CampaignStore:
    store = CampaignStore(maker, clock=cfg.now)
    for kind in (CampaignKind.SATISFACTION_CALLBACK, CampaignKind.REMINDER):
        store.hooks[kind] = callbacks.OrderCampaignHooks(cfg, kind)
    return store


def _answered(store: CampaignStore, maker: sessionmaker[Session], oid: int,
              number: str, role: str) -> int:
    with maker() as s:
        target_id = s.scalars(select(CampaignTarget.id)
                              .where(CampaignTarget.order_id == oid)).one()
    attempt = store.begin_attempt(target_id, number, role, leg=attempt_leg)
    assert attempt is not None
    store.mark_originating(attempt.id)
    return attempt.id


def _flows(maker: sessionmaker[Session], cfg: DeskSettings, store: CampaignStore,
           tmp_path: Path, espeak_broken: bool = False) -> CampaignFlow:
    async def prompt(name: str, text: str) -> str:
        assert text.startswith("由县交通运输局办理。办理结果:已修补")
        if espeak_broken:
            raise FileNotFoundError("espeak-ng")
        return f"/i/sounds/orders/{name}"
    return CampaignFlow(store, {
        CampaignKind.SATISFACTION_CALLBACK: SatisfactionCallbackFlow(SatisfactionContext(
            sessions=maker, desk=cfg, sounds_dir="/i/sounds", recordings_dir="/i/rec",
            recordings_host=tmp_path, order_prompt=prompt)),
        CampaignKind.REMINDER: ReminderCallFlow(ReminderContext(
            sessions=maker, desk=cfg, sounds_dir="/i/sounds", wait_ms=100)),
    })


def _peer(port: int, attempt_id: int) -> FakeAsterisk:
    return FakeAsterisk(port, script=AgiScript.CAMPAIGN.value,
                        params={"attempt": str(attempt_id)}, uniqueid=f"at-{attempt_id}",
                        callerid="13700000000")


def _callback_intro(peer: FakeAsterisk, oid: int) -> FakeAsterisk:
    peer.expect(S + "callback-intro \"\"", OK).expect(S + "callback-order \"\"", OK)
    for digit in str(oid):
        peer.expect(S + f"num-{digit} \"\"", OK)
    return peer.expect(rf"STREAM FILE /i/sounds/orders/callback-order-{oid} \"\"", OK)


def _attempt(maker: sessionmaker[Session], attempt_id: int) -> CampaignAttempt:
    with maker() as s:
        attempt = s.get(CampaignAttempt, attempt_id)
        assert attempt is not None
        return attempt


async def test_key_4_is_stored_as_unsatisfied_before_the_comment(
        maker: sessionmaker[Session], cfg: DeskSettings, tmp_path: Path) -> None:
    oid = _order(maker, cfg, reply=True)
    with maker.begin() as s:
        callbacks.schedule_callbacks(s, cfg)
    store = _store(maker, cfg)
    attempt_id = _answered(store, maker, oid, "13700000000", "citizen")
    async with serve({AgiScript.CAMPAIGN: _flows(maker, cfg, store, tmp_path)}) as server:
        peer = _callback_intro(_peer(server.port, attempt_id), oid)
        peer.expect(S + 'callback-ask-rating "12345"', f"200 result={ord('4')} endpos=900")
        peer.expect(S + 'callback-rated ""', OK).expect(S + 'rating-4 ""', OK)
        peer.expect(S + 'callback-comment ""', OK)
        # The citizen hangs up while the comment is being recorded.
        peer.expect(r'RECORD FILE "/i/rec/\d{8}/attempt-\d+-comment" wav "#" 60000 0 BEEP s=4')
        peer.hangup().send("200 result=-1 (hangup) endpos=0")
        result = await peer.run()
    result.assert_ok()
    with maker() as s:
        order = s.get(WorkOrder, oid)
        assert order is not None
        assert (order.evaluation, order.status) == ("unsatisfied", "review")
    # Stored as completed (a hang-up after the rating is not a failed call), rating 4.
    assert _attempt(maker, attempt_id).outcome == "completed"
    with maker() as s:
        target = s.scalars(select(CampaignTarget).where(CampaignTarget.order_id == oid)).one()
    assert (target.result["rating"], target.result["by"]) == ("4", "dtmf")


async def test_without_the_order_sentence_the_rating_is_still_asked(
        maker: sessionmaker[Session], cfg: DeskSettings, tmp_path: Path) -> None:
    """The order's prompt cannot be made (espeak-ng missing): the call goes on from the
    order number to the question, and key 1 is stored as 非常满意 (closed)."""
    oid = _order(maker, cfg, reply=True)
    with maker.begin() as s:
        callbacks.schedule_callbacks(s, cfg)
    store = _store(maker, cfg)
    attempt_id = _answered(store, maker, oid, "13700000000", "citizen")
    flows = _flows(maker, cfg, store, tmp_path, espeak_broken=True)
    async with serve({AgiScript.CAMPAIGN: flows}) as server:
        peer = _peer(server.port, attempt_id)
        peer.expect(S + 'callback-intro ""', OK).expect(S + 'callback-order ""', OK)
        for digit in str(oid):
            peer.expect(S + f'num-{digit} ""', OK)
        peer.expect(S + 'callback-ask-rating "12345"', f"200 result={ord('1')} endpos=9")
        peer.expect(S + 'callback-rated ""', OK).expect(S + 'rating-1 ""', OK)
        peer.expect(S + 'callback-comment ""', OK)
        peer.expect(r'RECORD FILE .*-comment" wav "#" .*', "200 result=35 (dtmf) endpos=0")
        peer.expect(S + 'callback-thanks ""', OK)
        result = await peer.run()
    result.assert_ok()
    with maker() as s:
        order = s.get(WorkOrder, oid)
        assert order is not None
        assert (order.evaluation, order.status) == ("very_satisfied", "closed")


async def test_no_answer_to_the_question_is_left_to_the_retries(
        maker: sessionmaker[Session], cfg: DeskSettings, tmp_path: Path) -> None:
    """Without speech, a silent citizen is asked twice; nothing is evaluated and the attempt
    is reported hung_up (retried by the dialer's rules)."""
    oid = _order(maker, cfg, reply=True)
    with maker.begin() as s:
        callbacks.schedule_callbacks(s, cfg)
    store = _store(maker, cfg)
    attempt_id = _answered(store, maker, oid, "13700000000", "citizen")
    record = (r'RECORD FILE "/i/rec/\d{8}/attempt-\d+-rating-%d" wav "12345" 6000 0 s=3',
              "200 result=0 (timeout) endpos=48000")
    async with serve({AgiScript.CAMPAIGN: _flows(maker, cfg, store, tmp_path)}) as server:
        peer = _callback_intro(_peer(server.port, attempt_id), oid)
        peer.expect(S + 'callback-ask-rating "12345"', OK).expect(record[0] % 1, record[1])
        peer.expect(S + 'callback-not-heard ""', OK)
        peer.expect(S + 'callback-ask-rating "12345"', OK).expect(record[0] % 2, record[1])
        peer.expect(S + 'callback-not-heard ""', OK)
        result = await peer.run()
    result.assert_ok()
    assert _attempt(maker, attempt_id).outcome == "hung_up"
    with maker() as s:
        order = s.get(WorkOrder, oid)
        assert order is not None and (order.status, order.evaluation) == ("replied", None)


async def test_a_liaison_confirms_with_key_1(
        maker: sessionmaker[Session], cfg: DeskSettings, clock: Clock, tmp_path: Path) -> None:
    oid = _order(maker, cfg, reply=False)
    clock.advance(days=2, hours=3, minutes=30)   # due Tue 09:00, now Wed 12:30
    with maker.begin() as s:
        run_supervision(s, cfg)
        reminders.schedule_reminder_calls(s, cfg)
    store = _store(maker, cfg)
    attempt_id = _answered(store, maker, oid, "13800001402", "B")
    async with serve({AgiScript.CAMPAIGN: _flows(maker, cfg, store, tmp_path)}) as server:
        peer = _peer(server.port, attempt_id)
        peer.expect(S + 'reminder-intro "1"', OK).expect(S + 'reminder-order "1"', OK)
        for digit in str(oid):
            peer.expect(S + f'num-{digit} "1"', OK)
        # 已超期 一 天 三 小时 (1 day 3.5 hours: whole hours)
        for name in ("reminder-overdue", "num-1", "unit-day", "num-3", "unit-hour"):
            peer.expect(S + f'{name} "1"', OK)
        peer.expect(S + 'reminder-confirm "1"', f"200 result={ord('1')} endpos=10")
        peer.expect(S + 'reminder-confirmed ""', OK)
        result = await peer.run()
    result.assert_ok()
    with maker() as s:
        last = s.scalars(select(WorkOrderEvent).where(WorkOrderEvent.order_id == oid)
                         .order_by(WorkOrderEvent.seq.desc()).limit(1)).one()
    assert (last.kind, last.data["role"], last.actor) == ("reminder_confirmed", "B", "唐联络(B)")
    assert _attempt(maker, attempt_id).outcome == "completed"


async def test_a_liaison_who_does_not_confirm_leaves_it_to_the_next(
        maker: sessionmaker[Session], cfg: DeskSettings, clock: Clock, tmp_path: Path) -> None:
    """A answers but presses nothing (told twice): no confirmation, the attempt is reported
    hung_up, so the dialer's rules go on to B."""
    oid = _order(maker, cfg, reply=False)
    clock.advance(days=2, hours=3, minutes=30)
    with maker.begin() as s:
        run_supervision(s, cfg)
        reminders.schedule_reminder_calls(s, cfg)
    store = _store(maker, cfg)
    attempt_id = _answered(store, maker, oid, "13800001401", "A")
    names = ["reminder-intro", "reminder-order", *(f"num-{d}" for d in str(oid)),
             "reminder-overdue", "num-1", "unit-day", "num-3", "unit-hour", "reminder-confirm"]
    async with serve({AgiScript.CAMPAIGN: _flows(maker, cfg, store, tmp_path)}) as server:
        peer = _peer(server.port, attempt_id)
        for _ in range(2):
            for name in names:
                peer.expect(S + f'{name} "1"', OK)
            peer.expect("WAIT FOR DIGIT 100", "200 result=0")
        result = await peer.run()
    result.assert_ok()
    assert _attempt(maker, attempt_id).outcome == "hung_up"
    with maker() as s:
        kinds = list(s.scalars(select(WorkOrderEvent.kind)
                               .where(WorkOrderEvent.order_id == oid)))
    assert "reminder_confirmed" not in kinds
