"""speech: transcripts, speech checks

Revision ID: 0009_speech
Revises: 0008_surveys
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_speech"
down_revision = "0008_surveys"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "speech_transcripts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("call_id", sa.Integer(), nullable=False),
        sa.Column("side", sa.String(length=8), nullable=False),
        sa.Column("source", sa.String(length=255), nullable=False),
        sa.Column("model", sa.String(length=120), nullable=False),
        sa.Column("language", sa.String(length=16), nullable=False),
        sa.Column("duration_s", sa.Float(), nullable=False),
        sa.Column("lines", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["call_id"], ["calls.id"], name=op.f("fk_speech_transcripts_call_id_calls"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_speech_transcripts")),
        sa.UniqueConstraint("call_id", "side", name="uq_speech_transcripts_call_side"),
    )
    with op.batch_alter_table("speech_transcripts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_speech_transcripts_call_id"), ["call_id"], unique=False)
    op.create_table(
        "speech_checks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("call_id", sa.Integer(), nullable=False),
        sa.Column("check", sa.String(length=32), nullable=False),
        sa.Column("passed", sa.Boolean(), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["call_id"], ["calls.id"], name=op.f("fk_speech_checks_call_id_calls"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_speech_checks")),
        sa.UniqueConstraint("call_id", "check", name="uq_speech_checks_call_check"),
    )
    with op.batch_alter_table("speech_checks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_speech_checks_call_id"), ["call_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("speech_checks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_speech_checks_call_id"))
    op.drop_table("speech_checks")
    with op.batch_alter_table("speech_transcripts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_speech_transcripts_call_id"))
    op.drop_table("speech_transcripts")
