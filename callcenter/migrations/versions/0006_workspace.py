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
    # --- call controls and wrap-up ------------------------------
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
    # --- callbacks (回电) and admin: see _callbacks_upgrade below ---
    _callbacks_upgrade()


def downgrade() -> None:
    # --- callbacks (回电) and admin: see _callbacks_downgrade below ---
    _callbacks_downgrade()
    # --- call controls and wrap-up ------------------------------
    op.drop_index("ix_call_wrapups_call_id", table_name="call_wrapups")
    op.drop_table("call_wrapups")
    op.drop_table("wrapup_codes")
    op.drop_index("ix_call_transfers_call_id", table_name="call_transfers")
    op.drop_table("call_transfers")
    # --- end of call controls and wrap-up ---------------------------------------------------


# --- callbacks (回电): one open task per number, its misses and attempts -------------------

_OPEN_WITH_NUMBER = "status = 'open' AND number != ''"


def _callbacks_upgrade() -> None:
    with op.batch_alter_table("callback_tasks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("miss_count", sa.Integer(), nullable=False, server_default="1"))
        batch_op.add_column(sa.Column("last_missed_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("priority", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("claimed_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("attempt_count", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("last_attempt_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("outcome", sa.String(length=16), nullable=False, server_default=""))
    op.create_table(
        "callback_misses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=False),
        sa.Column("call_id", sa.Integer(), nullable=True),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.Column("missed_at", sa.DateTime(), nullable=False),
        sa.Column("message_file", sa.String(length=255), nullable=False),
        sa.ForeignKeyConstraint(["call_id"], ["calls.id"], name=op.f("fk_callback_misses_call_id_calls")),
        sa.ForeignKeyConstraint(["task_id"], ["callback_tasks.id"],
                                name=op.f("fk_callback_misses_task_id_callback_tasks"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_callback_misses")),
        sa.UniqueConstraint("task_id", "call_id", name="uq_callback_misses_task_call"),
    )
    with op.batch_alter_table("callback_misses", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_callback_misses_call_id"), ["call_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_callback_misses_task_id"), ["task_id"], unique=False)
    op.create_table(
        "callback_attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("interface", sa.String(length=80), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.Column("dial_status", sa.String(length=16), nullable=False),
        sa.Column("dial_message", sa.String(length=255), nullable=False),
        sa.Column("uniqueid", sa.String(length=64), nullable=False),
        sa.Column("recording_file", sa.String(length=255), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("logged_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["task_id"], ["callback_tasks.id"],
                                name=op.f("fk_callback_attempts_task_id_callback_tasks"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_callback_attempts_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_callback_attempts")),
    )
    with op.batch_alter_table("callback_attempts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_callback_attempts_request_id"), ["request_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_callback_attempts_task_id"), ["task_id"], unique=False)
    _merge_open_tasks_per_number()
    op.create_index("uq_callback_tasks_open_number", "callback_tasks", ["number"], unique=True,
                    sqlite_where=sa.text(_OPEN_WITH_NUMBER), postgresql_where=sa.text(_OPEN_WITH_NUMBER))


def _merge_open_tasks_per_number() -> None:
    """Every existing task's call becomes its first miss; the open tasks of one number
    are folded into the oldest (their misses move there, they are cancelled)."""
    op.execute("INSERT INTO callback_misses (task_id, call_id, reason, missed_at, message_file) "
               "SELECT id, call_id, reason, created_at, message_file FROM callback_tasks "
               "WHERE call_id IS NOT NULL")
    op.execute("UPDATE callback_tasks SET last_missed_at = created_at")
    bind = op.get_bind()
    rows = bind.execute(sa.text("SELECT id, number FROM callback_tasks WHERE status = 'open' AND number != '' "
                                "ORDER BY id")).all()
    keeper: dict[str, int] = {}
    for task_id, number in rows:
        if number not in keeper:
            keeper[number] = task_id
            continue
        keep = keeper[number]
        for (miss_id, call_id) in bind.execute(sa.text("SELECT id, call_id FROM callback_misses WHERE task_id = :t"),
                                               {"t": task_id}).all():
            known = bind.execute(sa.text("SELECT 1 FROM callback_misses WHERE task_id = :k AND call_id = :c"),
                                 {"k": keep, "c": call_id}).first()
            if known:
                bind.execute(sa.text("DELETE FROM callback_misses WHERE id = :m"), {"m": miss_id})
            else:
                bind.execute(sa.text("UPDATE callback_misses SET task_id = :k WHERE id = :m"),
                             {"k": keep, "m": miss_id})
        bind.execute(sa.text("UPDATE callback_tasks SET status = 'cancelled', outcome = 'merged' WHERE id = :t"),
                     {"t": task_id})
    for keep in keeper.values():
        bind.execute(sa.text("UPDATE callback_tasks SET miss_count = (SELECT COUNT(*) FROM callback_misses m "
                             "WHERE m.task_id = :k), priority = (SELECT COUNT(*) FROM callback_misses m "
                             "WHERE m.task_id = :k) - 1 WHERE id = :k AND EXISTS "
                             "(SELECT 1 FROM callback_misses m WHERE m.task_id = :k)"), {"k": keep})


def _callbacks_downgrade() -> None:
    op.drop_index("uq_callback_tasks_open_number", table_name="callback_tasks",
                  sqlite_where=sa.text(_OPEN_WITH_NUMBER), postgresql_where=sa.text(_OPEN_WITH_NUMBER))
    with op.batch_alter_table("callback_attempts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_callback_attempts_task_id"))
        batch_op.drop_index(batch_op.f("ix_callback_attempts_request_id"))
    op.drop_table("callback_attempts")
    with op.batch_alter_table("callback_misses", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_callback_misses_task_id"))
        batch_op.drop_index(batch_op.f("ix_callback_misses_call_id"))
    op.drop_table("callback_misses")
    with op.batch_alter_table("callback_tasks", schema=None) as batch_op:
        for column in ("outcome", "last_attempt_at", "attempt_count", "claimed_at", "priority",
                       "last_missed_at", "miss_count"):
            batch_op.drop_column(column)
