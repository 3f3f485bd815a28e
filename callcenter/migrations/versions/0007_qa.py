"""quality assurance: recordings, samples, scorecards, scores, appeals

Revision ID: 0007_qa
Revises: 0006_workspace
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_qa"
down_revision = "0006_workspace"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "qa_flags",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("call_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("weight", sa.Float(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["call_id"], ["calls.id"], name=op.f("fk_qa_flags_call_id_calls"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qa_flags")),
        sa.UniqueConstraint("call_id", "reason", name="uq_qa_flags_call_reason"),
    )
    with op.batch_alter_table("qa_flags", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_qa_flags_call_id"), ["call_id"], unique=False)
    op.create_table('qa_plans',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('period', sa.String(length=8), nullable=False),
    sa.Column('quota_per_agent', sa.Integer(), nullable=False),
    sa.Column('rules', sa.JSON(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_qa_plans_created_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_qa_plans'))
    )
    op.create_table('qa_scorecards',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('family', sa.String(length=64), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('definition', sa.JSON(), nullable=False),
    sa.Column('current', sa.Boolean(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_qa_scorecards_created_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_qa_scorecards')),
    sa.UniqueConstraint('family', 'version', name='uq_qa_scorecards_family_version')
    )
    op.create_table('qa_samples',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('plan_id', sa.Integer(), nullable=False),
    sa.Column('period_start', sa.Date(), nullable=False),
    sa.Column('period_end', sa.Date(), nullable=False),
    sa.Column('seed', sa.BigInteger(), nullable=False),
    sa.Column('rules', sa.JSON(), nullable=False),
    sa.Column('filters', sa.JSON(), nullable=False),
    sa.Column('as_of', sa.DateTime(), nullable=False),
    sa.Column('call_ids', sa.JSON(), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_qa_samples_created_by_id_users')),
    sa.ForeignKeyConstraint(['plan_id'], ['qa_plans.id'], name=op.f('fk_qa_samples_plan_id_qa_plans')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_qa_samples'))
    )
    with op.batch_alter_table('qa_samples', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_qa_samples_plan_id'), ['plan_id'], unique=False)

    op.create_table('qa_assignments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('sample_id', sa.Integer(), nullable=False),
    sa.Column('call_id', sa.Integer(), nullable=False),
    sa.Column('agent_id', sa.Integer(), nullable=False),
    sa.Column('inspector_id', sa.Integer(), nullable=True),
    sa.Column('reasons', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.ForeignKeyConstraint(['agent_id'], ['users.id'], name=op.f('fk_qa_assignments_agent_id_users')),
    sa.ForeignKeyConstraint(['call_id'], ['calls.id'], name=op.f('fk_qa_assignments_call_id_calls')),
    sa.ForeignKeyConstraint(['inspector_id'], ['users.id'], name=op.f('fk_qa_assignments_inspector_id_users')),
    sa.ForeignKeyConstraint(['sample_id'], ['qa_samples.id'], name=op.f('fk_qa_assignments_sample_id_qa_samples'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_qa_assignments')),
    sa.UniqueConstraint('sample_id', 'call_id', name='uq_qa_assignments_sample_call')
    )
    with op.batch_alter_table('qa_assignments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_qa_assignments_agent_id'), ['agent_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_qa_assignments_call_id'), ['call_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_qa_assignments_inspector_id'), ['inspector_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_qa_assignments_sample_id'), ['sample_id'], unique=False)

    op.create_table('qa_comments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('call_id', sa.Integer(), nullable=False),
    sa.Column('author_id', sa.Integer(), nullable=False),
    sa.Column('at_seconds', sa.Float(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['author_id'], ['users.id'], name=op.f('fk_qa_comments_author_id_users')),
    sa.ForeignKeyConstraint(['call_id'], ['calls.id'], name=op.f('fk_qa_comments_call_id_calls')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_qa_comments'))
    )
    with op.batch_alter_table('qa_comments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_qa_comments_call_id'), ['call_id'], unique=False)

    op.create_table('qa_scores',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('call_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('supersedes_id', sa.Integer(), nullable=True),
    sa.Column('assignment_id', sa.Integer(), nullable=True),
    sa.Column('scorecard_id', sa.Integer(), nullable=False),
    sa.Column('agent_id', sa.Integer(), nullable=False),
    sa.Column('inspector_id', sa.Integer(), nullable=False),
    sa.Column('answers', sa.JSON(), nullable=False),
    sa.Column('dimensions', sa.JSON(), nullable=False),
    sa.Column('total', sa.Float(), nullable=False),
    sa.Column('critical_failed', sa.Boolean(), nullable=False),
    sa.Column('failed_critical', sa.JSON(), nullable=False),
    sa.Column('comment', sa.Text(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('submitted_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['agent_id'], ['users.id'], name=op.f('fk_qa_scores_agent_id_users')),
    sa.ForeignKeyConstraint(['assignment_id'], ['qa_assignments.id'], name=op.f('fk_qa_scores_assignment_id_qa_assignments')),
    sa.ForeignKeyConstraint(['call_id'], ['calls.id'], name=op.f('fk_qa_scores_call_id_calls')),
    sa.ForeignKeyConstraint(['inspector_id'], ['users.id'], name=op.f('fk_qa_scores_inspector_id_users')),
    sa.ForeignKeyConstraint(['scorecard_id'], ['qa_scorecards.id'], name=op.f('fk_qa_scores_scorecard_id_qa_scorecards')),
    sa.ForeignKeyConstraint(['supersedes_id'], ['qa_scores.id'], name=op.f('fk_qa_scores_supersedes_id_qa_scores')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_qa_scores')),
    sa.UniqueConstraint('call_id', 'version', name='uq_qa_scores_call_version')
    )
    with op.batch_alter_table('qa_scores', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_qa_scores_agent_id'), ['agent_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_qa_scores_call_id'), ['call_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_qa_scores_submitted_at'), ['submitted_at'], unique=False)

    op.create_table('qa_appeals',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('score_id', sa.Integer(), nullable=False),
    sa.Column('call_id', sa.Integer(), nullable=False),
    sa.Column('agent_id', sa.Integer(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('decided_by_id', sa.Integer(), nullable=True),
    sa.Column('decided_at', sa.DateTime(), nullable=True),
    sa.Column('decision_note', sa.Text(), nullable=False),
    sa.Column('corrected_score_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['agent_id'], ['users.id'], name=op.f('fk_qa_appeals_agent_id_users')),
    sa.ForeignKeyConstraint(['call_id'], ['calls.id'], name=op.f('fk_qa_appeals_call_id_calls')),
    sa.ForeignKeyConstraint(['corrected_score_id'], ['qa_scores.id'], name=op.f('fk_qa_appeals_corrected_score_id_qa_scores')),
    sa.ForeignKeyConstraint(['decided_by_id'], ['users.id'], name=op.f('fk_qa_appeals_decided_by_id_users')),
    sa.ForeignKeyConstraint(['score_id'], ['qa_scores.id'], name=op.f('fk_qa_appeals_score_id_qa_scores')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_qa_appeals'))
    )
    with op.batch_alter_table('qa_appeals', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_qa_appeals_call_id'), ['call_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_qa_appeals_score_id'), ['score_id'], unique=False)

    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.add_column(sa.Column('recording_caller_file', sa.String(length=255), server_default='', nullable=False))
        batch_op.add_column(sa.Column('recording_agent_file', sa.String(length=255), server_default='', nullable=False))
        batch_op.add_column(sa.Column('recording_purged_at', sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.drop_column('recording_purged_at')
        batch_op.drop_column('recording_agent_file')
        batch_op.drop_column('recording_caller_file')

    with op.batch_alter_table('qa_appeals', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_qa_appeals_score_id'))
        batch_op.drop_index(batch_op.f('ix_qa_appeals_call_id'))

    op.drop_table('qa_appeals')
    with op.batch_alter_table('qa_scores', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_qa_scores_submitted_at'))
        batch_op.drop_index(batch_op.f('ix_qa_scores_call_id'))
        batch_op.drop_index(batch_op.f('ix_qa_scores_agent_id'))

    op.drop_table('qa_scores')
    with op.batch_alter_table('qa_comments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_qa_comments_call_id'))

    op.drop_table('qa_comments')
    with op.batch_alter_table('qa_assignments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_qa_assignments_sample_id'))
        batch_op.drop_index(batch_op.f('ix_qa_assignments_inspector_id'))
        batch_op.drop_index(batch_op.f('ix_qa_assignments_call_id'))
        batch_op.drop_index(batch_op.f('ix_qa_assignments_agent_id'))

    op.drop_table('qa_assignments')
    with op.batch_alter_table('qa_samples', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_qa_samples_plan_id'))

    op.drop_table('qa_samples')
    op.drop_table('qa_scorecards')
    op.drop_table('qa_plans')

    with op.batch_alter_table("qa_flags", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_qa_flags_call_id"))
    op.drop_table("qa_flags")
