"""Click-to-dial (回电) on a real Asterisk: the panel's request goes through the AMI
listener, which originates the agent's phone (a SIPp UAS registered as agent1001);
once it answers, the shipped [cc-callback] context records and dials the customer
through the carrier trunk (a SIPp UAS on the trunk's address)."""

from __future__ import annotations

import re

import pytest

from callcenter.ami.process import start_listener_thread
from callcenter.bus.core import InProcessBus
from callcenter.db import session_scope
from callcenter.models import CallbackAttempt, User
from callcenter.services.calls import callbacks
from callcenter.services.people import users

from . import sipp
from .agents import sign_in
from .test_hotline_calls import QUEUE_MEMBER_NOT_IN_USE, member_status, register, wait_until

pytestmark = pytest.mark.asterisk

INVITE_LOG = re.compile(r"INVITE agent=(?P<agent>\S*) queue=.* caller=(?P<caller>\S*)")
CUSTOMER = "13800138000"


def invites(peer: sipp.Peer) -> list[dict[str, str]]:
    return [m.groupdict() for line in peer.log_lines() if (m := INVITE_LOG.search(line))]


@pytest.fixture(scope="module")
def agent_phone(live):
    phone = sipp.start("c2d_phone", "uas_agent.xml", live.sipp_dir("c2d_phone"), calls=None, hold_ms=500,
                       extra=["-aa"])
    try:
        register(live, phone, "agent1001")
        # Agents are dynamic members (queues.conf has none): signed in, the member's device
        # state tells when the registered phone is reachable.
        sign_in(live, "PJSIP/agent1001", "vip", name="Agent 1001")
        assert wait_until(lambda: member_status(live, "vip", "Agent 1001") == QUEUE_MEMBER_NOT_IN_USE)
        yield phone
    finally:
        phone.stop()


@pytest.fixture(scope="module")
def customer(live):
    """The called customer, behind the carrier: answers whatever the trunk sends."""
    peer = sipp.start("c2d_customer", "uas_agent.xml", live.sipp_dir("c2d_customer"), calls=None,
                      hold_ms=300, port=live.pbx.ports.trunk, extra=["-aa"])
    yield peer
    peer.stop()


@pytest.fixture(scope="module")
def listener(live):
    settings = live.settings.model_copy(update={"ami_host": "127.0.0.1", "ami_port": live.pbx.ports.ami,
                                                "ami_username": "callcenter", "ami_secret": live.pbx.ami_secret})
    bus = InProcessBus()
    thread = start_listener_thread(settings, bus, reconcile_grace_s=0.0)
    assert thread.wait_connected(20) and thread.sync(20)
    yield bus, settings
    thread.stop()


def test_click_to_dial_rings_the_agents_phone_then_the_customer(live, agent_phone, customer, listener):
    bus, settings = listener
    with session_scope(settings.database_url) as s:
        agent = users.create_user(s, username="c2d_agent", password="live-test-pass", role="agent",
                                  default_interface="PJSIP/agent1001")
        task = callbacks.create_callback(s, number=f"+86{CUSTOMER}", reason="abandoned")
        attempt, request = callbacks.start_dial(s, settings, task, s.get(User, agent.id),
                                                interface="PJSIP/agent1001")
        task_id, attempt_id = task.id, attempt.id
    bus.publish("ami.action", request)

    # The agent's phone rings first, showing the customer's number …
    ring = wait_until(lambda: [i for i in invites(agent_phone) if i["agent"] == "agent1001"
                               and i["caller"] == CUSTOMER], timeout=30)
    assert ring, agent_phone.diagnostics()

    def dialled():
        with session_scope(settings.database_url) as s:
            row = s.get(CallbackAttempt, attempt_id)
            return row if row.dial_status != "dialing" else None
    row = wait_until(dialled, timeout=30)
    assert row is not None and row.dial_status == "connected", (row and row.dial_message)
    # … then, answered, the customer's: through the trunk, from the hotline's number.
    called = wait_until(lambda: invites(customer), timeout=30)
    assert called and called[0]["agent"] == CUSTOMER, customer.diagnostics()
    # The carrier's account is the From user (trunk from_user); the hotline number is
    # the asserted identity the carrier shows the customer.
    sent = (customer.workdir / "c2d_customer_messages.log").read_text(encoding="utf-8", errors="replace")
    assert "P-Asserted-Identity: <sip:4008001000@" in sent
    log = live.pbx.log_lines("full.log")
    assert any(f"Callback task {task_id} attempt {attempt_id} to {CUSTOMER}" in line for line in log)
    assert any("MixMonitor" in line and row.recording_file in line for line in log)
    # Recorded while the two talk (MixMonitor b: bridged audio only), then hung up.
    recording = live.settings.recordings_dir / row.recording_file
    assert wait_until(lambda: recording.exists() and recording.stat().st_size > 8000, timeout=30), recording
    start = len(live.ami.messages)
    live.ami.action("Hangup", Channel="/^PJSIP/agent1001-/")
    assert live.ami.wait_for(lambda m: m.get("Event") == "Hangup" and m.get("Uniqueid") == row.uniqueid,
                             timeout=30, start=start)
