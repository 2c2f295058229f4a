"""Storage of work orders (工单), their append-only events, units and the dispatch data.

The event table (工单流转记录) is the truth: every change to an order is one row there,
never updated or deleted (the migration adds database triggers that refuse it). The
columns on :class:`WorkOrder` below the "projection" line are a cache of the state
folded from those events (see :mod:`hotline_core.workorders.lifecycle`), written in the
same transaction as the event, so listings and supervision scans need no replay.

All times are naive wall-clock times in China Standard Time (UTC+8, no DST): the
hotline's deadlines are defined on the Chinese working-day calendar, and SQLite keeps no
time zone, so one convention for both backends.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    event,
    text,
)
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from hotline_core.clock import UtcDateTime
from hotline_core.db import Base


class Unit(Base):
    """A handling unit (承办单位): a town government or a department, or a utility."""

    __tablename__ = "wo_units"

    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20), default="department")  # town | department
    contacts: Mapped[list[UnitContact]] = relationship(
        back_populates="unit", cascade="all, delete-orphan", order_by="UnitContact.role"
    )


class UnitContact(Base):
    """A unit's lead or A/B liaison (AB角联络员) who receives reminders."""

    __tablename__ = "wo_unit_contacts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    unit_code: Mapped[str] = mapped_column(ForeignKey("wo_units.code"), index=True)
    role: Mapped[str] = mapped_column(String(10))  # lead | A | B
    name: Mapped[str] = mapped_column(String(100))
    phone: Mapped[str] = mapped_column(String(32))
    unit: Mapped[Unit] = relationship(back_populates="contacts")


class Matter(Base):
    """One line of the responsibility list (职责清单): matter → department → section."""

    __tablename__ = "wo_matters"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    department: Mapped[str] = mapped_column(ForeignKey("wo_units.code"))
    section: Mapped[str] = mapped_column(String(200), default="")
    # Territorial matter: the town government of the place leads (属地管理优先).
    locality_first: Mapped[bool] = mapped_column(Boolean, default=False)
    # Complex matter touching town and department: dual dispatch (双派).
    dual: Mapped[bool] = mapped_column(Boolean, default=False)
    # Kind that needs a leader's instruction before dispatch (hebei art. 23); "" = none.
    approval: Mapped[str] = mapped_column(String(40), default="")


class Place(Base):
    """Gazetteer line: a village, community or street and the town that governs it."""

    __tablename__ = "wo_gazetteer"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    town: Mapped[str] = mapped_column(ForeignKey("wo_units.code"))


# Orders a unit works on against a deadline (lifecycle.UNIT_WORKING, sorted).
OPEN_LIGHTS_WHERE = "status IN ('dispatched', 'handling', 'redo') AND due_at IS NOT NULL"


class WorkOrder(Base):
    """A citizen's demand as a work order. Identity fields are fixed at intake."""

    __tablename__ = "work_orders"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    channel: Mapped[str] = mapped_column(String(20))  # phone | web | api | sms | wechat
    call_record_id: Mapped[str | None] = mapped_column(String(64), index=True)
    recording: Mapped[str | None] = mapped_column(String(500))
    line: Mapped[str] = mapped_column(String(32), default="12345")
    # The department of a dual-number line the call came in on (from the call record).
    department: Mapped[str] = mapped_column(String(64), default="")
    caller_number: Mapped[str] = mapped_column(String(32), default="", index=True)
    caller_name: Mapped[str] = mapped_column(String(100), default="")
    category: Mapped[str] = mapped_column(String(20))
    description: Mapped[str] = mapped_column(Text)
    address: Mapped[str] = mapped_column(String(300), default="")
    locality: Mapped[str] = mapped_column(String(200), default="")
    matter: Mapped[str] = mapped_column(String(200), default="", index=True)
    confidential: Mapped[bool] = mapped_column(Boolean, default=False)
    # The citizen agreed that the demand (description, locality, handling) is published on
    # the open interface (Open311); without it the public never sees the order.
    publish_consent: Mapped[bool] = mapped_column(Boolean, default=False)
    emergency: Mapped[bool] = mapped_column(Boolean, default=False)
    priority: Mapped[int] = mapped_column(Integer, default=0)
    created_by: Mapped[str] = mapped_column(String(100), default="")

    # ---- projection of the event stream (rewritten after every event) ----
    status: Mapped[str] = mapped_column(String(30), index=True)
    leader_instruction: Mapped[bool] = mapped_column(Boolean, default=False)
    lead_unit: Mapped[str | None] = mapped_column(String(64), index=True)
    due_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    handling_started_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    dispatched_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    sign_due_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    callback_due_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    signed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    replied_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    redo_count: Mapped[int] = mapped_column(Integer, default=0)
    evaluation: Mapped[str | None] = mapped_column(String(20))
    grade: Mapped[str] = mapped_column(String(1), default="A")
    late_replies: Mapped[int] = mapped_column(Integer, default=0)
    late_returns: Mapped[int] = mapped_column(Integer, default=0)
    excluded_from_score: Mapped[bool] = mapped_column(Boolean, default=False)
    duplicate_of: Mapped[int | None] = mapped_column(ForeignKey("work_orders.id"))
    event_count: Mapped[int] = mapped_column(Integer, default=0)
    # From this instant the open order's light is yellow (red once past due_at), under the
    # light rule stored in wo_light_rule; NULL unless a unit works on it against a deadline
    # (hotline_core.workorders.lights: set_light_instant, refresh_light_instants).
    yellow_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    assignments: Mapped[list[UnitAssignment]] = relationship(
        back_populates="order", cascade="all, delete-orphan", order_by="UnitAssignment.unit_code"
    )

    __table_args__ = (
        Index("ix_work_orders_status_due", "status", "due_at"),
        Index("ix_work_orders_lead_received", "lead_unit", "received_at"),
        # The open orders (a tenth of all, say) with what their light needs: counting
        # lights reads this index alone (lights.open_orders is its predicate).
        Index("ix_work_orders_open_lights", "lead_unit", "due_at", "yellow_at", "status",
              "handling_started_at", "received_at",
              postgresql_where=text(OPEN_LIGHTS_WHERE), sqlite_where=text(OPEN_LIGHTS_WHERE)),
    )


class UnitAssignment(Base):
    """Which units an order was dispatched to: one lead (工单管家) and assisting units."""

    __tablename__ = "wo_assignments"

    order_id: Mapped[int] = mapped_column(ForeignKey("work_orders.id"), primary_key=True)
    unit_code: Mapped[str] = mapped_column(ForeignKey("wo_units.code"), primary_key=True)
    role: Mapped[str] = mapped_column(String(10))  # lead | assist
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    order: Mapped[WorkOrder] = relationship(back_populates="assignments")

    __table_args__ = (Index("ix_wo_assignments_unit", "unit_code", "order_id"),)


class LightRuleRow(Base):
    """The light rule (亮灯规则) the stored yellow instants were computed with: one row.

    ``fingerprint`` names the rule's thresholds; at start-up the core compares it with the
    preset's and recomputes every open order's ``yellow_at`` when they differ."""

    __tablename__ = "wo_light_rule"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(200))
    yellow_remaining_percent: Mapped[int] = mapped_column(Integer)
    yellow_remaining_hours: Mapped[int] = mapped_column(Integer)
    computed_at: Mapped[datetime] = mapped_column(UtcDateTime)


class WorkOrderEvent(Base):
    """One append-only event in an order's life (who, when, what)."""

    __tablename__ = "wo_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("work_orders.id"))
    seq: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(40))
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    actor: Mapped[str] = mapped_column(String(100))
    actor_role: Mapped[str] = mapped_column(String(20))
    unit: Mapped[str | None] = mapped_column(String(64))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    __table_args__ = (
        UniqueConstraint("order_id", "seq", name="uq_wo_events_order_seq"),
        Index("ix_wo_events_kind_at", "kind", "at"),
    )


class KnowledgeEntry(Base):
    """A knowledge-base entry (知识库条目) kept by a department."""

    __tablename__ = "kb_entries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    unit_code: Mapped[str | None] = mapped_column(ForeignKey("wo_units.code"), index=True)
    question: Mapped[str] = mapped_column(Text)
    answer: Mapped[str] = mapped_column(Text)
    keywords: Mapped[str] = mapped_column(String(500), default="")
    public: Mapped[bool] = mapped_column(Boolean, default=True)
    # A unit asked for the entry to be public: it stays private until a supervisor approves.
    review_pending: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class KnowledgeTerm(Base):
    """Inverted index of an entry's segmented words, so search is an indexed lookup."""

    __tablename__ = "kb_terms"

    entry_id: Mapped[int] = mapped_column(ForeignKey("kb_entries.id", ondelete="CASCADE"),
                                          primary_key=True)
    term: Mapped[str] = mapped_column(String(100), primary_key=True)
    weight: Mapped[int] = mapped_column(Integer, default=1)

    __table_args__ = (Index("ix_kb_terms_term", "term"),)


class Synonym(Base):
    """Synonym (同义词) → canonical word, applied to queries and entries alike."""

    __tablename__ = "kb_synonyms"

    word: Mapped[str] = mapped_column(String(100), primary_key=True)
    canonical: Mapped[str] = mapped_column(String(100))


class AppendOnlyError(RuntimeError):
    """Raised when code tries to change or delete a recorded event."""


@event.listens_for(Session, "before_flush")
def _refuse_event_rewrites(session: Session, _ctx: Any, _instances: Any) -> None:
    # The database triggers are the real guard; this catches mistakes earlier with a clear message.
    for obj in list(session.dirty) + list(session.deleted):
        if isinstance(obj, WorkOrderEvent):
            raise AppendOnlyError("work-order events are append-only")
