"""CDR reconciliation state in the database: the file offset and quarantined rows

Revision ID: 0004_cdr_reconciliation
Revises: 0003_publication_review
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_cdr_reconciliation"
down_revision: str | None = "0003_publication_review"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The offset used to live in Redis (<namespace>:cdr-offset); without it the file is read
    # again from the start, which is harmless: merging a row twice changes nothing.
    op.create_table(
        "cdr_offsets",
        sa.Column("cdr_file", sa.String(length=300), nullable=False),
        sa.Column("offset", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("cdr_file", name=op.f("pk_cdr_offsets")),
    )
    op.create_table(
        "cdr_quarantine",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("cdr_file", sa.String(length=300), nullable=False),
        sa.Column("offset", sa.BigInteger(), nullable=False),
        sa.Column("row", sa.Text(), nullable=False),
        sa.Column("reason", sa.String(length=300), nullable=False),
        sa.Column("quarantined_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cdr_quarantine")),
    )


def downgrade() -> None:
    op.drop_table("cdr_quarantine")
    op.drop_table("cdr_offsets")
