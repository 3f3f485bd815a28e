"""Listen, whisper and barge from the wallboard: only a supervisor, only on a live call,
written to the audit log, and carried out by the AMI listener as an Originate of the
supervisor's phone into [cc-spy] (asserted on the emulator)."""

from __future__ import annotations

import time

import pytest

from callcenter.ami.process import start_listener_thread
from callcenter.db import session_scope
from callcenter.models import AgentState, AgentStatus, AuditEntry, Call, Queue, QueueKind, User
from callcenter.simulation.ami.thread import EmulatorThread

SECRET = "spy-ami-secret"
AGENT_PHONE = "PJSIP/agent1002"
SUPERVISOR_PHONE = "PJSIP/agent1001"  # the emulator answers it (the capture's SIPp peer)


def _on_call(settings, users, status=AgentStatus.ON_CALL):
    with session_scope(settings.database_url) as s:
        s.get(User, users["supervisor"]).default_interface = SUPERVISOR_PHONE
        s.add(AgentState(user_id=users["agent"], interface=AGENT_PHONE, status=status,
                         current_linkedid="1763800000.7"))


def test_spy_request_is_checked_and_audited(client, auth, settings, users, bus):
    _on_call(settings, users)
    sent = bus.subscribe("ami.action")
    auth.login("supervisor")
    bad = auth.post_json("/api/supervisor/spy", {"agent_id": users["agent"], "mode": "record"})
    assert bad.status_code == 400 and "监听" in bad.get_json()["error"]
    ok = auth.post_json("/api/supervisor/spy", {"agent_id": users["agent"], "mode": "barge"})
    assert ok.status_code == 202
    _topic, message = sent.get(2)
    assert message["action"] == "Spy" and message["interface"] == SUPERVISOR_PHONE
    assert message["target"] == AGENT_PHONE and message["mode"] == "barge"
    with session_scope(settings.database_url) as s:
        entry = s.query(AuditEntry).filter_by(action="spy").one()
        assert entry.user_id == users["supervisor"] and entry.object_id == "1763800000.7"
        assert "强插" in entry.detail and AGENT_PHONE in entry.detail
    auth.logout()
    auth.login("agent")
    assert auth.post_json("/api/supervisor/spy", {"agent_id": users["agent"], "mode": "listen"}).status_code == 403


def test_an_agent_not_on_a_call_cannot_be_listened_to(client, auth, settings, users):
    _on_call(settings, users, status=AgentStatus.READY)
    auth.login("supervisor")
    answer = auth.post_json("/api/supervisor/spy", {"agent_id": users["agent"], "mode": "listen"})
    assert answer.status_code == 400 and "不在通话中" in answer.get_json()["error"]


@pytest.fixture
def emulator():
    emu = EmulatorThread(secret=SECRET, auth_failure_delay_s=0.05, boot_delay_s=0.05,
                         originate_ring_s=0.05).start()
    yield emu
    emu.stop()


def test_the_listener_originates_the_supervisors_phone_into_cc_spy(client, auth, settings, users, bus, emulator):
    ami_settings = settings.model_copy(update={"ami_host": emulator.host, "ami_port": emulator.port,
                                               "ami_secret": SECRET})
    listener = start_listener_thread(ami_settings, bus, reconnect_min_s=0.05, reconcile_grace_s=0.0,
                                     boot_wait_s=1.0)
    try:
        assert listener.wait_connected(10) and listener.sync(10)
        # After the listener's first look at the queues (which sets agents' states from Asterisk's).
        _wait(lambda: listener.stats.reconciles >= 1, "the first reconciliation")
        assert listener.sync(10)
        _on_call(settings, users)
        results = bus.subscribe("agent")
        auth.login("supervisor")
        assert auth.post_json("/api/supervisor/spy", {"agent_id": users["agent"], "mode": "listen"}).status_code \
            == 202
        deadline = time.monotonic() + 15
        originate = None
        while originate is None and time.monotonic() < deadline:
            originate = next((a.message for a in emulator.emulator.actions
                              if a.message.get("Action") == "Originate"), None)
            time.sleep(0.02)
        assert originate is not None, "no Originate reached Asterisk"
        assert originate.get("Channel") == SUPERVISOR_PHONE
        assert (originate.get("Context"), originate.get("Exten"), originate.get("Priority")) == \
            ("cc-spy", "listen-agent1002", "1")
        while time.monotonic() < deadline:
            item = results.get(0.5)
            if item and item[1].get("type") == "action_result" and item[1].get("action") == "Spy":
                assert item[1]["ok"] is True and item[1]["user_id"] == users["supervisor"]
                assert item[1]["message"].startswith("监听已接通")
                break
        else:
            raise AssertionError("no action_result for the Spy request")
    finally:
        listener.stop()


# --- fair queues: aging and a supervisor's hand --------------------------------------------------

def _listener(settings, bus, emulator, **update):
    ami_settings = settings.model_copy(update={"ami_host": emulator.host, "ami_port": emulator.port,
                                               "ami_secret": SECRET, **update})
    listener = start_listener_thread(ami_settings, bus, reconnect_min_s=0.05, reconcile_grace_s=0.0,
                                     boot_wait_s=1.0)
    assert listener.wait_connected(10) and listener.sync(10)
    return listener


def _wait(condition, what: str, timeout: float = 15.0):
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)
    return value


def _actions(emulator, name):
    return [a.message for a in emulator.emulator.actions if a.message.get("Action") == name]


def test_an_ordinary_caller_who_waited_is_raised_by_the_listener(settings, bus, emulator):
    listener = _listener(settings, bus, emulator, queue_aging_after_s=1, queue_aging_check_s=0.2,
                         priority_raised=5)
    try:
        caller = emulator.queue_caller_join(queue="general_q", caller="13700137000")
        raise_sent = _wait(lambda: _actions(emulator, "QueueChangePriorityCaller"), "the raise")
        assert (raise_sent[0].get("Queue"), raise_sent[0].get("Caller"), raise_sent[0].get("Priority")) == \
            ("general_q", caller.channel, "5")

        def kept():
            with session_scope(settings.database_url) as s:
                call = s.query(Call).filter_by(uniqueid=caller.uniqueid).one()
                return (call.aged_priority, call.priority) if call.aged_priority else None
        assert _wait(kept, "the raise on the call") == (5, 0)
        time.sleep(0.6)
        assert len(_actions(emulator, "QueueChangePriorityCaller")) == 1, "raised once"
    finally:
        listener.stop()


def test_a_supervisor_raises_and_moves_a_waiting_caller(client, auth, settings, users, bus, emulator):
    with session_scope(settings.database_url) as s:
        s.add_all([Queue(name="general_q", kind=QueueKind.GENERAL), Queue(name="vip", kind=QueueKind.VIP)])
    listener = _listener(settings, bus, emulator, queue_aging_after_s=0)     # no aging: only the hand
    try:
        caller = emulator.queue_caller_join(queue="general_q", caller="13700137001")
        assert listener.sync(10)
        with session_scope(settings.database_url) as s:
            call_id = s.query(Call).filter_by(uniqueid=caller.uniqueid).one().id
        auth.login("supervisor")
        assert auth.post_json("/api/supervisor/caller", {"call_id": call_id, "op": "raise"}).status_code == 202
        _wait(lambda: _actions(emulator, "QueueChangePriorityCaller"), "the raise")

        def audited():
            with session_scope(settings.database_url) as s:
                entry = s.query(AuditEntry).filter_by(action="caller_priority").one_or_none()
                return entry and (entry.user_id, s.get(Call, call_id).aged_priority)
        assert _wait(audited, "the raise kept and audited") == (users["supervisor"], settings.priority_raised)

        assert auth.post_json("/api/supervisor/caller", {"call_id": call_id, "op": "move",
                                                         "target": "general_q"}).status_code == 400
        assert auth.post_json("/api/supervisor/caller", {"call_id": call_id, "op": "move",
                                                         "target": "vip"}).status_code == 202
        redirect = _wait(lambda: _actions(emulator, "Redirect"), "the move")[0]
        assert (redirect.get("Channel"), redirect.get("Context"), redirect.get("Exten")) == \
            (caller.channel, "cc-transfer", "queue-vip")
        with session_scope(settings.database_url) as s:
            assert s.query(AuditEntry).filter_by(action="caller_move").one().detail == "general_q -> vip"
        assert auth.post_json("/api/supervisor/caller", {"call_id": 987654, "op": "raise"}).status_code == 404
    finally:
        listener.stop()
