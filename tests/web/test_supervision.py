"""Listen, whisper and barge from the wallboard: only a supervisor, only on a live call,
written to the audit log, and carried out by the AMI listener as an Originate of the
supervisor's phone into [cc-spy] (asserted on the emulator)."""

from __future__ import annotations

import time

import pytest

from callcenter.ami.process import start_listener_thread
from callcenter.db import session_scope
from callcenter.models import AgentState, AgentStatus, AuditEntry, User
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
        _on_call(settings, users)      # after the listener's first look at the queues
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
