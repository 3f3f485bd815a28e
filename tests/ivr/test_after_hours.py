"""After hours: every caller ends with a callback task; messages are kept (不漏接一个电话)."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import func, select

from callcenter.agi.channel import AGIHangup
from callcenter.agi.context import AGIContext
from callcenter.agi.handlers.after_hours import after_hours
from callcenter.db import session_scope
from callcenter.ivr.flow import FlowError
from callcenter.models import Call, CallbackReason, CallbackTask, Customer, Tier
from callcenter.services.calls.after_hours import (
    callback_number,
    file_after_hours_callback,
    keep_message,
    message_target,
)

from .conftest import HANGUP, RECORDED_WAV, SHIPPED_FLOWS, TIMEOUT, WAV_HEADER_ONLY, ScriptedCaller, Step

UNIQUEID = "1795344497.20"
SPOKEN_13800138000 = [Step("stream", f"digit_{d}") for d in "13800138000"]


# --- the rules (no AGI) -----------------------------------------------------------------

@pytest.mark.parametrize("raw, number, spoken", [
    ("13800138000", "+8613800138000", "13800138000"),
    ("+86 138 0013 8000", "+8613800138000", "13800138000"),
    ("01065529988", "+861065529988", "01065529988"),
    ("1001", "1001", "1001"),                   # an internal extension
])
def test_callback_number(raw, number, spoken):
    found = callback_number(raw)
    assert (found.number, found.spoken) == (number, spoken)


@pytest.mark.parametrize("raw", ["", "anonymous", "Anonymous", "unknown", "restricted", "12",
                                 "138001380001380013800", "13800138000;drop", "张三"])
def test_no_usable_number(raw):
    assert callback_number(raw) is None


def test_message_target_uses_the_local_date(ivr_settings):
    settings = ivr_settings
    # 17:30 UTC is 01:30 the next day in Shanghai: the folder a supervisor looks in.
    target = message_target(settings, "1795344497.20", dt.datetime(2026, 11, 22, 17, 30, 5))
    assert target.stored_name == "messages/2026/11/23/013005-1795344497-20.wav"
    assert target.record_path == str(Path(settings.recordings_dir).absolute()
                                     / "messages/2026/11/23/013005-1795344497-20")


def test_keep_message_drops_a_header_only_file(ivr_settings):
    settings = ivr_settings
    target = message_target(settings, UNIQUEID)
    wav = Path(target.record_path + ".wav")
    wav.parent.mkdir(parents=True)
    assert keep_message(settings, target) == ""                 # never written
    wav.write_bytes(WAV_HEADER_ONLY)
    assert keep_message(settings, target) == "" and not wav.exists()
    wav.write_bytes(RECORDED_WAV.read_bytes())
    assert keep_message(settings, target) == target.stored_name


def _call(session, caller_number="13800138000", with_customer=True) -> Call:
    customer = None
    if with_customer:
        customer = Customer(name="张三", tier=Tier.ORDINARY)
        session.add(customer)
        session.flush()
    call = Call(uniqueid=UNIQUEID, linkedid=UNIQUEID, caller_number=caller_number,
                customer_id=customer.id if customer else None)
    session.add(call)
    session.commit()
    return call


# Wednesday 2026-11-25 10:00 in Shanghai, a working day (no hours configured: open all day).
OPEN_NOW = dt.datetime(2026, 11, 25, 2, 0)


def test_file_callback_from_the_calls_row(session, settings):
    call = _call(session)
    task = file_after_hours_callback(session, settings, call_id=call.id, uniqueid=UNIQUEID,
                                     caller_number="ignored", now=OPEN_NOW)
    assert (task.number, task.reason, task.call_id, task.customer_id) == (
        "+8613800138000", CallbackReason.AFTER_HOURS, call.id, call.customer_id)
    assert task.due_at == OPEN_NOW + dt.timedelta(hours=settings.callback_due_hours)
    # Found by uniqueid when CC_CALL_ID was not set; the same task is not made twice.
    again = file_after_hours_callback(session, settings, call_id=None, uniqueid=UNIQUEID,
                                      caller_number="13800138000")
    assert again.id == task.id
    # A message left later in the same call joins the open task instead of a second one.
    message = file_after_hours_callback(session, settings, call_id=call.id, uniqueid=UNIQUEID,
                                        caller_number="", message_file="messages/x.wav")
    assert (message.id, message.message_file) == (task.id, "messages/x.wav")


def test_a_task_filed_at_night_is_due_after_the_next_opening(session, settings):
    from callcenter.services.setup import hours

    hours.set_hours(session, None, hours.parse_weekdays("mon-fri"), hours.parse_intervals("09:00-18:00"))
    session.commit()
    friday_night = dt.datetime(2026, 11, 27, 15, 0)        # Fri 23:00 in Shanghai
    task = file_after_hours_callback(session, settings, call_id=_call(session).id, uniqueid=UNIQUEID,
                                     caller_number="13800138000", now=friday_night)
    monday_opening = dt.datetime(2026, 11, 30, 1, 0)      # Mon 09:00 in Shanghai
    assert task.due_at == monday_opening + dt.timedelta(hours=settings.callback_due_hours)


def test_message_makes_a_voicemail_task(session, settings):
    call = _call(session)
    task = file_after_hours_callback(session, settings, call_id=call.id, uniqueid=UNIQUEID,
                                     caller_number="", message_file="messages/x.wav")
    assert (task.reason, task.message_file, task.number) == (
        CallbackReason.VOICEMAIL, "messages/x.wav", "+8613800138000")


def test_unanswered_queue_reuses_the_abandoned_task(session, settings):
    from callcenter.services.calls.callbacks import create_callback

    call = _call(session)
    # The AMI listener saw QueueCallerAbandon first and opened the task.
    abandoned = create_callback(session, number="13800138000", reason=CallbackReason.ABANDONED,
                                call_id=call.id)
    task = file_after_hours_callback(session, settings, call_id=call.id, uniqueid=UNIQUEID,
                                     caller_number="13800138000", message_file="messages/y.wav",
                                     queue_unanswered=True)
    assert (task.id, task.reason, task.message_file) == (abandoned.id, CallbackReason.ABANDONED,
                                                         "messages/y.wav")
    assert session.scalar(select(func.count()).select_from(CallbackTask)) == 1


def test_unanswered_queue_without_a_task_yet(session, settings):
    call = _call(session)
    task = file_after_hours_callback(session, settings, call_id=call.id, uniqueid=UNIQUEID,
                                     caller_number="", queue_unanswered=True)
    assert task.reason == CallbackReason.ABANDONED


def test_anonymous_caller(session, settings):
    _call(session, caller_number="anonymous", with_customer=False)
    assert file_after_hours_callback(session, settings, call_id=None, uniqueid=UNIQUEID,
                                     caller_number="anonymous") is None
    task = file_after_hours_callback(session, settings, call_id=None, uniqueid=UNIQUEID,
                                     caller_number="anonymous", message_file="messages/m.wav")
    assert (task.number, task.reason, task.message_file) == ("", CallbackReason.VOICEMAIL, "messages/m.wav")
    assert "号码无法识别" in task.notes


def test_no_calls_row_still_files_the_task(session, settings):
    task = file_after_hours_callback(session, settings, call_id=None, uniqueid="no-such-call",
                                     caller_number="13800138000")
    assert (task.call_id, task.number) == (None, "+8613800138000")


# --- the route, with a scripted caller -----------------------------------------------------

@pytest.fixture
def ah_settings(settings):
    return settings.model_copy(update={"ivr_flows_dir": SHIPPED_FLOWS})


def visit(settings, *steps: Step, callerid="13800138000", variables=None, query=None, raises=None):
    """Run the after_hours route; return (caller, tasks written)."""
    caller = ScriptedCaller(prompts_dir=Path(settings.prompts_dir).absolute(), steps=list(steps),
                            callerid=callerid, variables=variables or {}, query=query or {})

    async def runner(fn, args, kw):
        return fn(*args, **kw)

    ctx = AGIContext(settings, UNIQUEID, runner, route="after_hours")
    if raises:
        with pytest.raises(raises):
            asyncio.run(after_hours(caller.channel, ctx))
    else:
        asyncio.run(after_hours(caller.channel, ctx))
    caller.assert_finished()
    with session_scope(settings.database_url) as s:
        tasks = [(t.reason, t.number, t.message_file, t.call_id) for t in
                 s.scalars(select(CallbackTask).order_by(CallbackTask.id))]
    return caller, tasks


def _message_files(settings) -> list[Path]:
    return sorted((Path(settings.recordings_dir) / "messages").rglob("*.wav"))


def test_leave_a_message(ah_settings, session):
    call = _call(session)
    caller, tasks = visit(
        ah_settings,
        Step("stream", "ah_greeting"),
        Step("get_data", "ah_menu", "1"),
        Step("stream", "ah_record_intro"),
        Step("record", "message", "dtmf"),
        Step("stream", "ah_message_saved"),
        variables={"CC_CALL_ID": str(call.id)},
    )
    [stored] = _message_files(ah_settings)
    assert stored.read_bytes() == RECORDED_WAV.read_bytes()
    relative = stored.relative_to(Path(ah_settings.recordings_dir)).as_posix()
    assert tasks == [(CallbackReason.VOICEMAIL, "+8613800138000", relative, call.id)]
    # The dialplan learns the call is taken care of, whatever AGISTATUS says.
    task_id = session.scalar(select(CallbackTask.id))
    assert caller.variables["CC_CALLBACK_TASK"] == str(task_id)
    record = next(p for p in caller.played if p[0] == "record")[2]
    # RECORD FILE <path without extension> wav "#" 60000 0 BEEP s=6: beep, # ends, 60 s max.
    assert record[1:] == ("wav", "#", 60000, 0, "BEEP", "s=6")
    assert record[0] == str(stored)[:-len(".wav")]


def test_request_a_callback_reads_the_number_back(ah_settings, session):
    call = _call(session)
    caller, tasks = visit(
        ah_settings,
        Step("stream", "ah_greeting"),
        Step("get_data", "ah_menu", "2"),
        Step("stream", "ah_callback_number"),
        *SPOKEN_13800138000,
        Step("get_data", "ah_callback_confirm", "1"),
        Step("stream", "ah_callback_done"),
        variables={"CC_CALL_ID": str(call.id)},
    )
    assert tasks == [(CallbackReason.AFTER_HOURS, "+8613800138000", "", call.id)]
    assert _message_files(ah_settings) == []


def test_callback_confirmation_can_be_cut_short_or_turned_into_a_message(ah_settings):
    _, tasks = visit(
        ah_settings,
        Step("stream", "ah_greeting", "2"),               # knows the menu
        Step("stream", "ah_callback_number"),
        Step("stream", "digit_1"),
        Step("stream", "digit_3", "2"),                   # "no, I'll leave a message"
        Step("stream", "ah_record_intro"),
        Step("record", "message", "timeout"),             # stopped by silence / max time
        Step("stream", "ah_message_saved"),
    )
    assert [t[0] for t in tasks] == [CallbackReason.VOICEMAIL]


def test_silent_caller_is_called_back(ah_settings):
    # after_hours.yaml has no no_input_prompt: silence just repeats the menu, then the
    # default (callback) confirms the number; silence there confirms too.
    _, tasks = visit(
        ah_settings,
        Step("stream", "ah_greeting"),
        Step("get_data", "ah_menu", TIMEOUT),
        Step("get_data", "ah_menu", TIMEOUT),
        Step("stream", "ah_callback_number"),
        *SPOKEN_13800138000,
        Step("get_data", "ah_callback_confirm", TIMEOUT),
        Step("stream", "ah_callback_done"),
    )
    assert tasks == [(CallbackReason.AFTER_HOURS, "+8613800138000", "", None)]


def test_hangup_during_the_greeting_still_makes_a_task(ah_settings, session):
    call = _call(session)
    _, tasks = visit(ah_settings, Step("stream", "ah_greeting", HANGUP),
                     variables={"CC_CALL_ID": str(call.id)}, raises=AGIHangup)
    assert tasks == [(CallbackReason.AFTER_HOURS, "+8613800138000", "", call.id)]


def test_hangup_while_recording_keeps_the_partial_message(ah_settings):
    _, tasks = visit(
        ah_settings,
        Step("stream", "ah_greeting"),
        Step("get_data", "ah_menu", "1"),
        Step("stream", "ah_record_intro"),
        Step("record", "message", "hangup"),
        raises=AGIHangup,
    )
    [stored] = _message_files(ah_settings)
    assert tasks == [(CallbackReason.VOICEMAIL, "+8613800138000",
                      stored.relative_to(Path(ah_settings.recordings_dir)).as_posix(), None)]


def test_hangup_before_saying_anything_drops_the_empty_file(ah_settings):
    _, tasks = visit(
        ah_settings,
        Step("stream", "ah_greeting"),
        Step("get_data", "ah_menu", "1"),
        Step("stream", "ah_record_intro"),
        Step("record", "message", "hangup-empty"),
        raises=AGIHangup,
    )
    assert _message_files(ah_settings) == []
    assert tasks == [(CallbackReason.AFTER_HOURS, "+8613800138000", "", None)]


def test_empty_message_from_a_known_number_is_a_callback(ah_settings):
    _, tasks = visit(
        ah_settings,
        Step("stream", "ah_greeting"),
        Step("get_data", "ah_menu", "1"),
        Step("stream", "ah_record_intro"),
        Step("record", "message", "dtmf-empty"),
        Step("stream", "ah_callback_done"),
    )
    assert tasks == [(CallbackReason.AFTER_HOURS, "+8613800138000", "", None)]


def test_anonymous_caller_is_told_and_the_message_kept(ah_settings):
    _, tasks = visit(
        ah_settings,
        Step("stream", "ah_greeting"),
        Step("get_data", "ah_menu", "2"),
        Step("stream", "ah_no_number"),
        Step("record", "message", "dtmf"),
        Step("stream", "ah_message_saved"),
        callerid="anonymous",
    )
    [stored] = _message_files(ah_settings)
    assert tasks == [(CallbackReason.VOICEMAIL, "",
                      stored.relative_to(Path(ah_settings.recordings_dir)).as_posix(), None)]


def test_anonymous_caller_who_leaves_nothing(ah_settings):
    caller, tasks = visit(
        ah_settings,
        Step("stream", "ah_greeting"),
        Step("get_data", "ah_menu", "1"),
        Step("stream", "ah_no_number"),
        Step("record", "message", "timeout-empty"),
        Step("stream", "ah_no_message"),
        callerid="",
    )
    assert tasks == []
    assert caller.variables["CC_CALLBACK_TASK"] == "none"   # handled: nobody to call back


def test_recording_that_cannot_be_written(ah_settings, caplog):
    _, tasks = visit(
        ah_settings,
        Step("stream", "ah_greeting"),
        Step("get_data", "ah_menu", "1"),
        Step("stream", "ah_record_intro"),
        Step("record", "message", "writefile"),
        Step("stream", "ah_record_failed"),
    )
    assert tasks == [(CallbackReason.AFTER_HOURS, "+8613800138000", "", None)]
    assert "(writefile)" in caplog.text


@pytest.mark.parametrize("how", [{"query": {"mode": "voicemail"}},
                                 {"variables": {"CC_ROUTE_REASON": "ivr_voicemail"}}])
def test_sent_here_from_the_daytime_menu_goes_straight_to_the_message(ah_settings, how):
    _, tasks = visit(
        ah_settings,
        Step("stream", "ah_record_intro"),
        Step("record", "message", "dtmf"),
        Step("stream", "ah_message_saved"),
        **how,
    )
    assert [t[0] for t in tasks] == [CallbackReason.VOICEMAIL]


def test_callback_chosen_in_the_daytime_menu_goes_straight_to_the_confirmation(ah_settings):
    _, tasks = visit(
        ah_settings,
        Step("stream", "ah_callback_number"),
        *SPOKEN_13800138000,
        Step("get_data", "ah_callback_confirm", "1"),
        Step("stream", "ah_callback_done"),
        variables={"CC_ROUTE_REASON": "ivr_callback"},
    )
    assert [t[0] for t in tasks] == [CallbackReason.AFTER_HOURS]


def test_broken_after_hours_flow_still_files_the_task(ah_settings, tmp_path):
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "after_hours.yaml").write_text("root: nowhere\nnodes: {}\n", encoding="utf-8")
    settings = ah_settings.model_copy(update={"ivr_flows_dir": flows})
    _, tasks = visit(settings, raises=FlowError)
    assert tasks == [(CallbackReason.AFTER_HOURS, "+8613800138000", "", None)]


def test_one_task_per_call_even_if_the_route_runs_twice(ah_settings, session):
    call = _call(session)
    steps = [Step("stream", "ah_greeting", HANGUP)]
    visit(ah_settings, *steps, variables={"CC_CALL_ID": str(call.id)}, raises=AGIHangup)
    _, tasks = visit(ah_settings, *steps, variables={"CC_CALL_ID": str(call.id)}, raises=AGIHangup)
    assert len(tasks) == 1
    assert session.scalar(select(func.count()).select_from(CallbackTask)) == 1


def test_queue_nobody_answered_gets_the_busy_greeting(ah_settings, session):
    call = _call(session)
    caller = ScriptedCaller(prompts_dir=Path(ah_settings.prompts_dir).absolute(), steps=[
        Step("stream", "na_greeting"),
        Step("get_data", "ah_menu", "1"),
        Step("stream", "ah_record_intro"),
        Step("record", "message", "dtmf"),
        Step("stream", "ah_message_saved"),
    ], variables={"CC_CALL_ID": str(call.id)})
    # AGI(agi://…/after_hours,${CHANNEL(linkedid)},${QUEUESTATUS})
    caller.channel.request.args = [UNIQUEID, "TIMEOUT"]

    async def runner(fn, args, kw):
        return fn(*args, **kw)

    asyncio.run(after_hours(caller.channel, AGIContext(ah_settings, UNIQUEID, runner)))
    caller.assert_finished()
    [task] = session.scalars(select(CallbackTask)).all()
    assert task.reason == CallbackReason.VOICEMAIL and task.message_file.startswith("messages/")
