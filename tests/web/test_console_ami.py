"""The console against the AMI emulator and the real AMI listener on one in-process bus:
buttons become AMI actions, Asterisk's answers come back as state, AgentCalled pops."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from callcenter.ami.process import start_listener_thread
from callcenter.db import session_scope
from callcenter.models import AgentState, AgentStatus, User
from callcenter.simulation.ami.thread import EmulatorThread

from . import data
from .conftest import AuthActions
from .sse_client import parse, read_until

SECRET = "web-test-ami-secret"
INTERFACE = "PJSIP/agent1001"  # a member of queue "vip" in the emulator's queues.conf


def wait_until(condition, timeout: float = 15.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)
    return value


@pytest.fixture
def emulator():
    emu = EmulatorThread(secret=SECRET, auth_failure_delay_s=0.05, boot_delay_s=0.05).start()
    yield emu
    emu.stop()


@pytest.fixture
def ami_app(app, settings, emulator, bus, users):
    ami_settings = settings.model_copy(update={"ami_host": emulator.host, "ami_port": emulator.port,
                                               "ami_secret": SECRET, "ami_reconnect_max_s": 0.4})
    with session_scope(settings.database_url) as s:
        s.get(User, users["agent"]).default_interface = INTERFACE
    listener = start_listener_thread(ami_settings, bus, reconnect_min_s=0.05, reconcile_grace_s=0.0,
                                     boot_wait_s=1.0)
    assert listener.wait_connected(10) and listener.sync(10)
    app.config["SSE_HEARTBEAT_S"] = 0.2
    yield app
    listener.stop()


@pytest.fixture
def console(ami_app):
    auth = AuthActions(ami_app.test_client())
    auth.login("agent")
    assert auth.post_json("/api/agent/interface", {"interface": INTERFACE}).status_code == 200
    response = auth.client.get("/api/agent/events", buffered=False)
    stream = parse(response.response)
    read_until(stream, lambda e: e.event == "state")
    yield auth, stream
    response.close()


def test_pause_and_ready_go_through_asterisk_and_come_back_as_state(console, emulator, settings, users):
    auth, stream = console
    request_id = auth.post_json("/api/agent/action", {"action": "pause", "reason": "用餐"}).get_json()["request_id"]
    action = read_until(stream, lambda e: e.event == "action")[-1]
    assert (action.data["request_id"], action.data["ok"]) == (request_id, True), action.data
    state = read_until(stream, lambda e: e.event == "state" and e.data["status"] == "paused")[-1]
    assert state.data["pause_reason"] == "用餐"
    member = emulator.call(lambda: emulator.emulator.member("vip", INTERFACE))
    assert member.paused, "the emulated Asterisk has the member paused"

    auth.post_json("/api/agent/action", {"action": "ready"})
    read_until(stream, lambda e: e.event == "state" and e.data["status"] == "ready")
    with session_scope(settings.database_url) as s:
        assert s.get(AgentState, users["agent"]).status is AgentStatus.READY


def test_asterisk_error_is_shown_to_the_agent(console):
    auth, stream = console
    auth.post_json("/api/agent/action", {"action": "leave", "queue": "general_q"})  # not a member there
    action = read_until(stream, lambda e: e.event == "action")[-1]
    assert action.data["ok"] is False and action.data["message"]


def test_agent_called_pops_and_the_call_moves_the_state(console, emulator, settings):
    auth, stream = console
    with session_scope(settings.database_url) as s:
        data.customer(s, name="王秀英", number="+8613800138000")
    caller, agent = emulator.agent_called(interface=INTERFACE, caller="13800138000", caller_name="WANG XIUYING")
    pop = read_until(stream, lambda e: e.event == "pop")[-1].data
    assert pop["customer"]["name"] == "王秀英"
    assert pop["caller"] == {"number": "13800138000", "name": "WANG XIUYING"}
    read_until(stream, lambda e: e.event == "state" and e.data["status"] == "ringing")
    emulator.agent_connect(caller, agent, queue="vip", interface=INTERFACE)
    read_until(stream, lambda e: e.event == "state" and e.data["status"] == "on_call")
    emulator.agent_complete(caller, agent, queue="vip", interface=INTERFACE)
    events = read_until(stream, lambda e: e.event == "state" and e.data["status"] == "wrap_up")
    assert any(e.event == "call" and e.data["type"] == "agent_complete" for e in events)
    auth.post_json("/api/agent/action", {"action": "ready"})  # back from wrap-up
    read_until(stream, lambda e: e.event == "state" and e.data["status"] == "ready")


def test_second_ring_of_the_same_call_does_not_pop_again(console, emulator):
    auth, stream = console
    caller, agent = emulator.agent_called(interface=INTERFACE, caller="13912345678", caller_name="<b>x</b>")
    first = read_until(stream, lambda e: e.event == "pop")[-1].data
    assert first["new_customer"]["number"] == "13912345678"
    emulator.agent_ring_no_answer(caller, agent, queue="vip", interface=INTERFACE)
    emulator.agent_called(interface=INTERFACE, linkedid=caller.linkedid)
    events = read_until(stream, lambda e: e.event == "ring")
    assert not [e for e in events if e.event == "pop"]
    assert events[-1].data["linkedid"] == first["linkedid"]


def test_listener_rows_feed_the_supervisor_overview(ami_app, console, emulator, settings):
    emulator.agent_called(interface=INTERFACE, caller="13800138000")
    wait_until(lambda: _status(settings) is AgentStatus.RINGING, what="listener recorded the ringing agent")
    supervisor = AuthActions(ami_app.test_client())
    supervisor.login("supervisor")
    overview = supervisor.client.get("/api/supervisor/overview").get_json()
    agent = next(a for a in overview["agents"] if a["username"] == "agent")
    assert (agent["interface"], agent["status"]) == (INTERFACE, "ringing")
    assert sum(q["ringing"] for q in overview["queues"]) == 1


def _status(settings):
    with session_scope(settings.database_url) as s:
        return s.scalar(select(AgentState.status).where(AgentState.interface == INTERFACE))
