"""Storage: migrations match the models, events are append-only in the database itself,
and the order row is exactly the fold of its events — on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from hotline_core.access import Principal, Role
from hotline_core.migrate import all_metadata
from hotline_core.workorders import desk
from hotline_core.workorders.desk import DeskSettings, Intake
from hotline_core.workorders.lifecycle import EventRecord, fold
from hotline_core.workorders.model import AppendOnlyError, WorkOrder, WorkOrderEvent
from hotline_core.workorders.presets import Category, ReplyPart, SatisfactionLevel
from hotline_core.workorders.replies import ReplyDraft
from tests.workorders.conftest import Clock

OPERATOR = Principal("op", Role.OPERATOR)
DISPATCHER = Principal("disp", Role.DISPATCHER)
CALLBACK = Principal("cb", Role.CALLBACK)
TRANSPORT = Principal("transport", Role.UNIT, "dept-transport")


def test_migrated_schema_matches_the_models(db_url: str) -> None:
    engine = create_engine(db_url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), all_metadata())
    engine.dispose()
    assert diff == []


def _one_order(maker: sessionmaker[Session], settings: DeskSettings, clock: Clock) -> int:
    with maker() as s, s.begin():
        result = desk.create_order(s, settings, OPERATOR, Intake(
            channel="web", category=Category.HELP, description="路面塌陷", matter="道路破损",
            caller_number="13700000000"))
        oid = result.order.id
        desk.dispatch(s, settings, DISPATCHER, oid)
        clock.advance(minutes=20)
        desk.sign_off(s, settings, TRANSPORT, oid)
        clock.advance(hours=5)
        assert desk.reply(s, settings, TRANSPORT, oid, ReplyDraft(
            {ReplyPart.RESPONSE: "已派人现场查看。", ReplyPart.RESULT: "已修补。"})).accepted
        desk.evaluate(s, settings, CALLBACK, oid, SatisfactionLevel.BASICALLY_SATISFIED)
    return oid


def test_events_are_append_only_in_the_database(
    seeded: sessionmaker[Session], settings: DeskSettings, clock: Clock,
) -> None:
    oid = _one_order(seeded, settings, clock)
    for statement in ("UPDATE wo_events SET actor = 'someone else'",
                      "DELETE FROM wo_events"):
        with seeded() as s, pytest.raises(DBAPIError, match="append-only"):
            s.execute(text(statement))
            s.commit()
    with seeded() as s:
        ev = s.scalars(select(WorkOrderEvent).where(WorkOrderEvent.order_id == oid)).first()
        assert ev is not None
        ev.actor = "forged"
        with pytest.raises(AppendOnlyError):
            s.flush()


def test_the_order_row_is_the_fold_of_its_events(
    seeded: sessionmaker[Session], settings: DeskSettings, clock: Clock,
) -> None:
    oid = _one_order(seeded, settings, clock)
    with seeded() as s:
        order = s.get(WorkOrder, oid)
        assert order is not None
        events = desk.events_of(s, oid)
        state = fold(EventRecord(e.kind, e.at, e.unit, e.data) for e in events)
        assert (order.status, order.lead_unit, order.due_at, order.closed_at,
                order.evaluation) == (state.status.value, state.lead_unit, state.due_at,
                                      state.closed_at, "basically_satisfied")
        assert order.status == "closed"
        # help under gaotai: 1 working day from Monday 09:00.
        # 09:00 China time, stored and read back as the same instant in UTC.
        assert order.due_at == datetime(2026, 6, 9, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
        assert order.due_at.utcoffset() == timedelta(0)
        assert [e.kind for e in events] == ["created", "dispatched", "signed_off", "replied",
                                            "evaluated"]
