"""the hourly call rollup the reports read, kept fresh by triggers

Revision ID: 0011_call_stats
Revises: 0010_reports

Triggers on calls and tickets write the hour of every change that moves a KPI into
call_stats_stale_hours, in the changing transaction itself: whichever process writes a
call (AGI workers, the AMI listener, the web, imports, a DBA's UPDATE), its hour is
recomputed. A call also marks the hours of the same caller's calls within 32 days when
it is added, removed or changes status: first-contact resolution looks ahead to the next
call, repeat callers back to the previous ones.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_call_stats"
down_revision = "0010_reports"
branch_labels = None
depends_on = None

# A change to any of these can move a KPI; other columns (recording names, notes) cannot.
# Calls in these states are offered; the previous offered call matters to repeat callers.
OFFERED = ("queued", "ringing", "answered", "completed", "abandoned")
KPI_COLUMNS = ("status", "started_at", "answered_at", "answered_by_user_id", "wait_seconds", "talk_seconds",
               "queue", "line_id", "priority", "caller_e164", "linkedid")

# --- SQLite ---------------------------------------------------------------------------
# Hours are written in the text form SQLAlchemy stores datetimes in, so they compare.
_SQLITE_HOUR = "strftime('%Y-%m-%d %H:00:00.000000', {})"


def _sqlite_neighbours(row: str) -> str:
    hour = _SQLITE_HOUR.format("c.started_at")
    return (f"INSERT INTO call_stats_stale_hours(hour) SELECT DISTINCT {hour} FROM calls c "
            f"WHERE {row}.caller_e164 <> '' AND c.caller_e164 = {row}.caller_e164 AND c.id <> {row}.id "
            f"AND c.started_at >= datetime({row}.started_at, '-32 days') "
            f"AND c.started_at < datetime({row}.started_at, '+32 days') "
            f"AND {hour} <> {_SQLITE_HOUR.format(row + '.started_at')};")


def _sqlite_offered(row: str) -> str:
    return f"({row}.status IN ({', '.join(repr(s) for s in OFFERED)}))"


def _sqlite_own(row: str) -> str:
    return f"INSERT INTO call_stats_stale_hours(hour) VALUES ({_SQLITE_HOUR.format(row + '.started_at')});"


def _sqlite_ticket_calls(row: str) -> str:
    return (f"INSERT INTO call_stats_stale_hours(hour) SELECT DISTINCT {_SQLITE_HOUR.format('c.started_at')} "
            f"FROM calls c WHERE {row}.call_linkedid <> '' AND c.linkedid = {row}.call_linkedid;")


SQLITE_TRIGGERS = [
    f"""CREATE TRIGGER call_stats_calls_insert AFTER INSERT ON calls BEGIN
        {_sqlite_own('NEW')} {_sqlite_neighbours('NEW')} END""",
    f"""CREATE TRIGGER call_stats_calls_update AFTER UPDATE OF {', '.join(KPI_COLUMNS)} ON calls BEGIN
        {_sqlite_own('NEW')} END""",
    f"""CREATE TRIGGER call_stats_calls_moved AFTER UPDATE OF started_at ON calls
        WHEN OLD.started_at IS NOT NEW.started_at BEGIN {_sqlite_own('OLD')} END""",
    # Only a call becoming offered (or leaving it), another caller or another start time
    # changes its neighbours' figures; ringing → answered → completed does not.
    f"""CREATE TRIGGER call_stats_calls_neighbours AFTER UPDATE OF status, caller_e164, started_at ON calls
        WHEN {_sqlite_offered('OLD')} IS NOT {_sqlite_offered('NEW')} OR OLD.caller_e164 IS NOT NEW.caller_e164
             OR OLD.started_at IS NOT NEW.started_at BEGIN
        {_sqlite_neighbours('OLD')} {_sqlite_neighbours('NEW')} END""",
    f"""CREATE TRIGGER call_stats_calls_delete AFTER DELETE ON calls BEGIN
        {_sqlite_own('OLD')} {_sqlite_neighbours('OLD')} END""",
    f"""CREATE TRIGGER call_stats_tickets_insert AFTER INSERT ON tickets BEGIN
        {_sqlite_ticket_calls('NEW')} END""",
    f"""CREATE TRIGGER call_stats_tickets_update AFTER UPDATE OF type, call_linkedid ON tickets BEGIN
        {_sqlite_ticket_calls('OLD')} {_sqlite_ticket_calls('NEW')} END""",
    f"""CREATE TRIGGER call_stats_tickets_delete AFTER DELETE ON tickets BEGIN
        {_sqlite_ticket_calls('OLD')} END""",
]
SQLITE_TRIGGER_NAMES = ["call_stats_calls_insert", "call_stats_calls_update", "call_stats_calls_moved",
                        "call_stats_calls_neighbours",
                        "call_stats_calls_delete", "call_stats_tickets_insert", "call_stats_tickets_update",
                        "call_stats_tickets_delete"]

# --- PostgreSQL -----------------------------------------------------------------------
PG_FUNCTIONS = [
    """CREATE FUNCTION call_stats_mark_neighbours(caller text, own_id integer, at timestamp) RETURNS void AS $$
    BEGIN
      IF caller <> '' THEN
        INSERT INTO call_stats_stale_hours(hour)
          SELECT DISTINCT date_trunc('hour', c.started_at) FROM calls c
          WHERE c.caller_e164 = caller AND c.id <> own_id
            AND c.started_at >= at - interval '32 days' AND c.started_at < at + interval '32 days'
            AND date_trunc('hour', c.started_at) <> date_trunc('hour', at);
      END IF;
    END $$ LANGUAGE plpgsql""",
    """CREATE FUNCTION call_stats_calls_changed() RETURNS trigger AS $$
    DECLARE
      moved boolean := false;
    BEGIN
      IF TG_OP = 'DELETE' OR (TG_OP = 'UPDATE' AND OLD.started_at IS DISTINCT FROM NEW.started_at) THEN
        INSERT INTO call_stats_stale_hours(hour) VALUES (date_trunc('hour', OLD.started_at));
      END IF;
      IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO call_stats_stale_hours(hour) VALUES (date_trunc('hour', NEW.started_at));
      END IF;
      -- Only a call becoming offered (or leaving it), another caller or another start time
      -- changes its neighbours' figures; ringing -> answered -> completed does not.
      IF TG_OP = 'UPDATE' THEN
        moved := (OLD.status IN OFFERED_LIST) IS DISTINCT FROM (NEW.status IN OFFERED_LIST)
                 OR OLD.caller_e164 IS DISTINCT FROM NEW.caller_e164 OR OLD.started_at IS DISTINCT FROM NEW.started_at;
      END IF;
      IF TG_OP = 'DELETE' OR moved THEN
        PERFORM call_stats_mark_neighbours(OLD.caller_e164, OLD.id, OLD.started_at);
      END IF;
      IF TG_OP = 'INSERT' OR moved THEN
        PERFORM call_stats_mark_neighbours(NEW.caller_e164, NEW.id, NEW.started_at);
      END IF;
      RETURN NULL;
    END $$ LANGUAGE plpgsql""",
    """CREATE FUNCTION call_stats_tickets_changed() RETURNS trigger AS $$
    BEGIN
      IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.call_linkedid <> '' THEN
        INSERT INTO call_stats_stale_hours(hour)
          SELECT DISTINCT date_trunc('hour', c.started_at) FROM calls c WHERE c.linkedid = OLD.call_linkedid;
      END IF;
      IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.call_linkedid <> '' THEN
        INSERT INTO call_stats_stale_hours(hour)
          SELECT DISTINCT date_trunc('hour', c.started_at) FROM calls c WHERE c.linkedid = NEW.call_linkedid;
      END IF;
      RETURN NULL;
    END $$ LANGUAGE plpgsql""",
]
PG_FUNCTIONS = [f.replace("OFFERED_LIST", "(" + ", ".join(repr(s) for s in OFFERED) + ")") for f in PG_FUNCTIONS]
PG_TRIGGERS = [
    f"""CREATE TRIGGER call_stats_calls AFTER INSERT OR DELETE OR UPDATE OF {', '.join(KPI_COLUMNS)} ON calls
        FOR EACH ROW EXECUTE FUNCTION call_stats_calls_changed()""",
    """CREATE TRIGGER call_stats_tickets AFTER INSERT OR DELETE OR UPDATE OF type, call_linkedid ON tickets
        FOR EACH ROW EXECUTE FUNCTION call_stats_tickets_changed()""",
]


def upgrade() -> None:
    op.create_table(
        "call_stats_hourly",
        sa.Column("hour", sa.DateTime(), primary_key=True),
        sa.Column("dim", sa.String(8), primary_key=True),
        sa.Column("key", sa.String(64), primary_key=True),
        *[sa.Column(name, sa.Integer(), nullable=False, server_default="0")
          for name in ("offered", "answered", "answered_in_sl", "abandoned", "short_abandoned", "ended")],
        sa.Column("wait_answered_s", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("talk_s", sa.BigInteger(), nullable=False, server_default="0"),
        *[sa.Column(name, sa.Integer(), nullable=False, server_default="0")
          for name in ("longest_wait_s", "fcr_answered", "fcr_resolved")],
    )
    op.create_index("ix_call_stats_hourly_dim_hour", "call_stats_hourly", ["dim", "hour"])
    op.create_table(
        "call_stats_stale_hours",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("hour", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_call_stats_stale_hours_hour", "call_stats_stale_hours", ["hour"])
    op.create_table(
        "call_stats_state",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("rules", sa.String(200), nullable=False, server_default=""),
        sa.Column("rebuilt_at", sa.DateTime(), nullable=True),
    )
    if op.get_bind().dialect.name == "postgresql":
        for statement in PG_FUNCTIONS + PG_TRIGGERS:
            op.execute(statement)
        hour = "date_trunc('hour', started_at)"
    else:
        for statement in SQLITE_TRIGGERS:
            op.execute(statement)
        hour = _SQLITE_HOUR.format("started_at")
    # The calls already there: every hour of them is to be computed.
    op.execute(f"INSERT INTO call_stats_stale_hours(hour) SELECT DISTINCT {hour} FROM calls")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS call_stats_calls ON calls")
        op.execute("DROP TRIGGER IF EXISTS call_stats_tickets ON tickets")
        for name in ("call_stats_calls_changed()", "call_stats_tickets_changed()",
                     "call_stats_mark_neighbours(text, integer, timestamp)"):
            op.execute(f"DROP FUNCTION IF EXISTS {name}")
    else:
        for name in SQLITE_TRIGGER_NAMES:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.drop_table("call_stats_state")
    op.drop_index("ix_call_stats_stale_hours_hour", table_name="call_stats_stale_hours")
    op.drop_table("call_stats_stale_hours")
    op.drop_index("ix_call_stats_hourly_dim_hour", table_name="call_stats_hourly")
    op.drop_table("call_stats_hourly")
