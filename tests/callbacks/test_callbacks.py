"""不漏接一个电话: exactly one open callback task per missed call."""

import datetime as dt

import pytest

from callcenter.models import (
    Call,
    CallbackAttempt,
    CallbackMiss,
    CallbackReason,
    CallbackStatus,
    CallbackTask,
    Role,
    User,
)
from callcenter.services.calls import callbacks
from callcenter.services.calls.callbacks import CallbackError
from callcenter.services.setup import hours
from callcenter.timeutil import to_local, to_utc_naive


def _call(session, uniqueid="1795344550.26", number="+8613800138000"):
    call = Call(uniqueid=uniqueid, linkedid=uniqueid, caller_number="13800138000", caller_e164=number)
    session.add(call)
    session.flush()
    return call


def test_abandon_then_message_is_one_task_with_the_message(session):
    call = _call(session)
    first = callbacks.create_callback(session, number=call.caller_e164, reason="abandoned", call_id=call.id)
    second = callbacks.create_callback(session, number=call.caller_e164, reason="voicemail", call_id=call.id,
                                       message_file="messages/2026/11/22/101500-1795344550.26.wav")
    session.commit()
    assert second.id == first.id
    assert session.query(CallbackTask).count() == 1
    assert first.reason is CallbackReason.ABANDONED
    assert first.message_file.endswith("1795344550.26.wav")


def test_repeated_event_does_not_duplicate(session):
    call = _call(session)
    for _ in range(3):
        callbacks.create_callback(session, number=call.caller_e164, reason="abandoned", call_id=call.id)
    session.commit()
    assert session.query(CallbackTask).count() == 1


def test_anonymous_task_gets_the_number_when_one_is_learnt(session):
    call = _call(session, number="")
    task = callbacks.create_callback(session, number="anonymous", reason="abandoned", call_id=call.id)
    callbacks.create_callback(session, number="+8613900139000", reason="after_hours", call_id=call.id)
    assert task.number == "+8613900139000"


def test_a_done_task_does_not_swallow_a_new_miss(session):
    call = _call(session)
    task = callbacks.create_callback(session, number=call.caller_e164, reason="after_hours", call_id=call.id)
    callbacks.complete_callback(session, task, user_id=None, notes="已回电")
    again = callbacks.create_callback(session, number=call.caller_e164, reason="abandoned", call_id=call.id)
    session.commit()
    assert again.id != task.id
    assert task.status is CallbackStatus.DONE and task.notes == "已回电"
    assert [t.id for t in callbacks.open_callbacks(session)] == [again.id]


def test_due_time_and_order(session):
    a = callbacks.create_callback(session, number="+8613800000001", reason="after_hours",
                                  due_in=dt.timedelta(hours=4))
    b = callbacks.create_callback(session, number="+8613800000002", reason="abandoned",
                                  due_in=dt.timedelta(minutes=30))
    session.commit()
    assert a.due_at - a.created_at == dt.timedelta(hours=4)
    assert [t.id for t in callbacks.open_callbacks(session)] == [b.id, a.id]


# --- 回电: one open task per number, due inside opening hours, claimed, worked -------------

TZ = "Asia/Shanghai"


def _local(year, month, day, hour, minute=0):
    return to_utc_naive(dt.datetime(year, month, day, hour, minute), TZ)


def _user(session, name, role=Role.AGENT):
    user = User(username=name, display_name=name, password_hash="x", role=role)
    session.add(user)
    session.flush()
    return user


def test_repeat_misses_of_one_number_raise_its_one_open_task(session):
    """Issue 11 #7: one number had 4+ open tasks. Now the repeats add to one task."""
    tasks = []
    for n in range(4):
        call = _call(session, uniqueid=f"1795344550.{n}", number="+8613800138000")
        tasks.append(callbacks.create_callback(session, number=call.caller_e164, reason="abandoned",
                                               call_id=call.id, due_in=dt.timedelta(hours=2)))
    session.commit()
    assert {t.id for t in tasks} == {tasks[0].id}
    task = tasks[0]
    assert session.query(CallbackTask).filter_by(status=CallbackStatus.OPEN).count() == 1
    assert (task.miss_count, task.priority) == (4, 3)
    assert task.last_missed_at >= task.created_at
    assert len({m.call_id for m in callbacks.misses(session, task.id)}) == 4
    assert session.query(CallbackMiss).filter_by(task_id=task.id).count() == 4


def test_the_national_and_the_international_form_of_a_number_are_one_task(session):
    a = callbacks.create_callback(session, number="13800138000", reason="after_hours")
    b = callbacks.create_callback(session, number="+86 138 0013 8000", reason="abandoned")
    assert a.id == b.id and a.number == "+8613800138000" and a.miss_count == 2


def test_a_raised_task_comes_first(session):
    calm = callbacks.create_callback(session, number="+8613800000001", reason="abandoned",
                                     due_in=dt.timedelta(minutes=10))
    for _ in range(2):
        raised = callbacks.create_callback(session, number="+8613800000002", reason="abandoned",
                                           due_in=dt.timedelta(hours=3))
    session.commit()
    assert [t.id for t in callbacks.open_callbacks(session)] == [raised.id, calm.id]


def test_withheld_callers_are_never_merged(session):
    first = callbacks.create_callback(session, number="anonymous", reason="voicemail", message_file="a.wav")
    second = callbacks.create_callback(session, number="", reason="voicemail", message_file="b.wav")
    session.commit()
    assert first.id != second.id and first.number == second.number == ""


def test_due_time_of_an_evening_miss_is_the_next_morning_inside_opening_hours(session, settings):
    """Issue 11 #7: a task's due time fell in the night."""
    hours.set_hours(session, None, range(5), [(dt.time(9), dt.time(18))])
    session.commit()
    # Wednesday 2026-12-09 17:30: 30 minutes of the day left, 90 more on Thursday.
    task = callbacks.create_callback(session, number="+8613800138000", reason="abandoned",
                                     due_in=dt.timedelta(hours=2), settings=settings,
                                     at=_local(2026, 12, 9, 17, 30))
    assert to_local(task.due_at, TZ).replace(tzinfo=None) == dt.datetime(2026, 12, 10, 10, 30)
    # Friday 23:00 before the weekend → Monday 11:00.
    late = callbacks.create_callback(session, number="+8613900139000", reason="abandoned",
                                     due_in=dt.timedelta(hours=2), settings=settings,
                                     at=_local(2026, 12, 11, 23, 0))
    assert to_local(late.due_at, TZ).replace(tzinfo=None) == dt.datetime(2026, 12, 14, 11, 0)


def test_due_time_skips_the_national_holidays(session, settings):
    hours.set_hours(session, None, range(7), [(dt.time(9), dt.time(18))])
    session.commit()
    # Wednesday 2026-09-30 17:00; 10-01..07 is National Day, every day has hours.
    task = callbacks.create_callback(session, number="+8613800138000", reason="abandoned",
                                     due_in=dt.timedelta(hours=2), settings=settings,
                                     at=_local(2026, 9, 30, 17, 0))
    assert to_local(task.due_at, TZ).replace(tzinfo=None) == dt.datetime(2026, 10, 8, 10, 0)


def test_claim_is_exclusive_and_a_supervisor_reassigns(session):
    task = callbacks.create_callback(session, number="+8613800138000", reason="abandoned")
    wang, li = _user(session, "wang"), _user(session, "li")
    callbacks.claim(session, task, wang.id)
    callbacks.claim(session, task, wang.id)  # claiming one's own task again is fine
    with pytest.raises(CallbackError, match="已由 wang 认领"):
        callbacks.claim(session, task, li.id)
    assert task.assigned_to_id == wang.id and task.claimed_at is not None
    callbacks.assign(session, task, li.id)
    assert task.assigned_to_id == li.id
    with pytest.raises(CallbackError):
        callbacks.assign(session, task, 987654)


def test_failed_tries_are_retried_in_opening_hours_then_given_up(session, settings):
    hours.set_hours(session, None, range(7), [(dt.time(0), dt.time(23, 59))])
    session.commit()
    wang = _user(session, "wang")
    task = callbacks.create_callback(session, number="+8613800138000", reason="abandoned")
    first_due = task.due_at
    callbacks.log_outcome(session, settings, task, user_id=wang.id, outcome="no_answer", notes="响铃无人接")
    assert task.status is CallbackStatus.OPEN and task.attempt_count == 1 and task.outcome == "no_answer"
    assert task.due_at != first_due and "无人接听：响铃无人接" in task.notes
    callbacks.log_outcome(session, settings, task, user_id=wang.id, outcome="busy")
    callbacks.log_outcome(session, settings, task, user_id=wang.id, outcome="unreachable")
    assert task.status is CallbackStatus.DONE and task.outcome == "gave_up"  # callback_max_attempts = 3
    assert [a.outcome for a in callbacks.attempts(session, task.id)] == ["no_answer", "busy", "unreachable"]
    with pytest.raises(CallbackError, match="已处理"):
        callbacks.log_outcome(session, settings, task, user_id=wang.id, outcome="reached")


def test_reaching_the_customer_closes_the_task_and_a_new_miss_opens_another(session, settings):
    task = callbacks.create_callback(session, number="+8613800138000", reason="abandoned")
    attempt = callbacks.log_outcome(session, settings, task, user_id=None, outcome="reached")
    assert task.status is CallbackStatus.DONE and attempt.outcome == "reached"
    again = callbacks.create_callback(session, number="+8613800138000", reason="abandoned")
    assert again.id != task.id and again.miss_count == 1
    with pytest.raises(CallbackError, match="unknown outcome"):
        callbacks.log_outcome(session, settings, again, user_id=None, outcome="maybe")


def test_click_to_dial_request_claims_and_names_the_phone_the_number_and_the_recording(session, settings):
    wang = _user(session, "wang")
    wang.default_interface = "PJSIP/agent1001"
    task = callbacks.create_callback(session, number="+861065529988", reason="abandoned")
    attempt, request = callbacks.start_dial(session, settings, task, wang)
    assert task.assigned_to_id == wang.id
    assert request["action"] == "Originate" and request["interface"] == "PJSIP/agent1001"
    assert request["number"] == "01065529988"  # national digits: the trunk dials what people dial
    assert request["task_id"] == task.id and request["attempt_id"] == attempt.id
    assert request["recording"].startswith("callbacks/") and request["recording"].endswith(
        f"cb{task.id}-{attempt.id}.wav")
    assert attempt.dial_status == "dialing" and attempt.request_id == request["request_id"]
    callbacks.record_dial_result(session, {"request_id": attempt.request_id, "ok": True,
                                           "message": "ok", "uniqueid": "1796.1"})
    assert (attempt.dial_status, attempt.uniqueid) == ("connected", "1796.1")
    # The logged outcome lands on the click-to-dial attempt, not on a new one.
    callbacks.log_outcome(session, settings, task, user_id=wang.id, outcome="reached", attempt_id=attempt.id)
    assert session.query(CallbackAttempt).filter_by(task_id=task.id).count() == 1


def test_click_to_dial_needs_a_phone(session, settings):
    li = _user(session, "li")
    task = callbacks.create_callback(session, number="+8613800138000", reason="abandoned")
    with pytest.raises(CallbackError, match="话机"):
        callbacks.start_dial(session, settings, task, li)


def test_two_processes_filing_one_number_at_once_share_one_task(db_url, monkeypatch):
    """The AMI listener and the FastAGI after-hours route may file the same number in
    the same instant: the partial unique index lets one insert win, the other joins it."""
    from callcenter.db import session_factory

    sessions = session_factory(db_url)
    with sessions() as first:
        won = callbacks.create_callback(first, number="+8613800138000", reason="abandoned")
        first.commit()
        won_id = won.id
    real = callbacks._open_task_of_number
    calls = []

    def blind_once(session, key):   # the other process looked before the first committed
        calls.append(key)
        return None if len(calls) == 1 else real(session, key)
    monkeypatch.setattr(callbacks, "_open_task_of_number", blind_once)
    with sessions() as second:
        joined = callbacks.create_callback(second, number="+8613800138000", reason="after_hours")
        second.commit()
        assert joined.id == won_id and joined.miss_count == 2
        assert second.query(CallbackTask).count() == 1
