"""call records

Revision ID: 0002_call_records
Revises: 0001_initial
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_call_records"
down_revision: str | None = "0001_initial"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "call_records",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("linkedid", sa.String(length=64), nullable=False),
        sa.Column("line", sa.String(length=20), nullable=False),
        sa.Column("department", sa.String(length=64), nullable=False),
        sa.Column("caller", sa.String(length=32), nullable=False),
        sa.Column("offered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("agent_id", sa.String(length=32), nullable=True),
        sa.Column("disposition", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("hangup_cause", sa.Integer(), nullable=True),
        sa.Column("recording", sa.String(length=300), nullable=True),
        sa.Column("message", sa.String(length=300), nullable=True),
        sa.Column("route", sa.String(length=16), nullable=False),
        sa.Column("reconciled", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_call_records")),
    )
    for column in ("line", "caller", "offered_at", "agent_id"):
        op.create_index(op.f(f"ix_call_records_{column}"), "call_records", [column])


def downgrade() -> None:
    for column in ("line", "caller", "offered_at", "agent_id"):
        op.drop_index(op.f(f"ix_call_records_{column}"), table_name="call_records")
    op.drop_table("call_records")
