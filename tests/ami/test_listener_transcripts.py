"""The listener against the emulator replaying every real AMI capture (SQLite and PostgreSQL)."""

from __future__ import annotations

from sqlalchemy import func, select

from callcenter.db import session_scope
from callcenter.models import AgentState, AgentStatus, Call, CallAgentLeg, CallbackReason, CallbackTask, CallStatus
from callcenter.simulation.ami.replay import Recording

from .conftest import bus_messages, routed_call, status_of, transcript, wait_until

REC_3A1 = "/var/spool/asterisk/monitor/q-1795344550.26.wav"


def _call(db_url: str, uniqueid: str) -> Call:
    with session_scope(db_url) as s:
        call = s.scalar(select(Call).where(Call.uniqueid == uniqueid))
        assert call is not None, f"no call row for {uniqueid}"
        legs = list(s.scalars(select(CallAgentLeg).where(CallAgentLeg.call_id == call.id).order_by(CallAgentLeg.id)))
        s.expunge_all()
        call.__dict__["_legs"] = legs
        return call


def _legs(call: Call) -> list[tuple[str, str, str, int | None]]:
    return [(leg.dest_uniqueid, leg.interface, leg.outcome, leg.ring_ms) for leg in call.__dict__["_legs"]]


def _callbacks(db_url: str) -> list[tuple[int | None, str, CallbackReason]]:
    with session_scope(db_url) as s:
        return [(t.call_id, t.number, t.reason) for t in s.scalars(select(CallbackTask).order_by(CallbackTask.id))]


def _replay(emulator, listener, name: str, **kwargs) -> int:
    sent = emulator.replay(transcript(name), **kwargs)
    assert listener.sync(15)
    return sent


def test_3a1_answered_caller_hangs_up(emulator, agents, listener, ami_settings, agent_feed):
    db = ami_settings.database_url
    call_id = routed_call(db, uniqueid="1795344550.26", queue="vip")
    _replay(emulator, listener, "3a1_queue_answered_caller_hangs_up")

    call = _call(db, "1795344550.26")
    assert call.id == call_id, "the AGI row is completed, not duplicated"
    assert call.status == CallStatus.COMPLETED
    assert call.queue == "vip" and call.priority == 10 and call.route_reason == "vip_customer"
    assert call.channel == "PJSIP/caller-0000000d"
    assert call.queued_at is not None and call.answered_at is not None and call.ended_at is not None
    assert call.queued_at <= call.answered_at <= call.ended_at
    assert call.answered_by_interface == "PJSIP/agent1001"
    assert call.answered_by_user_id == agents["PJSIP/agent1001"]
    assert (call.wait_seconds, call.talk_seconds) == (2, 13)
    assert call.hangup_side == "caller"
    assert call.hangup_cause == "16 Normal Clearing"
    assert call.abandoned is False
    assert call.recording_file == REC_3A1
    assert _legs(call) == [("1795344550.27", "PJSIP/agent1001", "connected", 2000)]
    assert _callbacks(db) == []
    # After AgentComplete the agent wraps up; the "not in use" member status that
    # follows does not end it.
    assert status_of(db, agents["PJSIP/agent1001"]) == (AgentStatus.WRAP_UP, None)

    messages = bus_messages(agent_feed)
    called = [m for m in messages if m["type"] == "agent_called"]
    assert called == [{
        "type": "agent_called", "interface": "PJSIP/agent1001", "linkedid": "1795344550.26",
        "uniqueid": "1795344550.26", "queue": "vip", "caller_number": "13800138000",
        "caller_name": "Test Caller", "member_name": "Agent 1001", "call_id": call_id,
        "pop_key": "pop-1795344550.26", "user_id": agents["PJSIP/agent1001"], "agent_status": "ringing", "dest_uniqueid": "1795344550.27"}]
    kinds = [m["type"] for m in messages if m["type"] != "member_state"]
    assert kinds == ["caller_join", "agent_called", "agent_connect", "agent_complete"]
    join = next(m for m in messages if m["type"] == "caller_join")
    assert join == {"type": "caller_join", "interface": "", "queue": "vip", "linkedid": "1795344550.26",
                    "call_id": call_id}
    complete = next(m for m in messages if m["type"] == "agent_complete")
    assert (complete["talk_time"], complete["hold_time"], complete["reason"]) == (13, 2, "caller")
    states = [m["status"] for m in messages if m["type"] == "member_state" and m["interface"] == "PJSIP/agent1001"]
    assert states[-1] == "wrap_up" and "ringing" in states and "on_call" in states


def test_3a2_answered_agent_hangs_up(emulator, agents, listener, ami_settings):
    db = ami_settings.database_url
    routed_call(db, uniqueid="1795344570.29", queue="vip")
    _replay(emulator, listener, "3a2_queue_answered_agent_hangs_up")
    call = _call(db, "1795344570.29")
    assert call.status == CallStatus.COMPLETED
    assert (call.wait_seconds, call.talk_seconds, call.hangup_side) == (2, 8, "agent")
    assert call.answered_by_user_id == agents["PJSIP/agent1001"]
    assert call.recording_file.endswith("q-1795344570.29.wav")
    assert [leg[2] for leg in _legs(call)] == ["connected"]
    assert call.ended_at is not None and call.abandoned is False


def test_3b1_abandon_with_paused_member_and_no_routing_row(emulator, agents, listener, ami_settings, agent_feed):
    """No AGI row exists (routing failed / call from elsewhere): a minimal row is made."""
    db = ami_settings.database_url
    _replay(emulator, listener, "3b1_abandon_all_members_paused")
    call = _call(db, "1795344586.32")
    assert call.route_reason == "ami_only"
    assert (call.caller_number, call.caller_name, call.dialled_number) == ("13800138000", "Test Caller", "4008002000")
    assert call.queue == "vip" and call.status == CallStatus.ABANDONED and call.abandoned
    assert call.wait_seconds == 6 and call.hangup_side == "caller"
    assert call.answered_at is None and call.ended_at is not None
    assert call.recording_file.endswith("q-1795344586.32.wav")
    assert _legs(call) == []
    assert _callbacks(db) == [(call.id, "+8613800138000", CallbackReason.ABANDONED)]
    # Paused "break" during the wait, unpaused at the end of the capture.
    pauses = [(m["paused"], m["reason"]) for m in bus_messages(agent_feed)
              if m["type"] == "member_state" and m.get("event") == "QueueMemberPause"]
    assert pauses == [(True, "break"), (False, "")]
    assert status_of(db, agents["PJSIP/agent1001"]) == (AgentStatus.READY, None)


def test_3b2_abandon_while_agent_ringing(emulator, agents, listener, ami_settings, agent_feed):
    db = ami_settings.database_url
    routed_call(db, uniqueid="1795344598.34", queue="general_q")
    _replay(emulator, listener, "3b2_abandon_while_agent_ringing")
    call = _call(db, "1795344598.34")
    assert call.status == CallStatus.ABANDONED and call.abandoned
    assert call.wait_seconds == 3 and call.hangup_side == "caller"
    # No AgentRingNoAnswer here: the DialEnd CANCEL closes the leg.
    [(dest, interface, outcome, ring_ms)] = _legs(call)
    assert (dest, interface, outcome) == ("1795344598.35", "PJSIP/agent1002", "cancelled")
    assert ring_ms is not None and ring_ms >= 0
    assert _callbacks(db) == [(call.id, "+8613800138000", CallbackReason.ABANDONED)]
    assert status_of(db, agents["PJSIP/agent1002"]) == (AgentStatus.READY, None)
    abandon = [m for m in bus_messages(agent_feed) if m["type"] == "caller_abandon"]
    assert len(abandon) == 1 and abandon[0]["linkedid"] == "1795344598.34" and abandon[0]["hold_time"] == 3


def test_3c_ring_no_answer_autopause_and_queue_timeout(emulator, agents, listener, ami_settings, agent_feed):
    db = ami_settings.database_url
    routed_call(db, uniqueid="1795344607.37", queue="general_q")
    _replay(emulator, listener, "3c_ringnoanswer_autopause_timeout")
    call = _call(db, "1795344607.37")
    assert call.status == CallStatus.ABANDONED and call.abandoned
    assert call.wait_seconds == 12
    # Asterisk reports the timeout as QueueCallerAbandon; no hangup request preceded it.
    assert call.hangup_side == "queue_timeout"
    assert _legs(call) == [("1795344607.38", "PJSIP/agent1002", "ringnoanswer", 4000)]
    assert _callbacks(db) == [(call.id, "+8613800138000", CallbackReason.ABANDONED)]
    messages = bus_messages(agent_feed)
    rna = [m for m in messages if m["type"] == "ring_no_answer"]
    assert len(rna) == 1 and rna[0]["ring_ms"] == 4000
    statuses = [(m["status"], m["reason"]) for m in messages
                if m["type"] == "member_state" and m["interface"] == "PJSIP/agent1002"]
    assert ("paused", "Auto-Pause") in statuses
    # The capture unpauses the member at the end.
    assert status_of(db, agents["PJSIP/agent1002"]) == (AgentStatus.READY, None)


def test_3d2_member_added_paused_removed_and_originate_noise(emulator, agents, listener, ami_settings):
    db = ami_settings.database_url
    _replay(emulator, listener, "3d2_actions_originate_hangup")
    # Added, paused "lunch", unpaused, removed: a member of no queue is offline.
    assert status_of(db, agents["PJSIP/agent1003"]) == (AgentStatus.OFFLINE, None)
    with session_scope(db) as s:
        # Originated survey calls, busy and unanswered dials are not queue calls.
        assert s.scalar(select(func.count()).select_from(Call)) == 0
        assert s.scalar(select(func.count()).select_from(CallbackTask)) == 0


def test_3d2_member_pause_state_midway(emulator, agents, listener, ami_settings):
    """Stop the 3d2 stream right after the pause: the agent is paused with the reason."""
    db = ami_settings.database_url
    rec = Recording.load(transcript("3d2_actions_originate_hangup"))
    items = rec.segments[0].events(skip_login_echo=True)
    upto = next(i for i, r in enumerate(items) if r.message.event == "QueueMemberPause") + 1
    emulator.play([r.message for r in items[:upto]])
    assert listener.sync(10)
    assert status_of(db, agents["PJSIP/agent1003"]) == (AgentStatus.PAUSED, "lunch")
    with session_scope(db) as s:
        assert s.get(AgentState, agents["PJSIP/agent1003"]).queues == "general_q"


def test_3e1_restart_idle(emulator, agents, listener, ami_settings):
    before = listener.stats.reconciles
    _replay(emulator, listener, "3e1_restart_idle", down_s=0.3)
    assert listener.listener.client.stats.logins == 2
    assert listener.listener.client.shutdown_seen is None  # the new connection saw none yet
    wait_until(lambda: listener.stats.reconciles >= before + 1, what="reconciliation after restart")
    assert listener.sync(10)
    with session_scope(ami_settings.database_url) as s:
        assert s.scalar(select(func.count()).select_from(Call)) == 0
    # Static members came back from queues.conf: both agents are ready.
    assert status_of(ami_settings.database_url, agents["PJSIP/agent1001"]) == (AgentStatus.READY, None)
    assert status_of(ami_settings.database_url, agents["PJSIP/agent1002"]) == (AgentStatus.READY, None)


def test_3e2_restart_with_call_in_queue(emulator, agents, listener, ami_settings, agent_feed):
    db = ami_settings.database_url
    routed_call(db, uniqueid="1795344656.0", queue="vip")
    before = listener.stats.reconciles
    _replay(emulator, listener, "3e2_restart_with_call_in_queue", down_s=0.3)
    wait_until(lambda: listener.stats.reconciles >= before + 1, what="reconciliation after restart")
    assert listener.sync(10)
    call = _call(db, "1795344656.0")
    # Asterisk hung the caller up before its Shutdown event: the abandon arrived live.
    assert call.status == CallStatus.ABANDONED and call.abandoned
    assert call.hangup_side == "system" and call.wait_seconds == 1
    assert call.hangup_cause == "0 Unknown"
    assert _callbacks(db) == [(call.id, "+8613800138000", CallbackReason.ABANDONED)]
    # The pause set before the restart is gone in the new Asterisk; reconciliation
    # refreshed the agent from QueueStatus.
    messages = bus_messages(agent_feed)
    assert any(m["type"] == "member_state" and m["reason"] == "restart-test" for m in messages)
    assert status_of(db, agents["PJSIP/agent1001"]) == (AgentStatus.READY, None)
