"""Hold and unhold from the agent console on a real Asterisk: the carrier (SIPp) calls the
VIP line, agent1001's phone answers, the console asks for hold (the caller hears music on
hold, the agent's channel waits) and then unhold (the two are bridged again). The call
record stays the one answered call through it, and ends as one completed call."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select
from werkzeug.security import generate_password_hash

from callcenter.db import session_scope
from callcenter.models import AgentState, AgentStatus, Call, CallStatus, Role, User

from . import sipp
from .agents import answered_call, sign_in
from .test_hotline_calls import VIP_LINE, register, wait_until

pytestmark = pytest.mark.asterisk

AGENT = "PJSIP/agent1001"


@pytest.fixture(scope="module")
def hold_site(live):
    from callcenter.ami.process import start_listener_thread
    from callcenter.bus.core import InProcessBus

    settings = live.settings.model_copy(update={"ami_host": "127.0.0.1", "ami_port": live.pbx.ports.ami,
                                                "ami_username": "callcenter", "ami_secret": live.pbx.ami_secret})
    with session_scope(settings.database_url) as s:
        for old in s.scalars(select(AgentState).where(AgentState.interface == AGENT)):
            old.interface = None
        user = User(username="hold_wang", display_name="王坐席", role=Role.AGENT, default_interface=AGENT,
                    password_hash=generate_password_hash("x" * 12, method="pbkdf2:sha256:1000"))
        s.add(user)
        s.flush()
        s.add(AgentState(user_id=user.id, interface=AGENT, status=AgentStatus.PAUSED, queues=""))
    bus = InProcessBus()
    listener = start_listener_thread(settings, bus, reconnect_min_s=0.1, boot_wait_s=1.0)
    assert listener.wait_connected(20) and listener.sync(20)
    phone = sipp.start("hold_agent1001", "uas_agent.xml", live.sipp_dir("hold_agent1001"), calls=None,
                       hold_ms=1000, extra=["-aa"])
    try:
        register(live, phone, "agent1001")
        sign_in(live, AGENT, "vip", name="Agent 1001")
        yield {"settings": settings, "bus": bus}
    finally:
        phone.stop()
        listener.stop()


def _ask(bus, events, request) -> dict:
    bus.publish("ami.action", request)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        item = events.get(timeout=0.5)
        if item is not None and item[1].get("request_id") == request["request_id"]:
            return item[1]
    raise AssertionError(f"no answer to {request['op']}")


def _apps(live) -> dict[str, str]:
    _, channels = live.ami.list_action("CoreShowChannels")
    return {c.get("Channel"): c.get("Application") for c in channels}


def test_hold_and_unhold_keep_one_answered_call(live, hold_site):
    from callcenter.services.calls import controls

    settings, bus = hold_site["settings"], hold_site["bus"]
    events = bus.subscribe("agent")
    carrier = sipp.start("hold_call", "uac_hotline.xml", live.sipp_dir("hold_call"),
                         remote=f"127.0.0.1:{live.pbx.ports.sip}", port=live.pbx.ports.trunk, calls=1,
                         inject=[[VIP_LINE, "13800138055", "Hold caller"]], hold_ms=15000)
    try:
        call = answered_call(settings, "13800138055")
        assert call is not None, "agent1001 answered the VIP call"

        def request(op: str) -> dict:
            with session_scope(settings.database_url) as s:
                state = s.scalar(select(AgentState).where(AgentState.interface == AGENT))
                return controls.control_request(state, s.get(Call, call.id), op)

        held = _ask(bus, events, request("hold"))
        assert held["ok"], held
        # Asterisk moves the two channels one after the other: wait for both, not the first.
        expected = {held["caller_channel"]: "MusicOnHold", held["agent_channel"]: "Wait"}
        apps = wait_until(lambda: (a := _apps(live)) and all(a.get(ch) == app for ch, app in expected.items()) and a,
                          timeout=10)
        assert apps, _apps(live)
        time.sleep(1.0)
        with session_scope(settings.database_url) as s:
            row = s.get(Call, call.id)
            assert row.status is CallStatus.ANSWERED, f"on hold the call is still the answered call, not {row.status}"

        back = _ask(bus, events, request("unhold"))
        assert back["ok"], back
        time.sleep(1.0)
        with session_scope(settings.database_url) as s:
            assert s.get(Call, call.id).status is CallStatus.ANSWERED
    finally:
        assert carrier.wait(60) == 0, carrier.diagnostics()

    def completed() -> Call | None:
        with session_scope(settings.database_url) as s:
            row = s.get(Call, call.id)
            return row if row.status is CallStatus.COMPLETED else None

    done = wait_until(completed, timeout=20)
    assert done is not None, "the call ended"
    assert done.talk_seconds is not None and done.talk_seconds >= 10, done.talk_seconds
