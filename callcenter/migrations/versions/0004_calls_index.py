"""calls: drop the single-column caller_e164 index (ix_calls_caller_e164_started_at
leads with the same column and serves every lookup by number; one index less to
write on every call)

Revision ID: 0004_calls_index
Revises: 0003_tickets
"""
from __future__ import annotations

import sqlalchemy as sa  # noqa: F401
from alembic import op

revision = "0004_calls_index"
down_revision = "0003_tickets"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.drop_index("ix_calls_caller_e164")


def downgrade() -> None:
    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.create_index("ix_calls_caller_e164", ["caller_e164"], unique=False)
