"""The wallboard's snapshot: callers waiting now and the longest wait, agents in the
console's words with time in state, today's figures from the KPI module, thresholds."""

from __future__ import annotations

import datetime as dt

from callcenter.models import (
    AgentState,
    AgentStatus,
    Call,
    CallbackReason,
    CallbackTask,
    CallStatus,
    Queue,
    QueueKind,
    Ticket,
    TicketType,
    User,
)
from callcenter.services.reports import wallboard

NOW = dt.datetime(2026, 11, 10, 2, 0, 0)     # 10:00 in Shanghai


def test_snapshot_counts_levels_and_clocks(session, settings):
    session.add_all([Queue(name="vip", kind=QueueKind.VIP), Queue(name="general_q", kind=QueueKind.GENERAL),
                     Queue(name="duty", kind=QueueKind.DUTY)])
    a = User(username="a", display_name="张丽", password_hash="x", role="agent")
    b = User(username="b", display_name="王强", password_hash="x", role="agent")
    c = User(username="c", display_name="刘洋", password_hash="x", role="agent", default_interface="PJSIP/1003")
    session.add_all([a, b, c])
    session.flush()
    session.add_all([
        AgentState(user_id=a.id, interface="PJSIP/1001", status=AgentStatus.ON_CALL, updated_at=NOW
                   - dt.timedelta(seconds=95)),
        AgentState(user_id=b.id, interface="PJSIP/1002", status=AgentStatus.PAUSED, pause_reason="培训",
                   updated_at=NOW - dt.timedelta(minutes=10)),
    ])

    def call(uid, queue, status, *, started, queued=None, wait=None, answered=False, ended=None):
        session.add(Call(uniqueid=uid, linkedid=uid, queue=queue, status=status, started_at=started,
                         queued_at=queued, wait_seconds=wait, answered_at=started if answered else None,
                         ended_at=ended))

    # general_q: two waiting now, the older for 75 s (red at 60 s); one answered today in 10 s.
    call("w1", "general_q", CallStatus.QUEUED, started=NOW - dt.timedelta(seconds=80),
         queued=NOW - dt.timedelta(seconds=75))
    call("w2", "general_q", CallStatus.QUEUED, started=NOW - dt.timedelta(seconds=20),
         queued=NOW - dt.timedelta(seconds=15))
    call("d1", "general_q", CallStatus.COMPLETED, started=NOW - dt.timedelta(hours=1), wait=10, answered=True,
         ended=NOW - dt.timedelta(minutes=50))
    # vip: one ringing for 40 s (amber at 30 s), one abandoned after 50 s today.
    call("r1", "vip", CallStatus.RINGING, started=NOW - dt.timedelta(seconds=45),
         queued=NOW - dt.timedelta(seconds=40))
    call("x1", "vip", CallStatus.ABANDONED, started=NOW - dt.timedelta(minutes=30), wait=50,
         ended=NOW - dt.timedelta(minutes=29))
    # A "waiting" row from yesterday morning is a lost one: not waiting now.
    call("old", "vip", CallStatus.QUEUED, started=NOW - dt.timedelta(hours=20), queued=NOW - dt.timedelta(hours=20))
    session.add(Ticket(number="T1", type=TicketType.COMPLAINT, owner_id=a.id, subject="s",
                       due_at=NOW - dt.timedelta(minutes=1)))
    session.add(CallbackTask(number="+8613800000001", reason=CallbackReason.ABANDONED,
                             due_at=NOW - dt.timedelta(minutes=5)))
    session.commit()

    snap = wallboard.snapshot(session, settings, now=NOW)
    queues = {q["name"]: q for q in snap["queues"]}
    assert [q["name"] for q in snap["queues"]] == ["duty", "general_q", "vip"]
    general, vip, duty = queues["general_q"], queues["vip"], queues["duty"]
    assert (general["waiting"], general["ringing"], general["longest_wait_s"]) == (2, 0, 75)
    assert general["longest_wait_level"] == "red"
    assert (vip["waiting"], vip["ringing"], vip["longest_wait_s"], vip["longest_wait_level"]) == (0, 1, 40, "amber")
    assert (duty["waiting"], duty["longest_wait_s"], duty["service_level"]) == (0, 0, None)
    assert (general["answered"], general["service_level"], general["service_level_level"]) == (1, 1.0, "ok")
    assert (vip["abandoned"], vip["service_level"], vip["service_level_level"]) == (1, 0.0, "red")

    agents = {x["username"]: x for x in snap["agents"]}
    assert (agents["a"]["state"], agents["a"]["in_state_s"]) == ("通话中", 95)
    assert (agents["b"]["state"], agents["b"]["pause_reason"], agents["b"]["in_state_s"]) == ("暂停", "培训", 600)
    assert (agents["c"]["state"], agents["c"]["interface"], agents["c"]["in_state_s"]) == ("离线", "PJSIP/1003", None)
    assert snap["agents_by_state"] == [("离线", 1), ("就绪", 0), ("暂停", 1), ("振铃", 0), ("通话中", 1), ("整理", 0)]

    assert (snap["today"]["offered"], snap["today"]["answered"], snap["today"]["abandoned"]) == (5, 1, 1)   # "old" rang yesterday
    assert snap["today"]["service_level"] == 0.5 and snap["today"]["service_level_level"] == "red"
    assert (snap["overdue_tickets"], snap["overdue_level"]) == (1, "red")
    assert (snap["callbacks_due"], snap["callbacks_level"]) == (1, "amber")
    assert snap["survey_callbacks"] == 0


def test_levels():
    assert wallboard.level_high_is_bad(29, 30, 60) == "ok"
    assert wallboard.level_high_is_bad(30, 30, 60) == "amber"
    assert wallboard.level_high_is_bad(60, 30, 60) == "red"
    assert wallboard.level_low_is_bad(0.8, 0.8, 0.6) == "ok"
    assert wallboard.level_low_is_bad(0.79, 0.8, 0.6) == "amber"
    assert wallboard.level_low_is_bad(0.59, 0.8, 0.6) == "red"
    assert wallboard.level_low_is_bad(None, 0.8, 0.6) == "ok"
