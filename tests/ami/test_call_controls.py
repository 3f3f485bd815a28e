"""The [cc-transfer] extension each transfer target becomes, and what the AMI owner
refuses before it sends anything."""

from __future__ import annotations

import pytest

from callcenter.ami import call_controls


@pytest.mark.parametrize("kind, target, exten", [
    ("agent", "PJSIP/agent1002", "agent1002"),
    ("queue", "general_q", "queue-general_q"),
    ("number", "+86 138-0013-8000", "8613800138000"),
    ("number", "010-65529988", "01065529988"),
])
def test_transfer_targets_become_cc_transfer_extensions(kind, target, exten):
    assert call_controls.transfer_exten(kind, target) == exten


@pytest.mark.parametrize("kind, target", [
    ("agent", "agent1002"), ("agent", "PJSIP/a&b"), ("queue", "vip,duty"), ("number", "12"),
    ("number", "138001380001380013800"), ("fax", "1"),
])
def test_bad_targets_are_refused(kind, target):
    with pytest.raises(call_controls.InvalidControl):
        call_controls.transfer_exten(kind, target)


def test_a_request_with_a_smuggled_header_is_refused_without_touching_asterisk():
    class NoAMI:
        async def wait_connected(self, _timeout):
            raise AssertionError("nothing may be sent")

    import asyncio
    answer = asyncio.run(call_controls.execute(NoAMI(), {
        "action": "CallControl", "op": "hangup", "interface": "PJSIP/agent1001",
        "uniqueid": "1.1\r\nAction: Originate"}, {"request_id": "r1"}))
    assert answer["ok"] is False and answer["message"].startswith("invalid request: uniqueid")


def test_agent_complete_after_a_transfer_without_dest_fields_closes_the_agents_leg(
        emulator, agents, listener, ami_settings):
    """After a Redirect the agent's channel is gone and Asterisk 22 sends AgentComplete
    without the Dest* fields (seen on the live transfer): the leg is the one this agent
    answered, the call is complete, the agent in wrap-up."""
    from sqlalchemy import select

    from callcenter.db import session_scope
    from callcenter.models import Call, CallAgentLeg, CallStatus
    from callcenter.simulation.ami.state import _event, channel_block

    from .conftest import status_of

    def scenario() -> None:
        emu = emulator.emulator
        caller = emu.queue_caller_join(queue="vip", caller="13900139001", caller_name="转接")
        _, agent = emu.agent_called(interface="PJSIP/agent1001", linkedid=caller.linkedid, queue="vip")
        emu.agent_connect(caller, agent, queue="vip", interface="PJSIP/agent1001")
        emu.emit(_event("AgentComplete", "agent,all", [
            *channel_block(caller), ("Queue", "vip"), ("Interface", "PJSIP/agent1001"),
            ("MemberName", "Agent 1001"), ("HoldTime", 2), ("TalkTime", 9), ("Reason", "transfer")]))

    emulator.call(scenario)
    assert listener.sync(10)
    with session_scope(ami_settings.database_url) as s:
        call = s.scalar(select(Call).where(Call.caller_number == "13900139001"))
        assert (call.status, call.talk_seconds, call.hangup_side) == (CallStatus.COMPLETED, 9, "transfer")
        legs = list(s.scalars(select(CallAgentLeg).where(CallAgentLeg.call_id == call.id)))
        assert [(leg.interface, leg.outcome) for leg in legs] == [("PJSIP/agent1001", "connected")]
    assert status_of(ami_settings.database_url, agents["PJSIP/agent1001"])[0].value == "wrap_up"


@pytest.mark.parametrize("kind, target, exten", [
    ("agent", "PJSIP/agent1002", "1002"),
    ("number", "010-65529988", "901065529988"),
])
def test_attended_targets_are_digits_of_cc_atxfer(kind, target, exten):
    assert call_controls.attended_exten(kind, target) == exten


@pytest.mark.parametrize("kind, target", [("agent", "PJSIP/lobby"), ("queue", "vip"), ("number", "12")])
def test_attended_transfer_refuses_what_cannot_be_dialled_as_digits(kind, target):
    with pytest.raises(call_controls.InvalidControl):
        call_controls.attended_exten(kind, target)


def test_an_attended_transfer_is_an_atxfer_on_the_agents_channel(emulator, agents, listener, ami_settings):
    """咨询转接: the AMI owner finds the agent's channel of the call and sends Atxfer to
    [cc-atxfer] with the target's digits (the caller's channel is not moved)."""
    import asyncio

    from callcenter.ami.client import AMIClient

    caller, agent = emulator.agent_called(interface="PJSIP/agent1001", caller="13800138000")
    emulator.agent_connect(caller, agent, queue="vip", interface="PJSIP/agent1001")

    async def run():
        client = AMIClient(emulator.host, emulator.port, ami_settings.ami_username, ami_settings.ami_secret)
        task = asyncio.ensure_future(client.run())
        try:
            return await call_controls.execute(client, {
                "action": "CallControl", "op": "transfer", "interface": "PJSIP/agent1001",
                "uniqueid": caller.uniqueid, "linkedid": caller.linkedid, "target_kind": "agent",
                "target": "PJSIP/agent1002", "attended": True}, {"request_id": "r-att"})
        finally:
            await client.close()
            task.cancel()

    answer = asyncio.run(run())
    assert answer["ok"] is True and answer["attended"] is True, answer
    [atxfer] = [a.message for a in emulator.emulator.actions if a.message.get("Action") == "Atxfer"]
    assert (atxfer.get("Channel"), atxfer.get("Context"), atxfer.get("Exten")) == \
        (agent.channel, "cc-atxfer", "1002")
    assert not [a for a in emulator.emulator.actions if a.message.get("Action") == "Redirect"]


def test_a_blind_transfer_ends_the_first_agents_part_at_once_and_the_late_agent_complete_leaves_them_alone(
        emulator, agents, listener, ami_settings, bus):
    """On Asterisk 22 a Redirected caller's AgentComplete for the first agent only comes
    when the caller hangs up — minutes later, Reason "caller", no Dest* fields (seen on the
    live blind transfer). The first agent's wrap-up starts when the transfer succeeds, and
    that late AgentComplete must not put an agent who has moved on back into wrap-up."""
    from sqlalchemy import select

    from callcenter.db import session_scope
    from callcenter.models import AgentState, AgentStatus, Call, CallStatus
    from callcenter.simulation.ami.state import _event, channel_block

    from .conftest import status_of, wait_until

    first = "PJSIP/agent1001"
    held, request = _agent1001_on_a_call_asks_for_a_transfer(emulator, agents, listener, ami_settings,
                                                             uniqueid="1765100000.1", caller="13900139002")
    bus.publish("ami.action", request)
    wait_until(lambda: status_of(ami_settings.database_url, agents[first])[0] == AgentStatus.WRAP_UP,
               what="agent1001 in wrap-up once the transfer succeeded")

    # Wrap-up over, agent1001 is ready for the next call; then the caller hangs up.
    with session_scope(ami_settings.database_url) as s:
        state = s.get(AgentState, agents[first])
        state.status, state.current_linkedid = AgentStatus.READY, None

    def caller_hangs_up() -> None:
        emulator.emulator.emit(_event("AgentComplete", "agent,all", [
            *channel_block(held["caller"]), ("Queue", "vip"), ("Interface", first), ("MemberName", "Agent 1001"),
            ("HoldTime", 2), ("TalkTime", 95), ("Reason", "caller")]))

    emulator.call(caller_hangs_up)
    assert listener.sync(10)
    with session_scope(ami_settings.database_url) as s:
        call = s.scalar(select(Call).where(Call.uniqueid == "1765100000.1"))
        assert (call.status, call.talk_seconds) == (CallStatus.COMPLETED, 95)
    assert status_of(ami_settings.database_url, agents[first])[0] == AgentStatus.READY


def test_an_attended_transfer_puts_the_first_agent_into_wrap_up_when_asterisk_completes_it(
        emulator, agents, listener, ami_settings, bus):
    """Seen on the live attended transfer (Asterisk 22.10): when agent1001 hangs up the
    consultation, AttendedTransfer (Result: Success) is followed at once by AgentComplete
    with Reason "transfer" and the Dest* fields of agent1001's channel. That ends the first
    agent's part: the call keeps its talk time and agent1001 goes into wrap-up (an
    attended transfer is not a hand-over that the tracker ignores AgentComplete for)."""
    from sqlalchemy import select

    from callcenter.db import session_scope
    from callcenter.models import AgentStatus, Call, CallTransfer
    from callcenter.simulation.ami.state import _event, channel_block

    from .conftest import status_of, wait_until

    first = "PJSIP/agent1001"
    held, request = _agent1001_on_a_call_asks_for_a_transfer(emulator, agents, listener, ami_settings,
                                                             uniqueid="1765100100.1", caller="13900139003",
                                                             attended=True)
    bus.publish("ami.action", request)
    wait_until(lambda: _transfer_kinds(ami_settings.database_url, "1765100100.1") == [("attended", True)],
               what="the attended transfer on the call record")
    # The consultation: agent1001 is still on the call, not in wrap-up.
    assert status_of(ami_settings.database_url, agents[first])[0] == AgentStatus.ON_CALL

    def first_agent_hangs_up() -> None:
        caller, agent = held["caller"], held["agent"]
        emulator.emulator.emit(_event("AttendedTransfer", "call,all", [
            ("Result", "Success"), ("OrigTransfererChannel", agent.channel),
            ("OrigTransfererUniqueid", agent.uniqueid), ("OrigTransfererLinkedid", caller.linkedid),
            ("SecondTransfererChannel", agent.channel), ("TransfereeChannel", caller.channel),
            ("TransferTargetChannel", "Local/1002@cc-atxfer-00000000;1"), ("IsExternal", "No"),
            ("DestType", "Bridge")]))
        emulator.emulator.emit(_event("AgentComplete", "agent,all", [
            *channel_block(caller), *channel_block(agent, prefix="Dest"), ("Queue", "vip"), ("Interface", first),
            ("MemberName", "Agent 1001"), ("HoldTime", 1), ("TalkTime", 40), ("Reason", "transfer")]))

    emulator.call(first_agent_hangs_up)
    assert listener.sync(10)
    wait_until(lambda: status_of(ami_settings.database_url, agents[first])[0] == AgentStatus.WRAP_UP,
               what="agent1001 in wrap-up once Asterisk completed the attended transfer")
    with session_scope(ami_settings.database_url) as s:
        call = s.scalar(select(Call).where(Call.uniqueid == "1765100100.1"))
        assert call.talk_seconds == 40
        assert [t.from_interface for t in s.scalars(select(CallTransfer).where(CallTransfer.call_id == call.id))] \
            == [first]


def _transfer_kinds(url: str, uniqueid: str) -> list[tuple[str, bool]]:
    from sqlalchemy import select

    from callcenter.db import session_scope
    from callcenter.models import Call, CallTransfer

    with session_scope(url) as s:
        call = s.scalar(select(Call).where(Call.uniqueid == uniqueid))
        return [(t.kind, t.ok) for t in s.scalars(select(CallTransfer).where(CallTransfer.call_id == call.id))]


def _agent1001_on_a_call_asks_for_a_transfer(emulator, agents, listener, ami_settings, *, uniqueid: str,
                                             caller: str, attended: bool = False) -> tuple[dict, dict]:
    """A routed call that agent1001 answered (as the emulator reports it), and agent1001's
    console request to transfer it to agent1002: the emulator's caller and agent channels,
    and the ``ami.action`` message to publish."""
    from sqlalchemy import select

    from callcenter.db import session_scope
    from callcenter.models import AgentState, AgentStatus, Call
    from callcenter.services.calls import controls

    from .conftest import routed_call, status_of, wait_until

    first = "PJSIP/agent1001"
    routed_call(ami_settings.database_url, uniqueid=uniqueid, queue="vip", caller=caller)
    held = {}

    def connect() -> None:
        emu = emulator.emulator
        joined = emu.queue_caller_join(queue="vip", caller=caller, caller_name="转接", uniqueid=uniqueid)
        _, agent = emu.agent_called(interface=first, linkedid=joined.linkedid, queue="vip")
        emu.agent_connect(joined, agent, queue="vip", interface=first)
        held.update(caller=joined, agent=agent)

    emulator.call(connect)
    assert listener.sync(10)
    wait_until(lambda: status_of(ami_settings.database_url, agents[first])[0] == AgentStatus.ON_CALL,
               what="agent1001 on the call")
    with session_scope(ami_settings.database_url) as s:
        call = s.scalar(select(Call).where(Call.uniqueid == uniqueid))
        request = controls.control_request(s.get(AgentState, agents[first]), call, "transfer",
                                           target_kind="agent", target="PJSIP/agent1002", attended=attended)
    return held, request
