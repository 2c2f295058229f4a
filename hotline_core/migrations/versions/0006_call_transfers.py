"""Transfers of calls to the emergency centres and calls passed in by them

Revision ID: 0006_call_transfers
Revises: 0005_call_intervals
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_call_transfers"
down_revision: str | None = "0005_call_intervals"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # One row per transfer (hotline_core/transfers.py); no foreign key to call_records
    # because a call record is written by the record writer, which may still be retrying.
    op.create_table(
        "call_transfers",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("call_record_id", sa.String(length=64), nullable=False),
        sa.Column("work_order_id", sa.Integer(), nullable=True),
        sa.Column("target", sa.String(length=8), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("requested_by", sa.String(length=32), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("detail", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(["work_order_id"], ["work_orders.id"],
                                name=op.f("fk_call_transfers_work_order_id_work_orders")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_call_transfers")),
    )
    for column in ("call_record_id", "work_order_id"):
        op.create_index(op.f(f"ix_call_transfers_{column}"), "call_transfers", [column])
    op.create_table(
        "centre_calls",
        sa.Column("call_record_id", sa.String(length=64), nullable=False),
        sa.Column("centre", sa.String(length=8), nullable=False),
        sa.Column("reference", sa.String(length=64), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("call_record_id", name=op.f("pk_centre_calls")),
    )


def downgrade() -> None:
    op.drop_table("centre_calls")
    for column in ("call_record_id", "work_order_id"):
        op.drop_index(op.f(f"ix_call_transfers_{column}"), table_name="call_transfers")
    op.drop_table("call_transfers")
