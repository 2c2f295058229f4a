"""Stored light instants (亮灯时刻): each open order's yellow instant, and the light rule
they were computed with, so that counting lights is a range count on an index.

The rows are filled at start-up (``lights.refresh_light_instants``, which compares the
preset's rule with the stored one), not here: the migration does not know the preset.

Revision ID: 0010_light_instants
Revises: 0009_deductions
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_light_instants"
down_revision: str | None = "0009_deductions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "wo_light_rule",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("fingerprint", sa.String(length=200), nullable=False),
        sa.Column("yellow_remaining_percent", sa.Integer(), nullable=False),
        sa.Column("yellow_remaining_hours", sa.Integer(), nullable=False),
        sa.Column("computed_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wo_light_rule")),
    )
    op.add_column("work_orders", sa.Column("yellow_at", sa.DateTime(), nullable=True))
    # The open orders only (lights.open_orders is the same predicate), with every column a
    # light needs, so that counting lights is an index-only scan.
    where = sa.text("status IN ('dispatched', 'handling', 'redo') AND due_at IS NOT NULL")
    op.create_index("ix_work_orders_open_lights", "work_orders",
                    ["lead_unit", "due_at", "yellow_at", "status", "handling_started_at",
                     "received_at"], unique=False, postgresql_where=where, sqlite_where=where)


def downgrade() -> None:
    op.drop_index("ix_work_orders_open_lights", table_name="work_orders")
    with op.batch_alter_table("work_orders") as batch:
        batch.drop_column("yellow_at")
    op.drop_table("wo_light_rule")
