"""the agent's workspace: wrap-up codes, call legs and transfers, callback claims and attempts

Revision ID: 0006_workspace
Revises: 0005_cdr_sessions
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_workspace"
down_revision = "0005_cdr_sessions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # --- call controls and wrap-up (issue 11, console half) ------------------------------
    op.create_table(
        "call_transfers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("call_id", sa.Integer(), nullable=False),
        sa.Column("from_user_id", sa.Integer(), nullable=True),
        sa.Column("from_interface", sa.String(length=80), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("target_kind", sa.String(length=16), nullable=False),
        sa.Column("target", sa.String(length=80), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("message", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(["call_id"], ["calls.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["from_user_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_call_transfers_call_id", "call_transfers", ["call_id"])
    op.create_table(
        "wrapup_codes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("label", sa.String(length=64), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("sort", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code"),
    )
    op.create_table(
        "call_wrapups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("call_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("code_id", sa.Integer(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["call_id"], ["calls.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"]),
        sa.ForeignKeyConstraint(["code_id"], ["wrapup_codes.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("call_id", "user_id", name="uq_call_wrapups_call_user"),
    )
    op.create_index("ix_call_wrapups_call_id", "call_wrapups", ["call_id"])
    # --- end of call controls and wrap-up ---------------------------------------------------


def downgrade() -> None:
    # --- call controls and wrap-up (issue 11, console half) ------------------------------
    op.drop_index("ix_call_wrapups_call_id", table_name="call_wrapups")
    op.drop_table("call_wrapups")
    op.drop_table("wrapup_codes")
    op.drop_index("ix_call_transfers_call_id", table_name="call_transfers")
    op.drop_table("call_transfers")
    # --- end of call controls and wrap-up ---------------------------------------------------
