"""Listener behaviour beyond the plain captures: duplicates, unknown calls, malformed
events, reconciliation after an outage, panel actions, wrap-up, a stuck bus."""

from __future__ import annotations

import logging
import threading
from typing import Any

import pytest
from sqlalchemy import select

from callcenter.ami.protocol import Message, build_message
from callcenter.bus.core import InProcessBus
from callcenter.db import session_scope
from callcenter.models import (
    AgentState,
    AgentStatus,
    Call,
    CallAgentLeg,
    CallbackMiss,
    CallbackReason,
    CallbackTask,
    CallStatus,
)
from callcenter.simulation.ami.replay import Recording

from .conftest import bus_messages, routed_call, status_of, transcript, wait_until


def rows(db: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every column of every row the listener writes (calls, legs, callbacks, agents)."""
    def dump(model: Any, order: Any) -> list[tuple[Any, ...]]:
        cols = [c.key for c in model.__table__.columns if c.key != "updated_at"]
        return [tuple(getattr(r, c) for c in cols) for r in s.scalars(select(model).order_by(order))]

    with session_scope(db) as s:
        return {"calls": dump(Call, Call.id), "legs": dump(CallAgentLeg, CallAgentLeg.id),
                "callbacks": dump(CallbackTask, CallbackTask.id), "agents": dump(AgentState, AgentState.user_id),
                "misses": dump(CallbackMiss, CallbackMiss.id)}


def events_of(name: str) -> list[Message]:
    return [r.message for r in Recording.load(transcript(name)).segments[0].events(skip_login_echo=True)]


def split(messages: list[Message], event: str, *, after: bool = True, nth: int = 1) -> tuple[list, list]:
    count = 0
    for i, m in enumerate(messages):
        if m.event == event:
            count += 1
            if count == nth:
                cut = i + 1 if after else i
                return messages[:cut], messages[cut:]
    raise AssertionError(f"no {event} #{nth}")


def call_row(db: str, uniqueid: str) -> Call:
    with session_scope(db) as s:
        call = s.scalar(select(Call).where(Call.uniqueid == uniqueid))
        assert call is not None
        s.expunge(call)
        return call


def callbacks(db: str) -> list[CallbackTask]:
    with session_scope(db) as s:
        tasks = list(s.scalars(select(CallbackTask).order_by(CallbackTask.id)))
        s.expunge_all()
        return tasks


# --- idempotency -------------------------------------------------------------------------------
def test_the_same_stream_twice_writes_nothing_new(emulator, agents, listener, ami_settings, agent_feed):
    db = ami_settings.database_url
    routed_call(db, uniqueid="1795344550.26", queue="vip")
    for name in ("3a1_queue_answered_caller_hangs_up", "3b1_abandon_all_members_paused",
                 "3c_ringnoanswer_autopause_timeout"):
        emulator.replay(transcript(name))
    assert listener.sync(15)
    first = rows(db)
    first_feed = [m["type"] for m in bus_messages(agent_feed) if m["type"] != "member_state"]
    for name in ("3a1_queue_answered_caller_hangs_up", "3b1_abandon_all_members_paused",
                 "3c_ringnoanswer_autopause_timeout"):
        emulator.replay(transcript(name))
    assert listener.sync(15)
    assert rows(db) == first
    # 3b1 and 3c: two missed calls of one number, one open task (回电) that counts both.
    assert len(first["callbacks"]) == 1 and len(first["misses"]) == 2
    with session_scope(db) as s:
        assert s.scalars(select(CallbackTask)).one().miss_count == 2
    assert len(first["calls"]) == 3 and len(first["legs"]) == 2
    # A repeated fact is not announced again (no second screen-pop).
    assert first_feed.count("agent_called") == 2
    assert [m["type"] for m in bus_messages(agent_feed) if m["type"] != "member_state"] == []


def test_every_event_delivered_twice_in_a_row(emulator, agents, listener, ami_settings):
    db = ami_settings.database_url
    doubled = [m for m in events_of("3b2_abandon_while_agent_ringing") for _ in (0, 1)]
    emulator.play(doubled)
    assert listener.sync(15)
    call = call_row(db, "1795344598.34")
    assert call.status == CallStatus.ABANDONED and call.wait_seconds == 3
    assert [t.call_id for t in callbacks(db)] == [call.id]


# --- calls without a routing row -----------------------------------------------------------------------
def test_listener_started_mid_call(emulator, agents, listener, ami_settings, agent_feed):
    """The stream starts at AgentConnect: join, ringing and the routing row were missed."""
    db = ami_settings.database_url
    _, rest = split(events_of("3a1_queue_answered_caller_hangs_up"), "AgentConnect", after=False)
    emulator.play(rest)
    assert listener.sync(15)
    call = call_row(db, "1795344550.26")
    assert call.route_reason == "ami_only" and call.status == CallStatus.COMPLETED
    assert (call.queue, call.wait_seconds, call.talk_seconds, call.hangup_side) == ("vip", 2, 13, "caller")
    assert call.answered_by_user_id == agents["PJSIP/agent1001"] and call.ended_at is not None
    assert call.queued_at is not None and call.queued_at <= call.answered_at
    with session_scope(db) as s:
        legs = [(leg.outcome, leg.ring_ms) for leg in s.scalars(select(CallAgentLeg))]
    assert legs == [("connected", 2000)]
    # No recording: its VarSet came before the listener was there.
    assert call.recording_file == ""


def test_channels_that_are_not_queue_calls_make_no_rows(emulator, agents, listener, ami_settings):
    """Hangups, dials and Cdrs of channels with no call row (agent legs, originated
    survey calls) are ignored, not turned into calls."""
    events = [m for m in events_of("3a1_queue_answered_caller_hangs_up")
              if m.event in ("Hangup", "DialEnd", "Cdr", "HangupRequest", "SoftHangupRequest", "MixMonitorStart")]
    emulator.play(events)
    assert listener.sync(15)
    assert rows(ami_settings.database_url)["calls"] == []


def test_project_ami_user_without_dialplan_events(emulator, agents, listener, ami_settings):
    """asterisk_conf/manager.conf reads system,call,agent,cdr: no VarSet events. The
    recording then comes from the Cdr field cdr_manager.conf maps (RECORDING_FILE), and
    the queue timeout is still told from the missing hangup request."""
    db = ami_settings.database_url
    routed_call(db, uniqueid="1795344550.26", queue="vip")
    stream = []
    for m in events_of("3a1_queue_answered_caller_hangs_up"):
        if m.event == "VarSet":
            continue
        if m.event == "Cdr":
            m = Message([*m.fields, ("RECORDING_FILE", "calls/2026/11/22/1795344550.26.wav")])
        stream.append(m)
    emulator.play(stream)
    emulator.play([m for m in events_of("3c_ringnoanswer_autopause_timeout") if m.event != "VarSet"])
    assert listener.sync(10)
    assert call_row(db, "1795344550.26").recording_file == "calls/2026/11/22/1795344550.26.wav"
    timeout = call_row(db, "1795344607.37")
    assert (timeout.abandoned, timeout.hangup_side, timeout.recording_file) == (True, "queue_timeout", "")


def test_one_callback_per_call_when_after_hours_filed_first(emulator, agents, listener, ami_settings):
    """The after-hours route took a message before the listener saw the abandon: that
    open task is the call's task, no second one is made."""
    from callcenter.services.calls.callbacks import create_callback

    db = ami_settings.database_url
    call_id = routed_call(db, uniqueid="1795344607.37", queue="general_q")
    with session_scope(db) as s:
        create_callback(s, number="+8613800138000", reason=CallbackReason.VOICEMAIL, call_id=call_id,
                        message_file="messages/2026/11/22/x.wav")
    emulator.replay(transcript("3c_ringnoanswer_autopause_timeout"))
    assert listener.sync(10)
    assert [(t.call_id, t.reason) for t in callbacks(db)] == [(call_id, CallbackReason.VOICEMAIL)]
    assert call_row(db, "1795344607.37").abandoned


# --- bad input -------------------------------------------------------------------------------------------------
def test_malformed_events_are_logged_and_skipped(emulator, agents, listener, ami_settings, caplog):
    caplog.set_level(logging.WARNING)
    db = ami_settings.database_url
    called = next(m for m in events_of("3a1_queue_answered_caller_hangs_up") if m.event == "AgentCalled")
    no_dest = Message([(k, v) for k, v in called.fields if k != "DestUniqueid"])
    connect = next(m for m in events_of("3a1_queue_answered_caller_hangs_up") if m.event == "AgentConnect")
    bad_hold = Message([(k, "soon" if k == "HoldTime" else v) for k, v in connect.fields])
    no_uniqueid = build_message([("Event", "QueueCallerAbandon"), ("Privilege", "agent,all"), ("Queue", "vip"),
                                 ("HoldTime", "3")])

    def garbage() -> None:
        for session in emulator.emulator.sessions:
            session.write(b"Event: AgentCalled\r\nQueue vip without colon\r\n\r\n")

    emulator.play([no_dest, bad_hold, no_uniqueid])
    emulator.call(garbage)
    emulator.replay(transcript("3b2_abandon_while_agent_ringing"))
    assert listener.sync(15)
    assert listener.stats.malformed == 3
    assert listener.listener.client.stats.malformed == 1
    assert listener.stats.failed == 0
    # The stream after the bad messages was applied normally.
    assert call_row(db, "1795344598.34").status == CallStatus.ABANDONED
    assert "1795344550.26" not in {c[1] for c in rows(db)["calls"]}
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "AgentCalled without DestUniqueid" in text
    assert "AgentConnect without a numeric HoldTime ('soon')" in text
    assert "QueueCallerAbandon without Uniqueid" in text


# --- reconciliation -----------------------------------------------------------------------------------------------
def test_call_that_ended_during_an_outage_is_closed_with_a_callback(emulator, agents, listener, ami_settings,
                                                                     agent_feed):
    db = ami_settings.database_url
    routed_call(db, uniqueid="1795344656.0", queue="vip")
    before, rest = split(events_of("3e2_restart_with_call_in_queue"), "QueueCallerJoin")
    meanwhile, _ = split(rest, "Shutdown", after=False)
    emulator.play(before)
    assert listener.sync(10)
    assert call_row(db, "1795344656.0").status == CallStatus.QUEUED
    reconciles = listener.stats.reconciles
    emulator.drop_connections(0.2, meanwhile)
    wait_until(lambda: listener.stats.reconciles > reconciles, what="reconciliation")
    assert listener.sync(10)
    call = call_row(db, "1795344656.0")
    assert call.ended_at is not None and call.hangup_cause == "lost_during_ami_outage"
    assert call.status == CallStatus.ABANDONED and call.abandoned
    [task] = callbacks(db)
    assert (task.call_id, task.reason, task.number) == (call.id, CallbackReason.ABANDONED, "+8613800138000")
    assert "AMI connection was down" in task.notes
    lost = [m for m in bus_messages(agent_feed) if m["type"] == "caller_abandon"]
    assert len(lost) == 1 and lost[0]["lost"] is True and lost[0]["callback_task_id"] == task.id
    assert listener.stats.last_reconcile["closed"] == 1


def test_live_call_stays_open_across_an_outage(emulator, agents, listener, ami_settings):
    db = ami_settings.database_url
    routed_call(db, uniqueid="1795344550.26", queue="vip")
    before, rest = split(events_of("3a1_queue_answered_caller_hangs_up"), "BridgeEnter", nth=2)
    emulator.play(before)
    reconciles = listener.stats.reconciles
    emulator.drop_connections(0.2)
    wait_until(lambda: listener.stats.reconciles > reconciles, what="reconciliation")
    assert listener.sync(10)
    call = call_row(db, "1795344550.26")
    assert call.status == CallStatus.ANSWERED and call.ended_at is None and call.hangup_cause == ""
    assert listener.stats.last_reconcile == {"kept": 1, "closed": 0, "answered": 0, "agents": 2}
    emulator.play(rest)
    assert listener.sync(10)
    call = call_row(db, "1795344550.26")
    assert call.status == CallStatus.COMPLETED and call.talk_seconds == 13 and call.ended_at is not None
    assert callbacks(db) == []


def test_call_answered_during_an_outage_is_marked_answered(emulator, agents, listener, ami_settings):
    db = ami_settings.database_url
    routed_call(db, uniqueid="1795344550.26", queue="vip")
    before, rest = split(events_of("3a1_queue_answered_caller_hangs_up"), "AgentCalled")
    meanwhile, after = split(rest, "BridgeEnter", nth=2)
    emulator.play(before)
    reconciles = listener.stats.reconciles
    emulator.drop_connections(0.2, meanwhile)
    wait_until(lambda: listener.stats.reconciles > reconciles, what="reconciliation")
    assert listener.sync(10)
    call = call_row(db, "1795344550.26")
    assert call.status == CallStatus.ANSWERED and call.ended_at is None
    assert call.answered_by_interface == "PJSIP/agent1001"
    assert call.answered_by_user_id == agents["PJSIP/agent1001"]
    # The agent is on the call: the member list says so (InCall 1, in use).
    assert status_of(db, agents["PJSIP/agent1001"]) == (AgentStatus.ON_CALL, None)
    emulator.play(after)
    assert listener.sync(10)
    call = call_row(db, "1795344550.26")
    assert (call.status, call.talk_seconds, call.wait_seconds) == (CallStatus.COMPLETED, 13, 2)


def test_pause_set_during_an_outage_is_picked_up(emulator, agents, listener, ami_settings):
    db = ami_settings.database_url
    assert status_of(db, agents["PJSIP/agent1002"]) == (AgentStatus.READY, None)
    pause = emulator.call(lambda: emulator.emulator.member_event(
        "QueueMemberPause", "general_q", "PJSIP/agent1002", paused=1, reason="培训"))
    reconciles = listener.stats.reconciles
    emulator.drop_connections(0.2, [pause])
    wait_until(lambda: listener.stats.reconciles > reconciles, what="reconciliation")
    assert listener.sync(10)
    assert status_of(db, agents["PJSIP/agent1002"]) == (AgentStatus.PAUSED, "培训")


# --- panel requests ------------------------------------------------------------------------------------------------
def _request(bus: InProcessBus, feed, request: dict[str, Any]) -> dict[str, Any]:
    bus.publish("ami.action", request)

    def result() -> dict[str, Any] | None:
        for _, payload in feed.drain():
            if payload.get("type") == "action_result" and payload.get("request_id") == request.get("request_id"):
                return payload
        return None
    return wait_until(result, what=f"result of {request.get('request_id')}")


def test_panel_requests_are_executed_and_answered(emulator, agents, listener, ami_settings, bus, agent_feed):
    db = ami_settings.database_url
    pause = _request(bus, agent_feed, {"action": "QueuePause", "interface": "PJSIP/agent1001", "paused": True,
                                       "reason": "午休", "queue": None, "request_id": "r1", "user_id": 7})
    assert pause == {"type": "action_result", "linkedid": "", "request_id": "r1", "action": "QueuePause",
                     "interface": "PJSIP/agent1001", "queue": "", "user_id": 7, "ok": True,
                     "message": "Interface paused successfully"}
    assert listener.sync(10)
    assert status_of(db, agents["PJSIP/agent1001"]) == (AgentStatus.PAUSED, "午休")
    sent = [a.message for a in emulator.emulator.actions if a.message.action == "QueuePause"]
    assert [(m.get("Interface"), m.get("Paused"), m.get("Reason"), "Queue" in m) for m in sent] == [
        ("PJSIP/agent1001", "true", "午休", False)]

    add = _request(bus, agent_feed, {"action": "QueueAdd", "queue": "general_q", "interface": "PJSIP/agent1003",
                                     "member_name": "坐席1003", "request_id": "r2"})
    again = _request(bus, agent_feed, {"action": "QueueAdd", "queue": "general_q", "interface": "PJSIP/agent1003",
                                       "request_id": "r3"})
    static = _request(bus, agent_feed, {"action": "QueueRemove", "queue": "vip", "interface": "PJSIP/agent1001",
                                        "request_id": "r4"})
    nowhere = _request(bus, agent_feed, {"action": "QueuePause", "interface": "PJSIP/agent9999", "paused": True,
                                         "request_id": "r5"})
    assert (add["ok"], add["message"]) == (True, "Added interface to queue")
    assert (again["ok"], again["message"]) == (False, "Unable to add interface: Already there")
    assert (static["ok"], static["message"]) == (False, "Member not dynamic")
    assert (nowhere["ok"], nowhere["message"]) == (False, "Interface not found")
    assert listener.sync(10)
    assert status_of(db, agents["PJSIP/agent1003"]) == (AgentStatus.READY, None)


def test_bad_panel_requests_are_refused_without_reaching_asterisk(emulator, listener, bus, agent_feed):
    before = len(emulator.emulator.actions)
    cases = {
        "b1": {"action": "Hangup", "interface": "PJSIP/agent1001"},
        "b2": {"action": "QueuePause", "interface": "PJSIP/agent1001"},
        "b3": {"action": "QueuePause", "interface": "agent1001", "paused": True},
        "b4": {"action": "QueuePause", "interface": "PJSIP/agent1001", "paused": True, "reason": "x\r\nAction: Hangup"},
        "b5": {"action": "QueuePause", "interface": "PJSIP/agent1001", "paused": True, "reason": "很" * 30},
        "b6": {"action": "QueueAdd", "interface": "PJSIP/agent1001"},
        "b7": {"action": "QueueAdd", "interface": "PJSIP/agent1001", "queue": "vip", "penalty": -1},
    }
    for request_id, request in cases.items():
        result = _request(bus, agent_feed, {**request, "request_id": request_id})
        assert result["ok"] is False and result["message"].startswith("invalid request: "), result
    pings = sum(1 for a in emulator.emulator.actions[before:] if a.message.action != "Ping")
    assert pings == 0


# --- agent states ------------------------------------------------------------------------------------------------
def _synthetic_answered_call(emulator, *, wrapuptime: int) -> None:
    def scenario() -> None:
        emu = emulator.emulator
        emu.emit(emu.member_event("QueueMemberStatus", "vip", "PJSIP/agent1001", wrapuptime=wrapuptime))
        caller = emu.queue_caller_join(queue="vip", caller="13900139000", caller_name="王五")
        _, agent = emu.agent_called(interface="PJSIP/agent1001", linkedid=caller.linkedid, queue="vip")
        emu.agent_connect(caller, agent, queue="vip", interface="PJSIP/agent1001", hold_s=3, ring_s=1)
        emu.agent_complete(caller, agent, queue="vip", interface="PJSIP/agent1001", hold_s=3, talk_s=20,
                           reason="agent")
    emulator.call(scenario)


def test_wrap_up_ends_after_the_queue_wrapuptime(emulator, agents, listener, ami_settings):
    db = ami_settings.database_url
    _synthetic_answered_call(emulator, wrapuptime=1)
    assert listener.sync(10)
    assert status_of(db, agents["PJSIP/agent1001"]) in ((AgentStatus.WRAP_UP, None), (AgentStatus.READY, None))
    wait_until(lambda: status_of(db, agents["PJSIP/agent1001"]) == (AgentStatus.READY, None),
               what="end of wrap-up")
    with session_scope(db) as s:
        call = s.scalar(select(Call))
        assert (call.caller_name, call.talk_seconds, call.hangup_side) == ("王五", 20, "agent")


def test_queue_level_wrapuptime_given_to_the_listener(emulator, agents, start_listener, ami_settings):
    """queues.conf ``wrapuptime=15`` at queue level is in no AMI event (members say 0):
    the listener's ``wrapup_s`` covers it."""
    listener = start_listener(wrapup_s=0.3)
    db = ami_settings.database_url
    _synthetic_answered_call(emulator, wrapuptime=0)
    assert listener.sync(10)
    wait_until(lambda: status_of(db, agents["PJSIP/agent1001"]) == (AgentStatus.READY, None),
               what="end of wrap-up")


def test_ring_all_one_answers_the_other_leg_is_cancelled(emulator, agents, listener, ami_settings, agent_feed):
    """vip rings every member (strategy ringall): one answers, the other phone stops."""
    db = ami_settings.database_url

    def scenario() -> str:
        emu = emulator.emulator
        caller = emu.queue_caller_join(queue="vip", caller="13700137000")
        _, first = emu.agent_called(interface="PJSIP/agent1001", linkedid=caller.linkedid, queue="vip")
        _, second = emu.agent_called(interface="PJSIP/agent1002", linkedid=caller.linkedid, queue="vip")
        emu.dial_end(caller, second, "CANCEL")
        emu.agent_connect(caller, first, queue="vip", interface="PJSIP/agent1001", hold_s=2, ring_s=2)
        return caller.uniqueid

    uniqueid = emulator.call(scenario)
    assert listener.sync(10)
    with session_scope(db) as s:
        call = s.scalar(select(Call).where(Call.uniqueid == uniqueid))
        legs = [(leg.interface, leg.outcome) for leg in s.scalars(
            select(CallAgentLeg).where(CallAgentLeg.call_id == call.id).order_by(CallAgentLeg.id))]
        assert (call.status, call.answered_by_interface) == (CallStatus.ANSWERED, "PJSIP/agent1001")
    assert legs == [("PJSIP/agent1001", "connected"), ("PJSIP/agent1002", "cancelled")]
    assert status_of(db, agents["PJSIP/agent1001"]) == (AgentStatus.ON_CALL, None)
    assert status_of(db, agents["PJSIP/agent1002"]) == (AgentStatus.READY, None)
    pops = [m["interface"] for m in bus_messages(agent_feed) if m["type"] == "agent_called"]
    assert pops == ["PJSIP/agent1001", "PJSIP/agent1002"]


def test_wrap_up_lasts_until_the_agent_is_ready(emulator, agents, listener, ami_settings, bus, agent_feed):
    db = ami_settings.database_url
    _synthetic_answered_call(emulator, wrapuptime=0)
    assert listener.sync(10)
    assert status_of(db, agents["PJSIP/agent1001"]) == (AgentStatus.WRAP_UP, None)
    ready = _request(bus, agent_feed, {"action": "QueuePause", "interface": "PJSIP/agent1001", "paused": False,
                                       "request_id": "ready"})
    assert ready["ok"] is True
    assert listener.sync(10)
    assert status_of(db, agents["PJSIP/agent1001"]) == (AgentStatus.READY, None)


def test_agent_without_panel_user_is_still_announced(emulator, listener, ami_settings, agent_feed):
    emulator.call(lambda: emulator.emulator.emit(emulator.emulator.member_event(
        "QueueMemberPause", "vip", "PJSIP/agent1001", paused=1, reason="break")))
    assert listener.sync(10)
    [state] = [m for m in bus_messages(agent_feed) if m.get("event") == "QueueMemberPause"]
    assert (state["interface"], state["user_id"], state["status"], state["reason"]) == (
        "PJSIP/agent1001", None, None, "break")


def test_demo_calls_played_by_the_emulator(emulator, agents, listener, ami_settings):
    """``play_call`` (used by the demo and the benchmarks) makes calls the listener
    records like real ones."""
    db = ami_settings.database_url
    answered = emulator.play_call(queue="vip", interface="PJSIP/agent1001", caller="13900139000",
                                  caller_name="李四", ring_s=0.01, talk_s=0.01, hangup_by="agent")
    abandoned = emulator.play_call(queue="general_q", interface="PJSIP/agent1002", ring_s=0.01,
                                   outcome="abandoned")
    timeout = emulator.play_call(queue="general_q", ring_s=0.01, outcome="timeout")
    assert listener.sync(10)
    got = {c.uniqueid: c for c in (call_row(db, ch.uniqueid) for ch in (answered, abandoned, timeout))}
    a, b, t = (got[ch.uniqueid] for ch in (answered, abandoned, timeout))
    assert (a.status, a.caller_name, a.hangup_side, a.answered_by_interface) == (
        CallStatus.COMPLETED, "李四", "agent", "PJSIP/agent1001")
    assert a.recording_file == f"/var/spool/asterisk/monitor/q-{answered.uniqueid}.wav"
    assert (b.status, b.hangup_side) == (CallStatus.ABANDONED, "caller")
    assert (t.status, t.hangup_side) == (CallStatus.ABANDONED, "queue_timeout")
    # Both missed calls are filed (one task: the emulator's two callers share a number).
    with session_scope(db) as s:
        assert sorted(s.scalars(select(CallbackMiss.call_id))) == sorted([b.id, t.id])


# --- a stuck bus ---------------------------------------------------------------------------------------------------
class StuckBus(InProcessBus):
    """A bus whose publish blocks (a Redis that stopped answering)."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()
        self.delivered: list[dict[str, Any]] = []

    def publish(self, topic: str, payload: dict[str, Any]) -> None:
        self.release.wait()
        self.delivered.append(payload)
        super().publish(topic, payload)


def test_a_stuck_bus_does_not_stop_the_listener(emulator, agents, ami_settings):
    from callcenter.ami.process import start_listener_thread

    bus = StuckBus()
    handle = start_listener_thread(ami_settings, bus, reconnect_min_s=0.05, reconcile_grace_s=0.0)
    try:
        assert handle.wait_connected(10)
        assert handle.sync(10, bus=False)
        emulator.replay(transcript("3a1_queue_answered_caller_hangs_up"))
        emulator.replay(transcript("3b2_abandon_while_agent_ringing"))
        assert handle.sync(15, bus=False)
        db = ami_settings.database_url
        assert call_row(db, "1795344550.26").status == CallStatus.COMPLETED
        assert call_row(db, "1795344598.34").status == CallStatus.ABANDONED
        assert bus.delivered == []
        bus.release.set()
        wait_until(lambda: any(p["type"] == "caller_abandon" for p in bus.delivered), what="bus delivery")
        # caller_join: the wallboard's "waiting" (no console is concerned by it).
        assert [p["type"] for p in bus.delivered if p["type"] not in ("member_state", "agent_ringing")] == [
            "caller_join", "agent_called", "agent_connect", "agent_complete", "caller_join", "agent_called",
            "caller_abandon"]
        # Each AgentCalled was also announced at once (topic agent.ring), before the
        # tracker recorded it: the console pops without waiting for the record.
        rings = [p for p in bus.delivered if p["type"] == "agent_ringing"]
        assert len(rings) == 2
        assert bus.delivered.index(rings[0]) < [p["type"] for p in bus.delivered].index("agent_called")
    finally:
        bus.release.set()
        handle.stop()


# --- callcenter ami --------------------------------------------------------------------------------------------------
def test_callcenter_ami_runs_and_stops_on_sigterm(emulator, sqlite_url, tmp_path):
    import os
    import signal
    import subprocess
    import sys

    env = {**os.environ, "CALLCENTER_DATABASE_URL": sqlite_url, "CALLCENTER_AMI_HOST": emulator.host,
           "CALLCENTER_AMI_PORT": str(emulator.port), "CALLCENTER_AMI_USERNAME": "callcenter",
           "CALLCENTER_AMI_SECRET": emulator.emulator.secret}
    env.pop("CALLCENTER_CONFIG", None)
    script = os.path.join(os.path.dirname(sys.executable), "callcenter")
    proc = subprocess.Popen([script, "-v", "ami"], env=env, cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_until(lambda: emulator.emulator.logins >= 1 or proc.poll() is not None, what="login")
        assert proc.poll() is None
        emulator.replay(transcript("3b1_abandon_all_members_paused"))
        wait_until(lambda: any(a.message.action in ("CoreShowChannels",) for a in emulator.emulator.actions),
                   what="reconciliation queries")
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, output
    assert "AMI listener stopped" in output
    assert any(a.message.action == "Logoff" for a in emulator.emulator.actions)
    with session_scope(sqlite_url) as s:
        call = s.scalar(select(Call).where(Call.uniqueid == "1795344586.32"))
        assert call is not None and call.status == CallStatus.ABANDONED
        assert s.scalar(select(CallbackTask).where(CallbackTask.call_id == call.id)) is not None


# --- database outage -----------------------------------------------------------------------------------------------
@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_events_wait_for_the_database_to_come_back(db_url, emulator, agents, listener, ami_settings, caplog):
    """PostgreSQL refuses connections for a while: the tracker retries, nothing is lost."""
    import os

    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    # The server the shared fixtures use (tests/conftest.py).
    admin_url = os.environ.get("CALLCENTER_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
    caplog.set_level(logging.ERROR, logger="callcenter.ami.worker")
    name = make_url(db_url).database
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    routed_call(db_url, uniqueid="1795344598.34", queue="general_q")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'))
            conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                              "WHERE datname = :name AND pid <> pg_backend_pid()"), {"name": name})
        emulator.replay(transcript("3b2_abandon_while_agent_ringing"))
        wait_until(lambda: listener.stats.db_retries >= 2, what="retries while the database is down")
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
        admin.dispose()
    assert listener.sync(30)
    call = call_row(db_url, "1795344598.34")
    assert call.status == CallStatus.ABANDONED and call.wait_seconds == 3
    assert len(callbacks(db_url)) == 1
    assert listener.stats.failed == 0
    assert any("database unreachable" in r.getMessage() for r in caplog.records)


def test_a_gbk_caller_name_keeps_every_event_of_its_call(emulator, agents, listener, ami_settings, agent_feed):
    """GBK names (王霞) still come from older carriers and PBXs: the call is followed all the same."""
    db = ami_settings.database_url
    routed_call(db, uniqueid="1795344550.26", queue="vip")
    raw = b"".join(m.to_bytes() for m in events_of("3a1_queue_answered_caller_hangs_up"))
    raw = raw.replace(b"CallerIDName: ", b"CallerIDName: \xcd\xf5\xcf\xbc")

    def send() -> None:
        for session in emulator.emulator.sessions:
            session.write(raw)

    emulator.call(send)
    assert listener.sync(15)
    call = call_row(db, "1795344550.26")
    assert call.status == CallStatus.COMPLETED and call.talk_seconds == 13
    assert call.caller_name.startswith("王霞")
    called = [m for m in bus_messages(agent_feed) if m["type"] == "agent_called"]
    assert len(called) == 1 and called[0]["caller_name"].startswith("王霞")
    assert listener.listener.client.stats.malformed == 0
