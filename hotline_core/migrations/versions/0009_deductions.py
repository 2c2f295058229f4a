"""Deductions a supervisor enters against a unit (人工减分): shirking, breaking first
responsibility, missing double feedback; audited, withdrawn with a reason, never deleted.
The call-centre interval rows keep the answered calls' wait (average speed of answer).

Revision ID: 0009_deductions
Revises: 0008_users
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_deductions"
down_revision: str | None = "0008_users"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The audit trail stays: no DELETE; an UPDATE may only fill in the withdrawal, once.
_SQLITE_TRIGGERS = [
    "CREATE TRIGGER wo_unit_deductions_no_delete BEFORE DELETE ON wo_unit_deductions "
    "BEGIN SELECT RAISE(ABORT, 'deductions are withdrawn, never deleted'); END",
    "CREATE TRIGGER wo_unit_deductions_final BEFORE UPDATE ON wo_unit_deductions "
    "WHEN OLD.withdrawn_at IS NOT NULL OR NEW.unit_code IS NOT OLD.unit_code "
    "OR NEW.kind IS NOT OLD.kind OR NEW.occurred_at IS NOT OLD.occurred_at "
    "OR NEW.order_id IS NOT OLD.order_id OR NEW.reason IS NOT OLD.reason "
    "OR NEW.entered_by IS NOT OLD.entered_by OR NEW.entered_at IS NOT OLD.entered_at "
    "BEGIN SELECT RAISE(ABORT, 'a deduction is only withdrawn, once'); END",
]
_PG_TRIGGERS = [
    "CREATE FUNCTION wo_unit_deductions_audit() RETURNS trigger LANGUAGE plpgsql AS $$ "
    "BEGIN IF TG_OP = 'DELETE' THEN "
    "RAISE EXCEPTION 'deductions are withdrawn, never deleted'; END IF; "
    "IF OLD.withdrawn_at IS NOT NULL OR (NEW.unit_code, NEW.kind, NEW.occurred_at, "
    "NEW.order_id, NEW.reason, NEW.entered_by, NEW.entered_at) IS DISTINCT FROM "
    "(OLD.unit_code, OLD.kind, OLD.occurred_at, OLD.order_id, OLD.reason, OLD.entered_by, "
    "OLD.entered_at) THEN RAISE EXCEPTION 'a deduction is only withdrawn, once'; END IF; "
    "RETURN NEW; END $$",
    "CREATE TRIGGER wo_unit_deductions_guard BEFORE UPDATE OR DELETE ON wo_unit_deductions "
    "FOR EACH ROW EXECUTE FUNCTION wo_unit_deductions_audit()",
]


def upgrade() -> None:
    op.create_table(
        "wo_unit_deductions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("unit_code", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("occurred_at", sa.DateTime(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("entered_by", sa.String(length=100), nullable=False),
        sa.Column("entered_at", sa.DateTime(), nullable=False),
        sa.Column("withdrawn_at", sa.DateTime(), nullable=True),
        sa.Column("withdrawn_by", sa.String(length=100), nullable=True),
        sa.Column("withdraw_reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["unit_code"], ["wo_units.code"],
                                name=op.f("fk_wo_unit_deductions_unit_code_wo_units")),
        sa.ForeignKeyConstraint(["order_id"], ["work_orders.id"],
                                name=op.f("fk_wo_unit_deductions_order_id_work_orders")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wo_unit_deductions")),
    )
    op.create_index("ix_wo_unit_deductions_unit_at", "wo_unit_deductions",
                    ["unit_code", "occurred_at"], unique=False)
    with op.batch_alter_table("call_intervals") as batch:
        batch.add_column(sa.Column("answered_wait_seconds", sa.Float(), nullable=False,
                                   server_default="0"))
    dialect = op.get_bind().dialect.name
    for statement in {"sqlite": _SQLITE_TRIGGERS, "postgresql": _PG_TRIGGERS}.get(dialect, []):
        op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS wo_unit_deductions_no_delete")
        op.execute("DROP TRIGGER IF EXISTS wo_unit_deductions_final")
    elif dialect == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS wo_unit_deductions_guard ON wo_unit_deductions")
        op.execute("DROP FUNCTION IF EXISTS wo_unit_deductions_audit()")
    with op.batch_alter_table("call_intervals") as batch:
        batch.drop_column("answered_wait_seconds")
    op.drop_index("ix_wo_unit_deductions_unit_at", table_name="wo_unit_deductions")
    op.drop_table("wo_unit_deductions")
