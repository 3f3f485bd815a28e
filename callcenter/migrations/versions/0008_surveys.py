"""follow-up surveys: plans, attempts, answers, do-not-call list

Revision ID: 0008_surveys
Revises: 0007_qa
"""
from __future__ import annotations

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "0008_surveys"
down_revision = "0007_qa"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
