"""speech: transcripts, speech checks

Revision ID: 0009_speech
Revises: 0008_surveys
"""
from __future__ import annotations

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "0009_speech"
down_revision = "0008_surveys"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
