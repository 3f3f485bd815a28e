"""不漏接一个电话: exactly one open callback task per missed call."""

import datetime as dt

from callcenter.models import Call, CallbackReason, CallbackStatus, CallbackTask
from callcenter.services.calls import callbacks


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
