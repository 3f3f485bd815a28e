"""Scripted calls: the events one queue call produces (caller joins, agents ring,
answer, complete, ring-no-answer, abandon), sent in Asterisk 22 field order; and
``play_call``, one whole call in real time for the demo and the benchmarks."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from typing import Any

from callcenter.simulation.ami.state import (
    DEVICE_INUSE,
    DEVICE_NOT_INUSE,
    DEVICE_RINGING,
    PBXState,
    _Channel,
    _event,
    channel_block,
)


class Scenarios(PBXState):
    """Synthetic call events. The emulator provides ``emit`` (apply to the state, send
    to the logged-in sessions)."""

    def caller_channel(self, *, caller: str = "13800138000", caller_name: str = "Test Caller",
                       did: str = "4008002000", uniqueid: str | None = None, linkedid: str | None = None,
                       context: str = "hotline", emit: bool = True) -> _Channel:
        """A new answered inbound channel (Newchannel + Newstate Up)."""
        uid = uniqueid or self.new_uniqueid()
        ch = _Channel(channel=f"PJSIP/caller-{next(self._seq):08x}", uniqueid=uid, linkedid=linkedid or uid,
                      state=4, caller_num=caller, caller_name=caller_name, context=context, exten=did)
        if emit:
            self.emit(_event("Newchannel", "call,all", channel_block(ch)))
            ch.state, ch.priority = 6, "2"
            self.emit(_event("Newstate", "call,all", channel_block(ch)))
            ch.priority = "5"
        else:
            ch.state, ch.priority = 6, "5"
            self.channels[ch.uniqueid] = ch
        return ch

    def _find_caller(self, linkedid: str | None, uniqueid: str | None, **kwargs: Any) -> _Channel:
        if uniqueid and uniqueid in self.channels:
            return self.channels[uniqueid]
        if linkedid:
            for ch in self.channels.values():
                if ch.linkedid == linkedid and ch.uniqueid == linkedid:
                    return ch
        return self.caller_channel(uniqueid=uniqueid or linkedid, linkedid=linkedid, **kwargs)

    def agent_channel(self, caller: _Channel, interface: str) -> _Channel:
        ch = _Channel(channel=f"{interface}-{next(self._seq):08x}", uniqueid=self.new_uniqueid(),
                      linkedid=caller.linkedid, state=0, caller_num=caller.exten,
                      connected_num=caller.caller_num, connected_name=caller.caller_name,
                      context="agents", exten=caller.exten, priority="1")
        self.emit(_event("Newchannel", "call,all", channel_block(ch)))
        return ch

    def _member_name(self, queue: str, interface: str) -> str:
        m = self.member(queue, interface)
        return m.name if m else interface

    def queue_caller_join(self, *, queue: str = "vip", caller: str = "13800138000",
                          caller_name: str = "Test Caller", linkedid: str | None = None,
                          uniqueid: str | None = None, did: str = "4008002000",
                          recording: str | None = None) -> _Channel:
        """A caller enters ``queue`` (MIXMONITOR_FILENAME VarSet + MixMonitorStart first
        when ``recording`` is given, as the capture dialplan does)."""
        ch = self._find_caller(linkedid, uniqueid, caller=caller, caller_name=caller_name, did=did)
        if recording:
            self.emit(_event("VarSet", "dialplan,all", [*channel_block(ch), ("Variable", "MIXMONITOR_FILENAME"),
                                                        ("Value", recording)]))
            self.emit(_event("MixMonitorStart", "call,all", channel_block(ch)))
        q = self._queue(queue)
        self.emit(self.queue_caller_event("QueueCallerJoin", ch, queue, position=len(q.entries) + 1,
                                          count=len(q.entries) + 1))
        return ch

    def agent_called(self, *, interface: str, linkedid: str | None = None, caller: str = "13800138000",
                     caller_name: str = "Test Caller", queue: str = "vip", member_name: str | None = None,
                     uniqueid: str | None = None) -> tuple[_Channel, _Channel]:
        """The screen-pop trigger: an agent's phone starts ringing for a queued caller.
        Sends Newchannel (agent leg), AgentCalled, QueueMemberStatus Status 6 - the fields
        exactly as 3a1 shows them. Returns (caller channel, agent channel)."""
        ch = self._find_caller(linkedid, uniqueid, caller=caller, caller_name=caller_name)
        agent = self.agent_channel(ch, interface)
        self.emit(self.agent_event("AgentCalled", ch, agent, queue, interface,
                                   member_name or self._member_name(queue, interface)))
        agent.state = 5
        self.emit(self.member_event("QueueMemberStatus", queue, interface, status=DEVICE_RINGING))
        return ch, agent

    def dial_end(self, caller: _Channel, agent: _Channel, status: str = "CANCEL") -> None:
        """DialEnd for one agent leg (CANCEL: another phone answered, or the caller left)."""
        self.emit(_event("DialEnd", "call,all", [*channel_block(caller), *channel_block(agent, "Dest"),
                                                  ("DialStatus", status)]))
        self.emit(self.hangup_event(agent, 0, "Unknown"))

    def agent_connect(self, caller: _Channel, agent: _Channel, *, queue: str, interface: str,
                      hold_s: int = 2, ring_s: int = 2) -> None:
        agent.state = 6
        self.emit(_event("DialEnd", "call,all", [*channel_block(caller), *channel_block(agent, "Dest"),
                                                  ("DialStatus", "ANSWER")]))
        q = self._queue(queue)
        self.emit(self.queue_caller_event("QueueCallerLeave", caller, queue, position=1,
                                          count=max(0, len(q.entries) - 1)))
        self.emit(self.agent_event("AgentConnect", caller, agent, queue, interface,
                                   self._member_name(queue, interface),
                                   [("HoldTime", hold_s), ("RingTime", ring_s)]))
        self.emit(self.member_event("QueueMemberStatus", queue, interface, status=DEVICE_INUSE, in_call=1))

    def agent_complete(self, caller: _Channel, agent: _Channel, *, queue: str, interface: str,
                       hold_s: int = 2, talk_s: int = 10, reason: str = "caller") -> None:
        first, second = (caller, agent) if reason == "caller" else (agent, caller)
        self.emit(_event("HangupRequest", "call,all", channel_block(first)))
        self.emit(self.agent_event("AgentComplete", caller, agent, queue, interface,
                                   self._member_name(queue, interface),
                                   [("HoldTime", hold_s), ("TalkTime", talk_s), ("Reason", reason)]))
        self.emit(self.hangup_event(first, 16, "Normal Clearing"))
        self.emit(self.hangup_event(second, 16, "Normal Clearing"))
        m = self.member(queue, interface)
        self.emit(self.member_event("QueueMemberStatus", queue, interface, status=DEVICE_NOT_INUSE, in_call=0,
                                    calls_taken=(m.calls_taken + 1) if m else 1, last_call=int(time.time())))

    def agent_ring_no_answer(self, caller: _Channel, agent: _Channel, *, queue: str, interface: str,
                             ring_ms: int = 4000, autopause: bool = False) -> None:
        self.emit(self.agent_event("AgentRingNoAnswer", caller, agent, queue, interface,
                                   self._member_name(queue, interface), [("RingTime", ring_ms)]))
        if autopause:
            self.emit(self.member_event("QueueMemberPause", queue, interface, paused=1, reason="Auto-Pause",
                                        last_pause=int(time.time())))
        self.emit(_event("DialEnd", "call,all", [*channel_block(caller), *channel_block(agent, "Dest"),
                                                  ("DialStatus", "NOANSWER")]))
        self.emit(self.hangup_event(agent, 0, "Unknown"))
        self.emit(self.member_event("QueueMemberStatus", queue, interface, status=DEVICE_NOT_INUSE))

    def caller_abandon(self, caller: _Channel, *, queue: str, hold_s: int = 5, hung_up: bool = True,
                       ringing: Iterable[tuple[_Channel, str]] = ()) -> None:
        """The caller leaves unanswered: hangs up (HangupRequest first) or, with
        ``hung_up=False``, the queue times out (no HangupRequest, QUEUESTATUS=TIMEOUT)."""
        if hung_up:
            self.emit(_event("HangupRequest", "call,all", channel_block(caller)))
        for agent, interface in ringing:
            self.emit(_event("DialEnd", "call,all", [*channel_block(caller), *channel_block(agent, "Dest"),
                                                      ("DialStatus", "CANCEL")]))
        q = self._queue(queue)
        self.emit(self.queue_caller_event("QueueCallerAbandon", caller, queue, position=1, hold_s=hold_s))
        self.emit(self.queue_caller_event("QueueCallerLeave", caller, queue, position=1,
                                          count=max(0, len(q.entries) - 1)))
        if not hung_up:
            self.emit(_event("VarSet", "dialplan,all", [*channel_block(caller), ("Variable", "QUEUESTATUS"),
                                                        ("Value", "TIMEOUT")]))
        for agent, interface in ringing:
            self.emit(self.hangup_event(agent, 0, "Unknown"))
            self.emit(self.member_event("QueueMemberStatus", queue, interface, status=DEVICE_NOT_INUSE))
        self.emit(self.hangup_event(caller, 16 if not hung_up else 0, "Normal Clearing" if not hung_up else "Unknown"))

    async def play_call(self, *, queue: str = "vip", interface: str = "PJSIP/agent1001",
                        caller: str = "13800138000", caller_name: str = "Test Caller",
                        did: str = "4008002000", linkedid: str | None = None, outcome: str = "answered",
                        ring_s: float = 2.0, talk_s: float = 10.0, wait_s: float = 0.0,
                        hangup_by: str = "caller", recording: bool = True) -> _Channel:
        """One complete queue call in real time, for the demo and benchmarks.
        ``outcome``: answered / abandoned (caller hangs up while the agent rings) / timeout."""
        ch = self._find_caller(linkedid, linkedid, caller=caller, caller_name=caller_name, did=did)
        self.queue_caller_join(queue=queue, linkedid=ch.linkedid, uniqueid=ch.uniqueid,
                               recording=f"/var/spool/asterisk/monitor/q-{ch.uniqueid}.wav" if recording else None)
        if wait_s:
            await asyncio.sleep(wait_s)
        if outcome == "timeout":
            await asyncio.sleep(ring_s)
            self.caller_abandon(ch, queue=queue, hold_s=int(wait_s + ring_s), hung_up=False)
            return ch
        _, agent = self.agent_called(interface=interface, linkedid=ch.linkedid, uniqueid=ch.uniqueid, queue=queue)
        await asyncio.sleep(ring_s)
        if outcome == "abandoned":
            self.caller_abandon(ch, queue=queue, hold_s=int(wait_s + ring_s), ringing=[(agent, interface)])
            return ch
        self.agent_connect(ch, agent, queue=queue, interface=interface, hold_s=int(wait_s + ring_s),
                           ring_s=int(ring_s))
        await asyncio.sleep(talk_s)
        self.agent_complete(ch, agent, queue=queue, interface=interface, hold_s=int(wait_s + ring_s),
                            talk_s=int(talk_s), reason=hangup_by)
        return ch
