"""The monitoring pool and the supervision list (hotline_core/workorders/worklists.py) on
SQLite, with hand-set orders and the gaotai preset:

- monitoring pool (R-LEDGER, ganzhou): C = extended or on the ledger, D = citizen
  unsatisfied, both kept until closed; D listed first;
- supervision (R-LIGHTS): a help order taken Monday 09:00 is due Tuesday 09:00 (1 working
  day, gaotai ``[limits] help``); its allowance is 24 h on the clock, yellow in the last
  25 % (``[lights] yellow_remaining_percent``) i.e. from Tuesday 03:00, red after 09:00;
  an overdue order gets a reminder (催办) from the supervision pass.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.orm import Session, sessionmaker

from hotline_core.access import Principal, Role
from hotline_core.migrate import upgrade
from hotline_core.workorders import desk, worklists
from hotline_core.workorders.desk import DeskSettings, Intake
from hotline_core.workorders.presets import Category, ReplyPart, SatisfactionLevel
from hotline_core.workorders.replies import ReplyDraft
from hotline_core.workorders.supervision import run_supervision
from tests.workorders.conftest import Clock

OPERATOR = Principal("op", Role.OPERATOR)
DISPATCHER = Principal("disp", Role.DISPATCHER)
CALLBACK = Principal("cb", Role.CALLBACK)
TRANSPORT = Principal("transport", Role.UNIT, "dept-transport")
SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'hotline.db'}"
    upgrade(url)
    return url


def _signed(s: Session, cfg: DeskSettings, category: Category = Category.HELP) -> int:
    oid = desk.create_order(s, cfg, OPERATOR, Intake(
        channel="web", category=category, description="路面塌陷", matter="道路破损")).order.id
    desk.dispatch(s, cfg, DISPATCHER, oid)
    desk.sign_off(s, cfg, TRANSPORT, oid)
    return oid


def test_monitoring_pool_holds_c_and_d_orders_until_closed(
        seeded: sessionmaker[Session], settings: DeskSettings, clock: Clock) -> None:
    with seeded.begin() as s:
        plain = _signed(s, settings)
        extended = _signed(s, settings, Category.COMPLAINT)
        on_ledger = _signed(s, settings)
        unhappy = _signed(s, settings)
        desk.request_extension(s, settings, TRANSPORT, extended,
                               datetime(2026, 6, 22, 9, 0, tzinfo=SHANGHAI), "需协调多部门")
        desk.decide_extension(s, settings, DISPATCHER, extended, True)
        desk.ledger(s, settings, DISPATCHER, on_ledger, open_it=True,
                    criteria="道路大修列入年度计划后销账")
        assert desk.reply(s, settings, TRANSPORT, unhappy, ReplyDraft({
            ReplyPart.RESPONSE: "已查看。", ReplyPart.RESULT: "已修补。现场恢复通行。"})).accepted
        desk.evaluate(s, settings, CALLBACK, unhappy, SatisfactionLevel.UNSATISFIED)
    with seeded() as s:
        pool = worklists.monitoring_list(s, settings)
    assert [(p.order.id, p.order.grade) for p in pool] == [
        (unhappy, "D"), (extended, "C"), (on_ledger, "C")]
    assert plain not in [p.order.id for p in pool]
    by_id = {p.order.id: p for p in pool}
    assert by_id[on_ledger].on_ledger is True
    assert by_id[on_ledger].ledger_criteria == "道路大修列入年度计划后销账"
    assert by_id[extended].why == ["延期 1 次"]
    assert by_id[unhappy].why == ["群众不满意（不满意）"]
    # Closed (the review closes it): out of the pool.
    with seeded.begin() as s:
        desk.decide_review(s, settings, DISPATCHER, unhappy, redo=False, reason="已按规定办理")
    with seeded() as s:
        assert unhappy not in [p.order.id for p in worklists.monitoring_list(s, settings)]


def test_supervision_lists_yellow_and_red_orders_with_their_reminders(
        seeded: sessionmaker[Session], settings: DeskSettings, clock: Clock) -> None:
    with seeded.begin() as s:
        early = _signed(s, settings)                 # Monday 09:00, due Tuesday 09:00
    clock.set(datetime(2026, 6, 8, 15, 0))            # Monday 15:00
    with seeded.begin() as s:
        late = _signed(s, settings)                  # due Tuesday 15:00
    clock.set(datetime(2026, 6, 9, 4, 0))             # Tuesday 04:00: early 5 h left of 24
    with seeded() as s:
        rows = worklists.supervision_list(s, settings)
    assert [(r.order.id, r.light) for r in rows] == [(early, "yellow")]
    clock.set(datetime(2026, 6, 9, 10, 0))            # Tuesday 10:00: early overdue
    with seeded.begin() as s:
        assert run_supervision(s, settings).reminders == [early]
    with seeded() as s:
        rows = worklists.supervision_list(s, settings)
        pool = worklists.monitoring_list(s, settings)
    # late: 5 h of 24 left at 10:00 → yellow too; red first.
    assert [(r.order.id, r.light) for r in rows] == [(early, "red"), (late, "yellow")]
    assert rows[0].reminded_at == "2026-06-09T10:00:00+08:00"
    assert rows[0].special_supervision_at is None
    assert pool == []       # a reminder alone makes no C/D grade
