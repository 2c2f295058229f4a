"""publication consent on work orders, review of units' knowledge-base entries

Revision ID: 0003_publication_review
Revises: 0002_call_records
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_publication_review"
down_revision: str | None = "0002_call_records"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Orders taken before consent was asked are not published (server default false).
    with op.batch_alter_table("work_orders", schema=None) as batch_op:
        batch_op.add_column(sa.Column("publish_consent", sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
    with op.batch_alter_table("kb_entries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("review_pending", sa.Boolean(), nullable=False,
                                      server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("kb_entries", schema=None) as batch_op:
        batch_op.drop_column("review_pending")
    with op.batch_alter_table("work_orders", schema=None) as batch_op:
        batch_op.drop_column("publish_consent")
