"""quality assurance: recordings, samples, scorecards, scores, appeals

Revision ID: 0007_qa
Revises: 0006_workspace
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_qa"
down_revision = "0006_workspace"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "qa_flags",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("call_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("weight", sa.Float(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["call_id"], ["calls.id"], name=op.f("fk_qa_flags_call_id_calls"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qa_flags")),
        sa.UniqueConstraint("call_id", "reason", name="uq_qa_flags_call_reason"),
    )
    with op.batch_alter_table("qa_flags", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_qa_flags_call_id"), ["call_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("qa_flags", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_qa_flags_call_id"))
    op.drop_table("qa_flags")
