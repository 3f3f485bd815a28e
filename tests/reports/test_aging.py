"""Fair queues: which waiting callers are due to be raised, per queue and by default."""

from __future__ import annotations

import datetime as dt

from callcenter.models import Call, CallStatus, Queue, QueueKind
from callcenter.services.calls import aging

NOW = dt.datetime(2026, 11, 10, 2, 0, 0)


def _waiting(session, uid, queue, waited_s, *, priority=0, aged=None, channel="PJSIP/trunk-provider-1"):
    call = Call(uniqueid=uid, linkedid=uid, queue=queue, status=CallStatus.QUEUED, priority=priority,
                aged_priority=aged, channel=f"{channel}-{uid}", started_at=NOW - dt.timedelta(seconds=waited_s + 5),
                queued_at=NOW - dt.timedelta(seconds=waited_s))
    session.add(call)
    return call


def test_due_callers_follow_each_queues_rule(session, settings):
    settings = settings.model_copy(update={"queue_aging_after_s": 90, "priority_raised": 5})
    session.add_all([Queue(name="general_q", kind=QueueKind.GENERAL),
                     Queue(name="duty", kind=QueueKind.DUTY, aging_after_s=30, aging_priority=7),
                     Queue(name="vip", kind=QueueKind.VIP, aging_after_s=0)])
    _waiting(session, "a", "general_q", 120)                 # due: 120 s >= 90 s default
    _waiting(session, "b", "general_q", 60)                  # not yet
    _waiting(session, "c", "general_q", 200, priority=10)    # a VIP caller is above the aging priority
    _waiting(session, "d", "general_q", 200, aged=5)         # raised already
    _waiting(session, "e", "duty", 40)                       # the duty queue's own 30 s, to priority 7
    _waiting(session, "f", "vip", 500)                       # aging off in this queue
    _waiting(session, "g", "general_q", 200, channel="")     # no channel known: cannot be addressed
    session.commit()
    for call in session.query(Call).filter(Call.uniqueid == "g"):
        call.channel = ""
    session.commit()
    due = aging.due(session, settings, NOW)
    assert sorted((d.queue, d.channel.rsplit("-", 1)[1], d.priority) for d in due) == [
        ("duty", "e", 7), ("general_q", "a", 5)]


def test_raised_is_kept_and_a_supervisors_hand_audited(session, settings):
    call = _waiting(session, "h", "general_q", 10)
    session.commit()
    aging.raised(session, call.id, 5, NOW, user_id=None)
    assert (call.aged_priority, call.aged_at, call.priority) == (5, NOW, 0)
    from callcenter.models import AuditEntry, User
    boss = User(username="boss", password_hash="x", role="supervisor")
    session.add(boss)
    session.flush()
    aging.raised(session, call.id, 8, NOW, user_id=boss.id, detail="提前")
    entry = session.query(AuditEntry).filter_by(action="caller_priority").one()
    assert (entry.user_id, entry.object_id, entry.detail) == (boss.id, "h", "提前")
