"""tickets: escalation_due_at (next escalation instant, apart from the commitment due_at)

Revision ID: 0003_tickets
Revises: 0002_routing
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_tickets"
down_revision = "0002_routing"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.add_column(sa.Column("escalation_due_at", sa.DateTime(), nullable=True))
        batch_op.create_index(batch_op.f("ix_tickets_escalation_due_at"), ["escalation_due_at"], unique=False)
    # Open tickets already in the database escalate from their current deadline.
    op.execute("UPDATE tickets SET escalation_due_at = due_at "
               "WHERE status <> 'closed' AND escalation_level < 2")


def downgrade() -> None:
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tickets_escalation_due_at"))
        batch_op.drop_column("escalation_due_at")
