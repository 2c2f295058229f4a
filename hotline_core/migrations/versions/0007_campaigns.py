"""Outbound campaigns: campaigns, their targets and every dial attempt; the recording of a
callback conversation on its call record

Revision ID: 0007_campaigns
Revises: 0006_call_transfers
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_campaigns"
down_revision: str | None = "0006_call_transfers"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "campaigns",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("line", sa.String(length=20), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("standing", sa.Boolean(), nullable=False),
        sa.Column("max_channels", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaigns")),
    )
    op.create_index("ix_campaigns_kind_line", "campaigns", ["kind", "line"], unique=False)
    op.create_table(
        "campaign_targets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("destinations", sa.JSON(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=True),
        sa.Column("call_id", sa.String(length=64), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("dials", sa.Integer(), nullable=False),
        sa.Column("next_at", sa.DateTime(), nullable=True),
        sa.Column("outcome", sa.String(length=32), nullable=False),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("closed_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["campaign_id"], ["campaigns.id"],
                                name=op.f("fk_campaign_targets_campaign_id_campaigns")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign_targets")),
        sa.UniqueConstraint("campaign_id", "key", name="uq_campaign_targets_campaign_key"),
    )
    op.create_index("ix_campaign_targets_state_next", "campaign_targets",
                    ["state", "next_at"], unique=False)
    op.create_index(op.f("ix_campaign_targets_order_id"), "campaign_targets", ["order_id"],
                    unique=False)
    op.create_index(op.f("ix_campaign_targets_call_id"), "campaign_targets", ["call_id"],
                    unique=False)
    op.create_table(
        "campaign_attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("target_id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("outcome", sa.String(length=32), nullable=True),
        sa.Column("detail", sa.String(length=200), nullable=False),
        sa.Column("agent_id", sa.String(length=32), nullable=True),
        sa.Column("channel", sa.String(length=80), nullable=False),
        sa.Column("recording", sa.String(length=300), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("originated_at", sa.DateTime(), nullable=True),
        sa.Column("answered_at", sa.DateTime(), nullable=True),
        sa.Column("ended_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["campaign_id"], ["campaigns.id"],
                                name=op.f("fk_campaign_attempts_campaign_id_campaigns")),
        sa.ForeignKeyConstraint(["target_id"], ["campaign_targets.id"],
                                name=op.f("fk_campaign_attempts_target_id_campaign_targets")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign_attempts")),
        sa.UniqueConstraint("target_id", "seq", name="uq_campaign_attempts_target_seq"),
    )
    op.create_index("ix_campaign_attempts_state", "campaign_attempts", ["state"], unique=False)
    op.create_index(op.f("ix_campaign_attempts_campaign_id"), "campaign_attempts",
                    ["campaign_id"], unique=False)
    # Virtual hold / missed-call callback: the conversation's own recording
    # (<call id>-callback.wav), next to the inbound call's recording.
    with op.batch_alter_table("call_records", schema=None) as batch_op:
        batch_op.add_column(sa.Column("callback_recording", sa.String(length=300),
                                      nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("call_records", schema=None) as batch_op:
        batch_op.drop_column("callback_recording")
    op.drop_index(op.f("ix_campaign_attempts_campaign_id"), table_name="campaign_attempts")
    op.drop_index("ix_campaign_attempts_state", table_name="campaign_attempts")
    op.drop_table("campaign_attempts")
    op.drop_index(op.f("ix_campaign_targets_call_id"), table_name="campaign_targets")
    op.drop_index(op.f("ix_campaign_targets_order_id"), table_name="campaign_targets")
    op.drop_index("ix_campaign_targets_state_next", table_name="campaign_targets")
    op.drop_table("campaign_targets")
    op.drop_index("ix_campaigns_kind_line", table_name="campaigns")
    op.drop_table("campaigns")
