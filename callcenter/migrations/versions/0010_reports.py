"""reports: kept daily summaries

Revision ID: 0010_reports
Revises: 0009_speech
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_reports"
down_revision = "0009_speech"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "kept_reports",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("content", sa.JSON(), nullable=False),
        sa.Column("made_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("kind", "day", name="uq_kept_reports_kind_day"),
    )
    op.create_index("ix_kept_reports_day", "kept_reports", ["day"])


def downgrade() -> None:
    op.drop_index("ix_kept_reports_day", table_name="kept_reports")
    op.drop_table("kept_reports")
