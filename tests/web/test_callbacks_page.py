"""回电任务 in the panel: national numbers, claiming, outcomes, and click-to-dial through
the AMI listener against the emulator (the Originate Asterisk is sent is asserted)."""

from __future__ import annotations

import time

import pytest

from callcenter.ami.process import start_listener_thread
from callcenter.db import session_scope
from callcenter.models import AgentState, CallbackAttempt, CallbackStatus, CallbackTask, User
from callcenter.services.calls import callbacks
from callcenter.simulation.ami.thread import EmulatorThread

SECRET = "callback-test-ami-secret"
INTERFACE = "PJSIP/agent1001"  # answers in the emulator (the capture's SIPp peer)


def _task(settings, number="+8613800138000", misses=1):
    with session_scope(settings.database_url) as s:
        for _ in range(misses):
            task = callbacks.create_callback(s, number=number, reason="abandoned")
        return task.id


def test_the_list_is_回电_in_national_format_with_the_misses_counted(client, auth, settings):
    """Issue 11 #7: labelled 回访任务, numbers in +86…, one number had 4+ tasks."""
    _task(settings, misses=4)
    auth.login("agent")
    page = client.get("/callbacks/").get_data(as_text=True)
    assert "<h1>回电任务（未完成）</h1>" in page and "回访任务" not in page  # 回访 is the surveys menu
    assert '<td class="phone">13800138000</td>' in page and "+86" not in page
    assert page.count('id="task-') == 1
    assert '">4 <span class="badge raised"' in page
    assert page.split('<td class="misses" title="')[1].split('"')[0].count("放弃来电") == 4


def test_claim_then_another_agent_is_refused_and_the_outcome_is_logged(app, client, auth, settings, users,
                                                                       test_password_hash):
    from .conftest import add_user
    other = add_user(settings.database_url, test_password_hash, "agent2", "agent", display_name="李四")
    task_id = _task(settings)
    auth.login("agent")
    assert auth.post_form(f"/callbacks/{task_id}/claim").status_code == 302
    with session_scope(settings.database_url) as s:
        assert s.get(CallbackTask, task_id).assigned_to_id == users["agent"]
    auth.logout()
    auth.login("agent2")
    auth.post_form(f"/callbacks/{task_id}/claim")
    page = client.get("/callbacks/").get_data(as_text=True)
    assert "已由 agent-张 认领" in page
    with session_scope(settings.database_url) as s:
        assert s.get(CallbackTask, task_id).assigned_to_id == users["agent"] != other
    auth.post_form(f"/callbacks/{task_id}/outcome", {"outcome": "no_answer", "notes": "无人接"})
    with session_scope(settings.database_url) as s:
        task = s.get(CallbackTask, task_id)
        assert (task.status, task.attempt_count, task.outcome) == (CallbackStatus.OPEN, 1, "no_answer")
    auth.post_form(f"/callbacks/{task_id}/outcome", {"outcome": "nonsense"})
    assert "请选择处理结果" in client.get("/callbacks/").get_data(as_text=True)
    auth.post_form(f"/callbacks/{task_id}/outcome", {"outcome": "reached"})
    with session_scope(settings.database_url) as s:
        assert s.get(CallbackTask, task_id).status is CallbackStatus.DONE
    assert auth.post_form("/callbacks/987654/outcome", {"outcome": "reached"}).status_code == 404


def test_a_supervisor_assigns(client, auth, settings, users):
    task_id = _task(settings)
    auth.login("supervisor")
    auth.post_form(f"/callbacks/{task_id}/assign", {"user_id": str(users["agent"])})
    with session_scope(settings.database_url) as s:
        assert s.get(CallbackTask, task_id).assigned_to_id == users["agent"]


def test_click_to_dial_without_a_phone_says_so(client, auth, settings, users):
    with session_scope(settings.database_url) as s:
        s.get(User, users["supervisor"]).default_interface = None
    task_id = _task(settings)
    auth.login("supervisor")
    auth.post_form(f"/callbacks/{task_id}/dial")
    assert "请先在坐席工作台选择您的话机" in client.get("/callbacks/").get_data(as_text=True)


# --- click-to-dial through the AMI listener and the emulator -------------------------------

@pytest.fixture
def emulator():
    emu = EmulatorThread(secret=SECRET, auth_failure_delay_s=0.05, boot_delay_s=0.05,
                         originate_ring_s=0.05).start()
    yield emu
    emu.stop()


@pytest.fixture
def listener(app, settings, emulator, bus, users):
    ami_settings = settings.model_copy(update={"ami_host": emulator.host, "ami_port": emulator.port,
                                               "ami_secret": SECRET, "ami_reconnect_max_s": 0.4})
    with session_scope(settings.database_url) as s:
        s.get(User, users["agent"]).default_interface = INTERFACE
    thread = start_listener_thread(ami_settings, bus, reconnect_min_s=0.05, reconcile_grace_s=0.0,
                                   boot_wait_s=1.0)
    assert thread.wait_connected(10) and thread.sync(10)
    # The first reconciliation seats the agent at their phone: done before a test moves them.
    _wait(lambda: thread.stats.reconciles >= 1, "the first reconciliation")
    assert thread.sync(10)
    yield thread
    thread.stop()


def _wait(condition, what: str, timeout: float = 15.0):
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)
    return value


def test_click_to_dial_originates_the_agents_phone_then_the_customer(client, auth, settings, users,
                                                                     emulator, listener):
    task_id = _task(settings, number="+861065529988")
    auth.login("agent")
    assert auth.post_form(f"/callbacks/{task_id}/dial").status_code == 302
    originate = _wait(lambda: next((a.message for a in emulator.emulator.actions
                                    if a.message.get("Action") == "Originate"), None), "the Originate")
    assert originate.get("Channel") == INTERFACE            # the agent's phone rings first
    assert originate.get("Context") == "cc-callback"        # then the dialplan dials the customer
    assert originate.get("Exten") == "01065529988"
    assert originate.get("CallerID") == '"回电" <01065529988>'
    variables = originate.getall("Variable")
    with session_scope(settings.database_url) as s:
        attempt = s.query(CallbackAttempt).filter_by(task_id=task_id).one()
        task = s.get(CallbackTask, task_id)
        assert task.assigned_to_id == users["agent"]        # dialling claims the task
        expected = {f"CC_CALLBACK_TASK={task_id}", f"CC_CALLBACK_ATTEMPT={attempt.id}",
                    f"CC_CALLBACK_RECORDING={attempt.recording_file}"}
    assert expected <= set(variables)
    assert listener.sync(10)

    def connected():
        with session_scope(settings.database_url) as s:
            row = s.query(CallbackAttempt).filter_by(task_id=task_id).one()
            return row if row.dial_status != "dialing" else None
    row = _wait(connected, "the Originate's answer on the attempt")
    assert row.dial_status == "connected" and row.uniqueid
    page = client.get("/callbacks/").get_data(as_text=True)
    assert "坐席已接听，正在呼叫客户" in page
    # The outcome lands on that attempt.
    auth.post_form(f"/callbacks/{task_id}/outcome", {"outcome": "reached", "attempt_id": str(row.id)})
    with session_scope(settings.database_url) as s:
        assert s.query(CallbackAttempt).filter_by(task_id=task_id).one().outcome == "reached"


def test_click_to_dial_to_a_phone_that_does_not_answer_is_a_failed_attempt(client, auth, settings, users,
                                                                           emulator, listener):
    with session_scope(settings.database_url) as s:
        # The phone the console sits at is rung (the listener seated the agent at agent1001).
        s.get(User, users["agent"]).default_interface = "PJSIP/busy2001"
        state = s.get(AgentState, users["agent"])
        if state is not None:
            state.interface = "PJSIP/busy2001"
    task_id = _task(settings)
    auth.login("agent")
    auth.post_form(f"/callbacks/{task_id}/dial")

    def failed():
        with session_scope(settings.database_url) as s:
            row = s.query(CallbackAttempt).filter_by(task_id=task_id).one()
            return row if row.dial_status == "failed" else None
    row = _wait(failed, "the failed Originate")
    assert row.dial_message.startswith("回电失败")


def test_a_click_to_dial_nobody_answered_says_so(client, auth, settings, users):
    """No AMI listener took the request (or Asterisk is away): the attempt does not
    claim to be ringing for ever."""
    import datetime as dt

    task_id = _task(settings)
    auth.login("agent")
    auth.post_form(f"/callbacks/{task_id}/dial")
    assert "正在呼叫坐席话机" in client.get("/callbacks/").get_data(as_text=True)
    with session_scope(settings.database_url) as s:
        attempt = s.query(CallbackAttempt).filter_by(task_id=task_id).one()
        attempt.started_at -= dt.timedelta(seconds=settings.callback_agent_ring_s + 31)
    assert "电话系统未回应，请重试或手动拨打" in client.get("/callbacks/").get_data(as_text=True)
