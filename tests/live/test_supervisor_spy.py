"""Listen (监听) on a real Asterisk: the carrier (SIPp) calls the VIP line, agent1001's
phone answers, the supervisor asks to listen (the request the wallboard sends, carried
out by the callcenter's AMI listener), and the supervisor's phone — a SIPp UAS
registered as agent1003 — rings and is joined to the call by ChanSpy ([cc-spy])."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select
from werkzeug.security import generate_password_hash

from callcenter.db import session_scope
from callcenter.models import AgentState, AgentStatus, AuditEntry, Call, CallStatus, Role, User

from . import sipp
from .agents import sign_in
from .test_hotline_calls import VIP_LINE, invites, register, wait_until

pytestmark = pytest.mark.asterisk

AGENT, SUPERVISOR = "PJSIP/agent1001", "PJSIP/agent1003"


@pytest.fixture(scope="module")
def spy_site(live):
    from callcenter.ami.process import start_listener_thread
    from callcenter.bus.core import InProcessBus

    settings = live.settings.model_copy(update={"ami_host": "127.0.0.1", "ami_port": live.pbx.ports.ami,
                                                "ami_username": "callcenter", "ami_secret": live.pbx.ami_secret})
    with session_scope(settings.database_url) as s:
        for old in s.scalars(select(AgentState).where(AgentState.interface.in_((AGENT, SUPERVISOR)))):
            old.interface = None
        agent = User(username="spy_agent", display_name="王坐席", role=Role.AGENT, default_interface=AGENT,
                     password_hash=generate_password_hash("x" * 12, method="pbkdf2:sha256:1000"))
        boss = User(username="spy_boss", display_name="李主管", role=Role.SUPERVISOR, default_interface=SUPERVISOR,
                    password_hash=generate_password_hash("x" * 12, method="pbkdf2:sha256:1000"))
        s.add_all([agent, boss])
        s.flush()
        s.add(AgentState(user_id=agent.id, interface=AGENT, status=AgentStatus.PAUSED, queues=""))
    # The supervisor's phone must not be rung by the queue (another module may have signed it in).
    for queue in ("vip", "general_q", "duty"):
        live.ami.action("QueueRemove", Queue=queue, Interface=SUPERVISOR)
    bus = InProcessBus()
    listener = start_listener_thread(settings, bus, reconnect_min_s=0.1, boot_wait_s=1.0)
    assert listener.wait_connected(20) and listener.sync(20)
    phones = {}
    try:
        for name in ("agent1001", "agent1003"):
            phone = sipp.start(f"spy_{name}", "uas_agent.xml", live.sipp_dir(f"spy_{name}"), calls=None,
                               hold_ms=1000, extra=["-aa"])
            phones[name] = phone
            register(live, phone, name)
        sign_in(live, AGENT, "vip", name="Agent 1001")
        yield {"settings": settings, "bus": bus, "phones": phones}
    finally:
        for phone in phones.values():
            phone.stop()
        listener.stop()


def test_listen_rings_the_supervisors_phone_during_the_agents_call(live, spy_site):
    from callcenter.services.people import supervision

    settings, bus = spy_site["settings"], spy_site["bus"]
    results = bus.subscribe("agent")
    carrier = sipp.start("spy_call", "uac_hotline.xml", live.sipp_dir("spy_call"),
                         remote=f"127.0.0.1:{live.pbx.ports.sip}", port=live.pbx.ports.trunk, calls=1,
                         inject=[[VIP_LINE, "13800138066", "Spied caller"]], hold_ms=15000)
    try:
        def talking() -> bool:
            with session_scope(settings.database_url) as s:
                call = s.scalar(select(Call).where(Call.caller_number == "13800138066"))
                agent = s.scalar(select(User).where(User.username == "spy_agent"))
                state = s.get(AgentState, agent.id)
                return (call is not None and call.status is CallStatus.ANSWERED
                        and state.status is AgentStatus.ON_CALL)

        assert wait_until(talking, timeout=30), "agent1001 is on the VIP call"
        with session_scope(settings.database_url) as s:
            boss = s.scalar(select(User).where(User.username == "spy_boss"))
            agent = s.scalar(select(User).where(User.username == "spy_agent"))
            request = supervision.spy_request(s, boss, agent.id, "listen")
        bus.publish("ami.action", request)

        answer = None
        deadline = time.monotonic() + 30
        while answer is None and time.monotonic() < deadline:
            item = results.get(timeout=0.5)
            if item is not None and item[1].get("request_id") == request["request_id"]:
                answer = item[1]
        assert answer is not None and answer["ok"], answer
        assert answer["message"] == f"监听已接通：{AGENT}"
        rang = invites(spy_site["phones"]["agent1003"])
        assert rang and rang[-1]["agent"] == "agent1003" and rang[-1]["caller"] == "agent1001", rang
        # Asterisk has the supervisor's channel in ChanSpy on the agent's call.
        _, channels = live.ami.list_action("CoreShowChannels")
        spying = [c for c in channels if c.get("Channel", "").startswith(SUPERVISOR + "-")]
        assert spying and spying[0].get("Application") == "ChanSpy", channels
        with session_scope(settings.database_url) as s:
            assert s.query(AuditEntry).filter_by(action="spy").count() == 1
    finally:
        assert carrier.wait(60) == 0, carrier.diagnostics()
