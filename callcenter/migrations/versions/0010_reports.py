"""reports and fair queues: kept daily summaries, queue aging

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
    with op.batch_alter_table("queues") as batch:
        batch.add_column(sa.Column("aging_after_s", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("aging_priority", sa.Integer(), nullable=True))
    with op.batch_alter_table("calls") as batch:
        batch.add_column(sa.Column("aged_priority", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("aged_at", sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.drop_column("aged_at")
        batch.drop_column("aged_priority")
    with op.batch_alter_table("queues") as batch:
        batch.drop_column("aging_priority")
        batch.drop_column("aging_after_s")
    op.drop_index("ix_kept_reports_day", table_name="kept_reports")
    op.drop_table("kept_reports")
