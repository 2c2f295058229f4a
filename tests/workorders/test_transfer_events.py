"""A transfer of a call to 110/119/120/122 is kept on the work order made from that call: when
the transfer ends the order gets a ``transferred`` event (target, mode, times, outcome) and
the transfer row names the order; the order's state does not change — SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from hotline_core.access import Principal, Role
from hotline_core.transfers import TransferMode, TransferOutcome, TransferStore
from hotline_core.workorders import desk
from hotline_core.workorders.desk import DeskSettings, Intake
from hotline_core.workorders.model import WorkOrder
from hotline_core.workorders.presets import Category

OPERATOR = Principal("1001", Role.OPERATOR)


def _order_from_call(maker: sessionmaker[Session], settings: DeskSettings, call: str) -> int:
    with maker() as s, s.begin():
        return desk.create_order(s, settings, OPERATOR, Intake(
            channel="phone", category=Category.HELP, description="厨房燃气泄漏",
            matter="燃气泄漏", caller_number="13812345678", call_record_id=call)).order.id


def test_the_order_from_the_call_gets_the_transfer_as_an_event(
        seeded: sessionmaker[Session], settings: DeskSettings) -> None:
    order_id = _order_from_call(seeded, settings, "call-0001")
    with seeded() as s:
        order = s.get(WorkOrder, order_id)
        assert order is not None
        status_before = order.status
        events_before = len(desk.events_of(s, order_id))
    store = TransferStore(seeded)
    tid = store.requested("call-0001", "119", TransferMode.BLIND, "1001")
    store.outcome(tid, TransferOutcome.CONNECTED, "", answered=True)
    with seeded() as s:   # nothing on the order until the transfer ends
        assert len(desk.events_of(s, order_id)) == events_before
    store.outcome(tid, TransferOutcome.COMPLETED, ended=True)

    row = store.get(tid)
    assert row is not None and row.work_order_id == order_id
    assert row.answered_at is not None and row.ended_at is not None
    with seeded() as s:
        events = desk.events_of(s, order_id)
        assert len(events) == events_before + 1
        last = events[-1]
        assert last.kind == "transferred" and last.actor == "1001"
        assert (last.data["transfer"], last.data["target"], last.data["mode"],
                last.data["outcome"]) == (tid, "119", "blind", "completed")
        assert last.data["answered_at"] is not None
        order = s.get(WorkOrder, order_id)
        assert order is not None and order.status == status_before


def test_a_call_without_order_gets_no_event_and_no_order_link(
        seeded: sessionmaker[Session], settings: DeskSettings) -> None:
    other = _order_from_call(seeded, settings, "call-0002")
    store = TransferStore(seeded)
    tid = store.requested("call-0003", "120", TransferMode.THREE_WAY, "1001")
    store.outcome(tid, TransferOutcome.BUSY, "centre 120: BUSY", ended=True)
    row = store.get(tid)
    assert row is not None and row.work_order_id is None and row.outcome == "busy"
    with seeded() as s:
        assert all(e.kind != "transferred" for e in desk.events_of(s, other))
