"""The rules in services.calltrack and services.agents, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from callcenter.db import utcnow
from callcenter.models import AgentState, AgentStatus, Call, CallbackTask, CallStatus, Role, User
from callcenter.services.calls import calltrack
from callcenter.services.people import agents
from callcenter.services.people.agents import MemberFact

DUE = dt.timedelta(hours=2)
REF = calltrack.CallerRef(uniqueid="100.1", linkedid="100.1", channel="PJSIP/caller-00000001",
                          caller_number="13800138000", caller_name="张三", dialled_number="4008001000")


@pytest.fixture
def agent_id(session) -> int:
    user = User(username="a1", password_hash="!", role=Role.AGENT, default_interface="PJSIP/agent1001")
    session.add(user)
    session.flush()
    return user.id


def state(session, user_id: int) -> tuple[AgentStatus, str | None, str]:
    st = session.get(AgentState, user_id)
    return st.status, st.pause_reason, st.queues


def member(paused: bool | None = False, device: int = 1, reason: str = "", queue: str = "vip", **kw) -> MemberFact:
    return MemberFact(interface="PJSIP/agent1001", queue=queue, member_name="A", device_status=device,
                      paused=paused, reason=reason, **kw)


# --- calls ------------------------------------------------------------------------------------
def test_status_never_moves_back(session):
    at = utcnow()
    calltrack.caller_joined(session, REF, queue="vip", at=at)
    calltrack.agent_called(session, REF, dest_uniqueid="100.2", interface="PJSIP/agent1001", member_name="A",
                           queue="vip", at=at)
    calltrack.agent_connected(session, REF, dest_uniqueid="100.2", interface="PJSIP/agent1001", member_name="A",
                              queue="vip", hold_s=4, ring_s=1, at=at)
    calltrack.agent_completed(session, REF, dest_uniqueid="100.2", interface="PJSIP/agent1001", member_name="A",
                              queue="vip", hold_s=4, talk_s=30, reason="agent", at=at)
    late = calltrack.caller_joined(session, REF, queue="vip", at=at + dt.timedelta(seconds=5))
    assert late.changed is False
    call = late.call
    assert call.status == CallStatus.COMPLETED and call.queued_at == at
    assert (call.wait_seconds, call.talk_seconds, call.hangup_side) == (4, 30, "agent")


def test_ring_no_answer_puts_the_caller_back_in_the_queue(session):
    at = utcnow()
    calltrack.caller_joined(session, REF, queue="general_q", at=at)
    calltrack.agent_called(session, REF, dest_uniqueid="100.2", interface="PJSIP/agent1002", member_name="B",
                           queue="general_q", at=at)
    assert session.scalar(select(Call)).status == CallStatus.RINGING
    change = calltrack.agent_ring_no_answer(session, REF, dest_uniqueid="100.2", interface="PJSIP/agent1002",
                                            member_name="B", queue="general_q", ring_ms=15000, at=at)
    assert change.call.status == CallStatus.QUEUED
    assert (change.leg.outcome, change.leg.ring_ms) == ("ringnoanswer", 15000)
    # The DialEnd NOANSWER/CANCEL that follow do not overwrite the outcome.
    again = calltrack.dial_ended(session, caller_uniqueid="100.1", dest_uniqueid="100.2", dial_status="CANCEL", at=at)
    assert again.changed is False and again.leg.outcome == "ringnoanswer"
    assert calltrack.dial_ended(session, caller_uniqueid="100.1", dest_uniqueid="nope", dial_status="CANCEL",
                                at=at).leg is None
    assert calltrack.dial_ended(session, caller_uniqueid="999.9", dest_uniqueid="100.2", dial_status="CANCEL",
                                at=at) is None


def test_hangup_while_waiting_without_abandon_event_still_gets_one_callback(session):
    at = utcnow()
    calltrack.caller_joined(session, REF, queue="vip", at=at)
    first = calltrack.channel_hung_up(session, uniqueid="100.1", cause="16", cause_txt="Normal Clearing", at=at,
                                      callback_due=DUE)
    second = calltrack.channel_hung_up(session, uniqueid="100.1", cause="16", cause_txt="Normal Clearing", at=at,
                                       callback_due=DUE)
    assert first.callback is not None and second.changed is False
    assert first.call.status == CallStatus.ABANDONED and first.call.abandoned
    assert session.scalar(select(func.count()).select_from(CallbackTask)) == 1
    assert session.scalar(select(CallbackTask)).due_at == session.scalar(select(CallbackTask)).created_at + DUE


def test_abandon_after_answer_is_not_an_abandon(session):
    at = utcnow()
    calltrack.agent_connected(session, REF, dest_uniqueid="100.2", interface="PJSIP/agent1001", member_name="A",
                              queue="vip", hold_s=1, ring_s=1, at=at)
    change = calltrack.caller_abandoned(session, REF, queue="vip", hold_s=1, side="caller", at=at, callback_due=DUE)
    assert change.call.abandoned is False and change.callback is None
    assert change.call.status == CallStatus.ANSWERED


def test_queue_on_another_channel_of_the_same_call_finds_the_row_by_linkedid(session):
    at = utcnow()
    session.add(Call(uniqueid="100.1", linkedid="100.1", status=CallStatus.ROUTED, queue="vip", ivr_path=[]))
    session.flush()
    local = calltrack.CallerRef(uniqueid="100.7", linkedid="100.1", channel="Local/q@queues-00000001;2")
    change = calltrack.caller_joined(session, local, queue="vip", at=at)
    assert change.created is False and change.call.uniqueid == "100.1"
    assert session.scalar(select(func.count()).select_from(Call)) == 1


def test_minimal_row_for_an_unknown_call(session):
    change = calltrack.caller_abandoned(session, REF, queue="vip", hold_s=7, side="queue_timeout", at=utcnow(),
                                        callback_due=DUE)
    call = change.call
    assert change.created and call.route_reason == "ami_only"
    assert (call.caller_number, call.caller_name, call.dialled_number, call.channel) == (
        "13800138000", "张三", "4008001000", "PJSIP/caller-00000001")
    assert (call.wait_seconds, call.hangup_side, call.status) == (7, "queue_timeout", CallStatus.ABANDONED)
    assert change.callback.number == "+8613800138000"  # kept as E.164: one task per number


@pytest.mark.parametrize("status, final, callback", [
    # Routed to a queue and gone: the QueueCallerJoin was lost in the outage — call back.
    (CallStatus.ROUTED, CallStatus.ABANDONED, True),
    (CallStatus.QUEUED, CallStatus.ABANDONED, True),
    (CallStatus.RINGING, CallStatus.ABANDONED, True),
    (CallStatus.ANSWERED, CallStatus.COMPLETED, False),
    (CallStatus.COMPLETED, CallStatus.COMPLETED, False),
])
def test_close_lost_call(session, status, final, callback):
    call = Call(uniqueid="100.1", linkedid="100.1", status=status, caller_number="138", ivr_path=[],
                started_at=utcnow() - dt.timedelta(minutes=1))
    session.add(call)
    session.flush()
    now = utcnow()
    assert calltrack.open_calls(session, started_before=now) == [call]
    change = calltrack.close_lost_call(session, call, at=now, callback_due=DUE)
    assert (call.status, call.ended_at, call.hangup_cause) == (final, now, "lost_during_ami_outage")
    assert (change.callback is not None) == callback
    assert calltrack.open_calls(session, started_before=now + dt.timedelta(seconds=1)) == []


# --- agents -------------------------------------------------------------------------------------
def test_agent_row_is_made_for_the_default_interface(session, agent_id):
    assert session.get(AgentState, agent_id) is None
    update = agents.member_reported(session, member(), "status")
    assert (update.user_id, update.status, update.queues) == (agent_id, AgentStatus.READY, ["vip"])
    assert agents.user_id_for_interface(session, "PJSIP/agent1001") == agent_id
    assert agents.member_reported(session, MemberFact(interface="PJSIP/nobody", queue="vip"), "status").user_id is None


def test_agent_signed_in_at_another_phone_is_not_moved_by_this_one(session, agent_id):
    session.add(AgentState(user_id=agent_id, interface="PJSIP/desk7", status=AgentStatus.READY, queues=""))
    session.flush()
    update = agents.member_reported(session, member(paused=True, reason="x"), "pause")
    assert update.user_id is None
    assert state(session, agent_id) == (AgentStatus.READY, None, "")


def test_call_cycle_with_wrap_up(session, agent_id):
    agents.member_reported(session, member(), "status")
    assert agents.agent_ringing(session, "PJSIP/agent1001", "L1").status == AgentStatus.RINGING
    assert agents.member_reported(session, member(device=6), "status").status == AgentStatus.RINGING
    assert agents.agent_answered(session, "PJSIP/agent1001", "L1").status == AgentStatus.ON_CALL
    assert agents.agent_finished(session, "PJSIP/agent1001", "L1").status == AgentStatus.WRAP_UP
    # "not in use" right after the call does not end wrap-up ...
    assert agents.member_reported(session, member(device=1), "status").status == AgentStatus.WRAP_UP
    assert session.get(AgentState, agent_id).current_linkedid == "L1"
    # ... the agent's unpause ("ready") does.
    update = agents.member_reported(session, member(paused=False), "pause")
    assert (update.status, update.linkedid) == (AgentStatus.READY, "")


def test_next_offer_and_timer_end_wrap_up(session, agent_id):
    agents.member_reported(session, member(), "status")
    agents.agent_answered(session, "PJSIP/agent1001", "L1")
    agents.agent_finished(session, "PJSIP/agent1001", "L1")
    assert agents.agent_ringing(session, "PJSIP/agent1001", "L2").status == AgentStatus.RINGING
    agents.agent_answered(session, "PJSIP/agent1001", "L2")
    agents.agent_finished(session, "PJSIP/agent1001", "L2")
    assert agents.end_wrap_up(session, "PJSIP/agent1001").status == AgentStatus.READY
    assert agents.end_wrap_up(session, "PJSIP/agent1001").changed is False


def test_pause_during_a_call_shows_after_it(session, agent_id):
    agents.member_reported(session, member(), "status")
    agents.agent_answered(session, "PJSIP/agent1001", "L1")
    assert agents.member_reported(session, member(paused=True, reason="午休", device=2, in_call=True),
                                  "pause").status == AgentStatus.ON_CALL
    assert agents.agent_finished(session, "PJSIP/agent1001", "L1").status == AgentStatus.PAUSED
    assert state(session, agent_id) == (AgentStatus.PAUSED, "午休", "vip")


def test_autopause_while_ringing(session, agent_id):
    """3c: QueueMemberPause arrives with Status 6, then Status 1 Paused 1."""
    agents.member_reported(session, member(), "status")
    agents.agent_ringing(session, "PJSIP/agent1001", "L1")
    assert agents.ring_ended(session, "PJSIP/agent1001", "other").changed is False
    agents.member_reported(session, member(paused=True, reason="Auto-Pause", device=6), "pause")
    assert agents.ring_ended(session, "PJSIP/agent1001", "L1").status == AgentStatus.PAUSED
    assert agents.member_reported(session, member(paused=True, reason="Auto-Pause"), "status").status == \
        AgentStatus.PAUSED


def test_offline_when_unreachable_or_in_no_queue(session, agent_id):
    agents.member_reported(session, member(queue="vip"), "added")
    agents.member_reported(session, member(queue="general_q"), "added")
    assert agents.member_reported(session, member(queue="vip"), "removed").status == AgentStatus.READY
    assert agents.member_reported(session, member(device=5, queue="general_q"), "status").status == AgentStatus.OFFLINE
    assert agents.member_reported(session, member(queue="general_q"), "status").status == AgentStatus.READY
    update = agents.member_reported(session, member(queue="general_q"), "removed")
    assert (update.status, update.queues) == (AgentStatus.OFFLINE, [])


def test_sync_members_after_a_reconnect(session, agent_id):
    other = User(username="a2", password_hash="!", role=Role.AGENT, default_interface="PJSIP/agent1002")
    session.add(other)
    session.flush()
    agents.member_reported(session, MemberFact(interface="PJSIP/agent1002", queue="vip", paused=False,
                                               device_status=1), "status")
    facts = [member(paused=True, reason="开会", queue="vip"), member(paused=False, queue="general_q")]
    [update, stale] = agents.sync_members(session, facts)
    # Paused in one queue only: still takes calls from the other.
    assert (update.status, update.queues) == (AgentStatus.READY, ["vip", "general_q"])
    assert (stale.user_id, stale.status) == (other.id, AgentStatus.OFFLINE)
    [update] = agents.sync_members(session, [member(paused=True, reason="开会", queue="vip"),
                                                member(paused=True, reason="开会", queue="general_q")])
    assert (update.status, update.pause_reason) == (AgentStatus.PAUSED, "开会")


def test_the_console_and_the_listener_creating_an_agents_row_at_once_both_get_it(db_url):
    """An agent choosing their phone (console.state_for) while the AMI listener reports the
    member at that agent's default phone (agents.state_for_interface): both find no state
    row and insert one. The insert that loses the race reads the winner's row instead of
    failing (seen as a 500 on the console's "sit at phone" under a loaded PostgreSQL)."""
    import threading
    import time

    from callcenter.db import session_scope
    from callcenter.services.people import console

    with session_scope(db_url) as s:
        user = User(username="race", password_hash="!", role=Role.AGENT, default_interface="PJSIP/agent1009")
        s.add(user)
        s.flush()
        user_id = user.id
    outcome = {}

    def console_sits_down() -> None:
        try:
            with session_scope(db_url) as s:
                state = console.state_for(s, s.get(User, user_id))
                outcome["console"] = (state.user_id, state.interface)
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            outcome["console"] = exc

    with session_scope(db_url) as listener:
        created = agents.state_for_interface(listener, "PJSIP/agent1009")
        listener.flush()                                  # the row is written, not committed
        thread = threading.Thread(target=console_sits_down)
        thread.start()
        time.sleep(0.5)                                   # the console's insert waits on the listener's
        assert created.user_id == user_id
    thread.join(20)
    assert outcome["console"] == (user_id, "PJSIP/agent1009"), outcome["console"]
    with session_scope(db_url) as s:
        assert s.scalar(select(func.count()).select_from(AgentState).where(AgentState.user_id == user_id)) == 1
