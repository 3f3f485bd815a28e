"""cdr_cursors: how far Asterisk's CDR file has been read (backfill after an outage);
users.session_version: ending every panel session of a user at once; calls: no index on
screen_pop_key (never searched by, written on every call)

Revision ID: 0005_cdr_sessions
Revises: 0004_calls_index
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_cdr_sessions"
down_revision = "0004_calls_index"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cdr_cursors",
        sa.Column("path", sa.String(length=255), nullable=False),
        sa.Column("inode", sa.BigInteger(), nullable=False),
        sa.Column("offset", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("path", name=op.f("pk_cdr_cursors")),
    )
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("session_version", sa.Integer(), nullable=False, server_default="0"))
    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.drop_index("ix_calls_screen_pop_key")


def downgrade() -> None:
    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.create_index("ix_calls_screen_pop_key", ["screen_pop_key"], unique=False)
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("session_version")
    op.drop_table("cdr_cursors")
