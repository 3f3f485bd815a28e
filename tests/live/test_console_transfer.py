"""A blind transfer from the agent console on a real Asterisk: the carrier (SIPp) calls
the VIP line, agent1001's phone (a SIPp UAS) answers, the console asks for a transfer
to agent1002 (bus topic ``ami.action``, executed by the callcenter's AMI listener on
its own AMI connection), and agent1002's phone (a second SIPp UAS) rings with the
call's pop key; the listener announces the call to agent1002's console, the call
record keeps both legs and the ticket keeps its first owner (首问负责制). Then an attended
transfer (咨询转接, AMI Atxfer): agent1002's phone rings while the caller waits, agent1001
hangs up, and the caller is left talking to agent1002."""

from __future__ import annotations

import socket
import time

import pytest
from sqlalchemy import select
from werkzeug.security import generate_password_hash

from callcenter.db import session_scope
from callcenter.models import (
    AgentState,
    AgentStatus,
    Call,
    CallAgentLeg,
    CallTransfer,
    Role,
    Ticket,
    TicketType,
    User,
)

from . import sipp
from .agents import answered_call, sign_in
from .pbx import free_port
from .test_hotline_calls import QUEUE_MEMBER_NOT_IN_USE, VIP_LINE, invites, member_status, wait_until

pytestmark = pytest.mark.asterisk

FIRST, SECOND = "PJSIP/agent1001", "PJSIP/agent1002"


@pytest.fixture(scope="module")
def console_site(live):
    """The AMI listener on the live Asterisk, the two agents in the database (seated at
    their phones), and two agent phones: agent1001 and agent1002 on SIPp UASs of their own."""
    from callcenter.ami.process import start_listener_thread
    from callcenter.bus.core import InProcessBus

    settings = live.settings.model_copy(update={"ami_host": "127.0.0.1", "ami_port": live.pbx.ports.ami,
                                                "ami_username": "callcenter", "ami_secret": live.pbx.ami_secret})
    with session_scope(settings.database_url) as s:
        for name, display, iface in (("xfer_wang", "王坐席", FIRST), ("xfer_li", "李坐席", SECOND)):
            user = User(username=name, display_name=display, role=Role.AGENT, default_interface=iface,
                        password_hash=generate_password_hash("x" * 12, method="pbkdf2:sha256:1000"))
            s.add(user)
            s.flush()
            # A console seated at that phone (what sit_at writes); another module's
            # agent may have sat there before.
            for old in s.scalars(select(AgentState).where(AgentState.interface == iface)):
                old.interface = None
            s.add(AgentState(user_id=user.id, interface=iface, status=AgentStatus.PAUSED, queues=""))
    bus = InProcessBus()
    listener = start_listener_thread(settings, bus, reconnect_min_s=0.1, boot_wait_s=1.0)
    assert listener.wait_connected(20) and listener.sync(20)
    phones = {}
    try:
        for agent in ("agent1001", "agent1002"):
            # agent1002 is a softphone (rewrite_contact = yes): Asterisk keeps the address
            # the REGISTER came from, so the phone registers from the port it answers on.
            port = free_port(socket.SOCK_DGRAM)
            workdir = live.sipp_dir(f"xfer_{agent}")
            registering = sipp.start(f"register_{agent}", "uac_register.xml", workdir, port=port,
                                     remote=f"127.0.0.1:{live.pbx.ports.sip}", inject=[[agent, str(port), "600"]],
                                     extra=["-au", agent, "-ap", live.pbx.sip_password])
            assert registering.wait(30) == 0, registering.diagnostics()
            phones[agent] = sipp.start(f"xfer_{agent}", "uas_agent.xml", workdir, port=port, calls=None,
                                       hold_ms=1000, extra=["-aa"])
        sign_in(live, FIRST, "vip", name="Agent 1001")
        assert wait_until(lambda: member_status(live, "vip", "Agent 1001") == QUEUE_MEMBER_NOT_IN_USE), \
            live.pbx.cli("pjsip show contacts")
        assert wait_until(lambda: "agent1002/sip:agent1002" in live.pbx.cli("pjsip show contacts")
                          and "Unavail" not in live.pbx.cli("pjsip show contact agent1002")), \
            live.pbx.cli("pjsip show contacts")
        yield {"settings": settings, "bus": bus, "listener": listener, "phones": phones}
    finally:
        for agent, phone in phones.items():
            phone.stop()
            # Unregistered again (expires 0): other modules expect agent1002 to have no contact.
            leaving = sipp.start(f"unregister_{agent}", "uac_register.xml", live.sipp_dir(f"xfer_{agent}"),
                                 port=phone.port, remote=f"127.0.0.1:{live.pbx.ports.sip}",
                                 inject=[[agent, str(phone.port), "0"]],
                                 extra=["-au", agent, "-ap", live.pbx.sip_password])
            leaving.wait(30)
        listener.stop()


def test_blind_transfer_rings_the_second_phone_and_pops_on_the_second_console(live, console_site):
    from callcenter.services.calls import controls

    settings, bus = console_site["settings"], console_site["bus"]
    agent_events = bus.subscribe("agent")
    # The carrier's caller stays 20 s: long enough to be transferred and talk to agent1002.
    carrier = sipp.start("xfer_call", "uac_hotline.xml", live.sipp_dir("xfer_call"),
                         remote=f"127.0.0.1:{live.pbx.ports.sip}", port=live.pbx.ports.trunk, calls=1,
                         inject=[[VIP_LINE, "13800138077", "Transfer caller"]], hold_ms=20000)
    try:
        call = answered_call(settings, "13800138077")
        assert call is not None, "agent1001 answered the VIP call"
        with session_scope(settings.database_url) as s:
            wang = s.scalar(select(User).where(User.username == "xfer_wang"))
            s.add(Ticket(number="GD-LIVE-XFER", type=TicketType.COMPLAINT, customer_id=None, owner_id=wang.id,
                         subject="转接测试", call_linkedid=call.linkedid))
            state = s.get(AgentState, wang.id)
            request = controls.control_request(state, s.get(Call, call.id), "transfer",
                                               target_kind="agent", target=SECOND)
        bus.publish("ami.action", request)

        # The AMI listener answers the console ...
        answer = None
        pop = None
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and (answer is None or pop is None):
            item = agent_events.get(timeout=0.5)
            if item is None:
                continue
            payload = item[1]
            if payload.get("request_id") == request["request_id"]:
                answer = payload
            if payload.get("type") == "agent_called" and payload.get("interface") == SECOND:
                pop = payload
        assert answer is not None and answer["ok"], answer
        assert answer["caller_channel"].startswith("PJSIP/trunk-provider-")
        assert answer["agent_channel"].startswith(FIRST + "-")
        # ... agent1002's console gets the call (what its event stream pops) ...
        assert pop is not None and (pop["pop_key"], pop["transfer_from"]) == (call.screen_pop_key, FIRST)
        # ... and agent1002's phone rings, with the call's pop key.
        second = console_site["phones"]["agent1002"]
        rang = wait_until(lambda: [i for i in invites(second) if i["agent"] == "agent1002"], timeout=15)
        # The same key the queue gave agent1001's phone (the channel's CC_POP_KEY).
        [queued] = [i for i in invites(console_site["phones"]["agent1001"]) if i["caller"] == "13800138077"]
        assert rang and rang[-1]["queue"] == "transfer" and rang[-1]["caller"] == "13800138077", rang
        assert queued["queue"] == "vip" and rang[-1]["pop_key"] == queued["pop_key"] != ""

        # agent1001's part ended with the transfer: wrap-up starts now (Asterisk reports
        # the phone free at once, but its AgentComplete only when the caller hangs up).
        def first_agent_status() -> str:
            with session_scope(settings.database_url) as s:
                wang_id = s.scalar(select(User.id).where(User.username == "xfer_wang"))
                return s.get(AgentState, wang_id).status.value
        assert wait_until(lambda: first_agent_status() == "wrap_up", timeout=10), first_agent_status()

        with session_scope(settings.database_url) as s:
            legs = {(leg.interface, leg.outcome)
                    for leg in s.scalars(select(CallAgentLeg).where(CallAgentLeg.call_id == call.id))}
            assert {(FIRST, "connected"), (SECOND, "transfer")} <= legs, legs
            [transfer] = s.scalars(select(CallTransfer).where(CallTransfer.call_id == call.id))
            assert (transfer.ok, transfer.target, transfer.from_interface) == (True, SECOND, FIRST)
            owner = s.scalar(select(Ticket.owner_id).where(Ticket.number == "GD-LIVE-XFER"))
            assert owner == s.scalar(select(User.id).where(User.username == "xfer_wang"))
    finally:
        assert carrier.wait(60) == 0, carrier.diagnostics()


def _status(settings, user_id: int) -> str:
    with session_scope(settings.database_url) as s:
        return s.get(AgentState, user_id).status.value


def test_attended_transfer_hands_the_caller_to_the_second_agent(live, console_site):
    from callcenter.services.calls import controls

    settings, bus = console_site["settings"], console_site["bus"]
    events = bus.subscribe("agent")
    # agent1002 stays on the line this time (its phone answers and holds 20 s).
    old = console_site["phones"]["agent1002"]
    old.stop()
    console_site["phones"]["agent1002"] = sipp.start("atx_agent1002", "uas_agent.xml",
                                                     live.sipp_dir("xfer_agent1002"), port=old.port, calls=None,
                                                     hold_ms=20000, extra=["-aa"])
    carrier = sipp.start("atx_call", "uac_hotline.xml", live.sipp_dir("atx_call"),
                         remote=f"127.0.0.1:{live.pbx.ports.sip}", port=live.pbx.ports.trunk, calls=1,
                         inject=[[VIP_LINE, "13800138044", "Attended caller"]], hold_ms=25000)
    try:
        call = answered_call(settings, "13800138044")
        assert call is not None, "agent1001 answered the VIP call"
        with session_scope(settings.database_url) as s:
            state = s.scalar(select(AgentState).where(AgentState.interface == FIRST))
            request = controls.control_request(state, s.get(Call, call.id), "transfer", target_kind="agent",
                                               target=SECOND, attended=True)
        bus.publish("ami.action", request)
        answer = None
        deadline = time.monotonic() + 20
        while answer is None and time.monotonic() < deadline:
            item = events.get(timeout=0.5)
            if item is not None and item[1].get("request_id") == request["request_id"]:
                answer = item[1]
        assert answer is not None and answer["ok"], answer
        # agent1002's phone rings (the consultation) while the caller waits.
        second = console_site["phones"]["agent1002"]
        assert wait_until(lambda: [i for i in invites(second) if i["agent"] == "agent1002"], timeout=15)
        with session_scope(settings.database_url) as s:
            wang_id = s.scalar(select(User.id).where(User.username == "xfer_wang"))
        # During the consultation agent1001 is still on the call.
        assert wait_until(lambda: _status(settings, wang_id) == "on_call", timeout=10), _status(settings, wang_id)
        # agent1001 hangs up: the caller is handed over to agent1002.
        live.ami.action("Hangup", Channel=answer["agent_channel"])

        def bridged_with_second() -> bool:
            # caller ⇄ Local/1002@cc-atxfer;1 … Local;2 ⇄ agent1002 (the Dial of [cc-atxfer]).
            _, channels = live.ami.list_action("CoreShowChannels")
            bridge_of = {c.get("Channel"): c.get("BridgeId") for c in channels}
            caller_bridge = bridge_of.get(answer["caller_channel"])
            locals_ = {name.rsplit(";", 1)[1]: bridge for name, bridge in bridge_of.items()
                       if name.startswith("Local/1002@cc-atxfer-")}
            second_bridges = {bridge for name, bridge in bridge_of.items() if name.startswith(SECOND + "-")}
            return bool(caller_bridge) and locals_.get("1") == caller_bridge and locals_.get("2") in second_bridges

        assert wait_until(bridged_with_second, timeout=15), "the caller talks to agent1002"
        # agent1001's hang-up completed the transfer: Asterisk reports AgentComplete
        # (Reason: transfer) right after AttendedTransfer, and wrap-up starts then.
        assert wait_until(lambda: _status(settings, wang_id) == "wrap_up", timeout=10), _status(settings, wang_id)
        with session_scope(settings.database_url) as s:
            kinds = [t.kind for t in s.scalars(select(CallTransfer).where(CallTransfer.call_id == call.id))]
        assert kinds == ["attended"], kinds
    finally:
        assert carrier.wait(60) == 0, carrier.diagnostics()
