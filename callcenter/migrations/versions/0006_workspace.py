"""the agent's workspace: wrap-up codes, call legs and transfers, callback claims and attempts

Revision ID: 0006_workspace
Revises: 0005_cdr_sessions
"""
from __future__ import annotations

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "0006_workspace"
down_revision = "0005_cdr_sessions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
