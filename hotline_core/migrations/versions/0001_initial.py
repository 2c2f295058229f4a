# ruff: noqa: E501 - generated table definitions
"""initial schema: work orders, knowledge base, transcripts

Revision ID: 0001_initial
Revises:
Create Date: 2026-11-22 20:59:06.582572
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001_initial"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Events are append-only (工单流转记录不可篡改): the database itself refuses changes.
_SQLITE_TRIGGERS = [
    "CREATE TRIGGER wo_events_no_update BEFORE UPDATE ON wo_events "
    "BEGIN SELECT RAISE(ABORT, 'work-order events are append-only'); END",
    "CREATE TRIGGER wo_events_no_delete BEFORE DELETE ON wo_events "
    "BEGIN SELECT RAISE(ABORT, 'work-order events are append-only'); END",
]
_PG_TRIGGERS = [
    "CREATE FUNCTION wo_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
    "BEGIN RAISE EXCEPTION 'work-order events are append-only'; END $$",
    "CREATE TRIGGER wo_events_no_change BEFORE UPDATE OR DELETE ON wo_events "
    "FOR EACH ROW EXECUTE FUNCTION wo_events_append_only()",
]


def _create_append_only_guard() -> None:
    dialect = op.get_bind().dialect.name
    for statement in {"sqlite": _SQLITE_TRIGGERS, "postgresql": _PG_TRIGGERS}.get(dialect, []):
        op.execute(statement)


def _drop_append_only_guard() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS wo_events_no_update")
        op.execute("DROP TRIGGER IF EXISTS wo_events_no_delete")
    elif dialect == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS wo_events_no_change ON wo_events")
        op.execute("DROP FUNCTION IF EXISTS wo_events_append_only()")


def upgrade() -> None:
    op.create_table(
        "kb_synonyms",
        sa.Column("word", sa.String(length=100), nullable=False),
        sa.Column("canonical", sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint("word", name=op.f("pk_kb_synonyms")),
    )
    op.create_table(
        "transcripts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("call_id", sa.String(length=64), nullable=False),
        sa.Column("leg", sa.String(length=32), nullable=False),
        sa.Column("audio_path", sa.String(length=512), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("words", sa.JSON(), nullable=False),
        sa.Column("audio_seconds", sa.Double(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transcripts")),
        sa.UniqueConstraint("call_id", "leg", name=op.f("uq_transcripts_call_id")),
    )
    with op.batch_alter_table("transcripts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_transcripts_call_id"), ["call_id"], unique=False)

    op.create_table(
        "wo_units",
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_wo_units")),
    )
    op.create_table(
        "work_orders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("call_record_id", sa.String(length=64), nullable=True),
        sa.Column("recording", sa.String(length=500), nullable=True),
        sa.Column("line", sa.String(length=32), nullable=False),
        sa.Column("caller_number", sa.String(length=32), nullable=False),
        sa.Column("caller_name", sa.String(length=100), nullable=False),
        sa.Column("category", sa.String(length=20), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("address", sa.String(length=300), nullable=False),
        sa.Column("locality", sa.String(length=200), nullable=False),
        sa.Column("matter", sa.String(length=200), nullable=False),
        sa.Column("confidential", sa.Boolean(), nullable=False),
        sa.Column("emergency", sa.Boolean(), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("status", sa.String(length=30), nullable=False),
        sa.Column("leader_instruction", sa.Boolean(), nullable=False),
        sa.Column("lead_unit", sa.String(length=64), nullable=True),
        sa.Column("due_at", sa.DateTime(), nullable=True),
        sa.Column("handling_started_at", sa.DateTime(), nullable=True),
        sa.Column("dispatched_at", sa.DateTime(), nullable=True),
        sa.Column("sign_due_at", sa.DateTime(), nullable=True),
        sa.Column("callback_due_at", sa.DateTime(), nullable=True),
        sa.Column("signed_at", sa.DateTime(), nullable=True),
        sa.Column("replied_at", sa.DateTime(), nullable=True),
        sa.Column("closed_at", sa.DateTime(), nullable=True),
        sa.Column("redo_count", sa.Integer(), nullable=False),
        sa.Column("evaluation", sa.String(length=20), nullable=True),
        sa.Column("grade", sa.String(length=1), nullable=False),
        sa.Column("late_replies", sa.Integer(), nullable=False),
        sa.Column("late_returns", sa.Integer(), nullable=False),
        sa.Column("excluded_from_score", sa.Boolean(), nullable=False),
        sa.Column("duplicate_of", sa.Integer(), nullable=True),
        sa.Column("event_count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["duplicate_of"],
            ["work_orders.id"],
            name=op.f("fk_work_orders_duplicate_of_work_orders"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_work_orders")),
    )
    with op.batch_alter_table("work_orders", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_work_orders_call_record_id"), ["call_record_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_work_orders_caller_number"), ["caller_number"], unique=False
        )
        batch_op.create_index(
            "ix_work_orders_lead_received", ["lead_unit", "received_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_work_orders_lead_unit"), ["lead_unit"], unique=False)
        batch_op.create_index(batch_op.f("ix_work_orders_matter"), ["matter"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_work_orders_received_at"), ["received_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_work_orders_status"), ["status"], unique=False)
        batch_op.create_index("ix_work_orders_status_due", ["status", "due_at"], unique=False)

    op.create_table(
        "kb_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("unit_code", sa.String(length=64), nullable=True),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("keywords", sa.String(length=500), nullable=False),
        sa.Column("public", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["unit_code"], ["wo_units.code"], name=op.f("fk_kb_entries_unit_code_wo_units")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kb_entries")),
    )
    with op.batch_alter_table("kb_entries", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_kb_entries_unit_code"), ["unit_code"], unique=False)

    op.create_table(
        "wo_assignments",
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("unit_code", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=10), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["order_id"], ["work_orders.id"], name=op.f("fk_wo_assignments_order_id_work_orders")
        ),
        sa.ForeignKeyConstraint(
            ["unit_code"], ["wo_units.code"], name=op.f("fk_wo_assignments_unit_code_wo_units")
        ),
        sa.PrimaryKeyConstraint("order_id", "unit_code", name=op.f("pk_wo_assignments")),
    )
    with op.batch_alter_table("wo_assignments", schema=None) as batch_op:
        batch_op.create_index("ix_wo_assignments_unit", ["unit_code", "order_id"], unique=False)

    op.create_table(
        "wo_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("actor_role", sa.String(length=20), nullable=False),
        sa.Column("unit", sa.String(length=64), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["order_id"], ["work_orders.id"], name=op.f("fk_wo_events_order_id_work_orders")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wo_events")),
        sa.UniqueConstraint("order_id", "seq", name="uq_wo_events_order_seq"),
    )
    with op.batch_alter_table("wo_events", schema=None) as batch_op:
        batch_op.create_index("ix_wo_events_kind_at", ["kind", "at"], unique=False)

    op.create_table(
        "wo_gazetteer",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("town", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["town"], ["wo_units.code"], name=op.f("fk_wo_gazetteer_town_wo_units")
        ),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_wo_gazetteer")),
    )
    op.create_table(
        "wo_matters",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("department", sa.String(length=64), nullable=False),
        sa.Column("section", sa.String(length=200), nullable=False),
        sa.Column("locality_first", sa.Boolean(), nullable=False),
        sa.Column("dual", sa.Boolean(), nullable=False),
        sa.Column("approval", sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(
            ["department"], ["wo_units.code"], name=op.f("fk_wo_matters_department_wo_units")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wo_matters")),
        sa.UniqueConstraint("name", name=op.f("uq_wo_matters_name")),
    )
    op.create_table(
        "wo_unit_contacts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("unit_code", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=10), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("phone", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["unit_code"], ["wo_units.code"], name=op.f("fk_wo_unit_contacts_unit_code_wo_units")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wo_unit_contacts")),
    )
    with op.batch_alter_table("wo_unit_contacts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_wo_unit_contacts_unit_code"), ["unit_code"], unique=False
        )

    op.create_table(
        "kb_terms",
        sa.Column("entry_id", sa.Integer(), nullable=False),
        sa.Column("term", sa.String(length=100), nullable=False),
        sa.Column("weight", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["entry_id"],
            ["kb_entries.id"],
            name=op.f("fk_kb_terms_entry_id_kb_entries"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("entry_id", "term", name=op.f("pk_kb_terms")),
    )
    with op.batch_alter_table("kb_terms", schema=None) as batch_op:
        batch_op.create_index("ix_kb_terms_term", ["term"], unique=False)

    _create_append_only_guard()


def downgrade() -> None:
    _drop_append_only_guard()
    with op.batch_alter_table("kb_terms", schema=None) as batch_op:
        batch_op.drop_index("ix_kb_terms_term")

    op.drop_table("kb_terms")
    with op.batch_alter_table("wo_unit_contacts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_wo_unit_contacts_unit_code"))

    op.drop_table("wo_unit_contacts")
    op.drop_table("wo_matters")
    op.drop_table("wo_gazetteer")
    with op.batch_alter_table("wo_events", schema=None) as batch_op:
        batch_op.drop_index("ix_wo_events_kind_at")

    op.drop_table("wo_events")
    with op.batch_alter_table("wo_assignments", schema=None) as batch_op:
        batch_op.drop_index("ix_wo_assignments_unit")

    op.drop_table("wo_assignments")
    with op.batch_alter_table("kb_entries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_kb_entries_unit_code"))

    op.drop_table("kb_entries")
    with op.batch_alter_table("work_orders", schema=None) as batch_op:
        batch_op.drop_index("ix_work_orders_status_due")
        batch_op.drop_index(batch_op.f("ix_work_orders_status"))
        batch_op.drop_index(batch_op.f("ix_work_orders_received_at"))
        batch_op.drop_index(batch_op.f("ix_work_orders_matter"))
        batch_op.drop_index(batch_op.f("ix_work_orders_lead_unit"))
        batch_op.drop_index("ix_work_orders_lead_received")
        batch_op.drop_index(batch_op.f("ix_work_orders_caller_number"))
        batch_op.drop_index(batch_op.f("ix_work_orders_call_record_id"))

    op.drop_table("work_orders")
    op.drop_table("wo_units")
    with op.batch_alter_table("transcripts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_transcripts_call_id"))

    op.drop_table("transcripts")
    op.drop_table("kb_synonyms")
