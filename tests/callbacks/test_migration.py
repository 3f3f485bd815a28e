"""0006: the open tasks of one number that the old code filed are folded into one."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import text

from callcenter import migrate
from callcenter.db import engine_for


def test_open_tasks_of_one_number_are_merged_by_the_migration(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    migrate.upgrade(url, "0005_cdr_sessions")
    engine = engine_for(url)
    now = dt.datetime(2026, 12, 1, 10, 0)
    with engine.begin() as conn:
        for n in range(1, 5):
            conn.execute(text("INSERT INTO calls (id, uniqueid, linkedid, channel, dialled_number, caller_number, "
                              "caller_e164, caller_name, ivr_path, category, queue, priority, route_reason, "
                              "screen_pop_key, status, started_at, answered_by_interface, hangup_side, "
                              "hangup_cause, abandoned, recording_file) VALUES (:id, :u, :u, '', '', "
                              "'13800138000', '+8613800138000', '', '[]', '', '', 0, '', '', 'abandoned', "
                              ":at, '', '', '', 1, '')"), {"id": n, "u": f"179.{n}", "at": now})
            conn.execute(text("INSERT INTO callback_tasks (call_id, number, reason, status, message_file, "
                              "created_at, due_at, notes) VALUES (:c, '+8613800138000', 'abandoned', 'open', '', "
                              ":at, :at, '')"), {"c": n, "at": now + dt.timedelta(minutes=n)})
        conn.execute(text("INSERT INTO callback_tasks (number, reason, status, message_file, created_at, notes) "
                          "VALUES ('', 'voicemail', 'open', 'a.wav', :at, '')"), {"at": now})
        conn.execute(text("INSERT INTO callback_tasks (number, reason, status, message_file, created_at, notes) "
                          "VALUES ('', 'voicemail', 'open', 'b.wav', :at, '')"), {"at": now})
    migrate.upgrade(url)
    with engine.begin() as conn:
        open_tasks = conn.execute(text("SELECT id, number, miss_count, priority FROM callback_tasks "
                                       "WHERE status = 'open' ORDER BY id")).all()
        merged = conn.execute(text("SELECT COUNT(*) FROM callback_tasks WHERE outcome = 'merged'")).scalar()
        misses = conn.execute(text("SELECT task_id, call_id FROM callback_misses ORDER BY call_id")).all()
    assert [(t.number, t.miss_count, t.priority) for t in open_tasks] == [
        ("+8613800138000", 4, 3), ("", 1, 0), ("", 1, 0)]
    assert merged == 3
    assert misses == [(open_tasks[0].id, n) for n in range(1, 5)]
    migrate.check(url)
