"""routing: configuration version token, repeat-caller index

Revision ID: 0002_routing
Revises: 0001
"""
from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa
from alembic import op

revision = "0002_routing"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    table = op.create_table(
        "config_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token", sa.String(length=32), nullable=False),
        sa.Column("changed_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_config_version")),
    )
    op.bulk_insert(table, [{"id": 1, "token": uuid.uuid4().hex,
                            "changed_at": dt.datetime.now(dt.UTC).replace(tzinfo=None)}])
    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.create_index("ix_calls_caller_e164_started_at", ["caller_e164", "started_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.drop_index("ix_calls_caller_e164_started_at")
    op.drop_table("config_version")
