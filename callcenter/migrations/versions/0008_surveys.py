"""follow-up surveys: plans, attempts, answers, do-not-call list

Revision ID: 0008_surveys
Revises: 0007_qa
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_surveys"
down_revision = "0007_qa"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "survey_contacts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=64), nullable=False),
        sa.Column("do_not_call", sa.Boolean(), nullable=False),
        sa.Column("preferred_from", sa.Time(), nullable=True),
        sa.Column("preferred_to", sa.Time(), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_survey_contacts")),
        sa.UniqueConstraint("number", name=op.f("uq_survey_contacts_number")),
    )
    op.create_table(
        "survey_plans",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("anchor", sa.String(length=16), nullable=False),
        sa.Column("ticket_types", sa.JSON(), nullable=False),
        sa.Column("tiers", sa.JSON(), nullable=False),
        sa.Column("match_words", sa.JSON(), nullable=False),
        sa.Column("offsets_days", sa.JSON(), nullable=False),
        sa.Column("deadline_days", sa.Float(), nullable=False),
        sa.Column("series_min_calls", sa.Integer(), nullable=False),
        sa.Column("series_max_gap_days", sa.Integer(), nullable=False),
        sa.Column("flow", sa.String(length=64), nullable=False),
        sa.Column("questions", sa.JSON(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("retry_minutes", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_survey_plans")),
        sa.UniqueConstraint("key", name=op.f("uq_survey_plans_key")),
    )
    op.create_table(
        "survey_attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("survey_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=64), nullable=False),
        sa.Column("planned_at", sa.DateTime(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("action_id", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.Integer(), nullable=True),
        sa.Column("channel", sa.String(length=128), nullable=False),
        sa.Column("uniqueid", sa.String(length=64), nullable=False),
        sa.Column("answered_at", sa.DateTime(), nullable=True),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("outcome_source", sa.String(length=16), nullable=False),
        sa.Column("answers", sa.JSON(), nullable=False),
        sa.Column("satisfaction", sa.String(length=16), nullable=False),
        sa.Column("comment_file", sa.String(length=255), nullable=False),
        sa.Column("call_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["call_id"], ["calls.id"], name=op.f("fk_survey_attempts_call_id_calls")),
        sa.ForeignKeyConstraint(["survey_id"], ["survey_requests.id"],
                                name=op.f("fk_survey_attempts_survey_id_survey_requests")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_survey_attempts")),
    )
    with op.batch_alter_table("survey_attempts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_survey_attempts_call_id"), ["call_id"], unique=False)
        batch_op.create_index("ix_survey_attempts_open", ["outcome", "started_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_survey_attempts_survey_id"), ["survey_id"], unique=False)

    # Requests written before this revision get the neutral values (no plan, nothing tried).
    with op.batch_alter_table("survey_requests", schema=None) as batch_op:
        batch_op.add_column(sa.Column("plan_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("step", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("deadline_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("next_attempt_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("outcome", sa.String(length=16), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("satisfaction", sa.String(length=16), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("completed_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("completed_by_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_survey_requests_next_attempt_at"), ["next_attempt_at"], unique=False)
        batch_op.create_foreign_key(batch_op.f("fk_survey_requests_completed_by_id_users"), "users",
                                    ["completed_by_id"], ["id"])
        batch_op.create_foreign_key(batch_op.f("fk_survey_requests_plan_id_survey_plans"), "survey_plans",
                                    ["plan_id"], ["id"])


def downgrade() -> None:
    with op.batch_alter_table("survey_requests", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_survey_requests_plan_id_survey_plans"), type_="foreignkey")
        batch_op.drop_constraint(batch_op.f("fk_survey_requests_completed_by_id_users"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_survey_requests_next_attempt_at"))
        for column in ("completed_by_id", "completed_at", "satisfaction", "outcome", "next_attempt_at",
                       "attempts", "deadline_at", "step", "plan_id"):
            batch_op.drop_column(column)
    with op.batch_alter_table("survey_attempts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_survey_attempts_survey_id"))
        batch_op.drop_index("ix_survey_attempts_open")
        batch_op.drop_index(batch_op.f("ix_survey_attempts_call_id"))
    op.drop_table("survey_attempts")
    op.drop_table("survey_plans")
    op.drop_table("survey_contacts")
