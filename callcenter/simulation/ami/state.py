"""The emulated Asterisk's in-memory state: the queues.conf it starts from, queue
members, channels and queue entries, and how every event it sends (replayed or
synthetic) changes them; plus the Asterisk 22 field blocks those events are built from.
"""

from __future__ import annotations

import datetime as dt
import itertools
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from callcenter.ami.protocol import FieldValue, Message, build_message

CHANNEL_STATE_DESC = {0: "Down", 1: "Rsrvd", 2: "OffHook", 3: "Dialing", 4: "Ring", 5: "Ringing",
                      6: "Up", 7: "Busy"}
# Device states as app_queue reports them in Status.
DEVICE_NOT_INUSE, DEVICE_INUSE, DEVICE_BUSY, DEVICE_INVALID, DEVICE_UNAVAILABLE, DEVICE_RINGING = 1, 2, 3, 4, 5, 6

# Endpoint behaviours for Originate and for the device state of new members.
ANSWER, BUSY, NOANSWER = "answer", "busy", "noanswer"


# --------------------------------------------------------------------------------------
# configuration and state
# --------------------------------------------------------------------------------------
@dataclass
class MemberConfig:
    interface: str
    name: str = ""
    penalty: int = 0
    state_interface: str = ""


@dataclass
class QueueConfig:
    name: str
    members: list[MemberConfig] = field(default_factory=list)
    strategy: str = "rrmemory"
    weight: int = 0
    max: int = 0
    service_level: int = 20


def capture_queues() -> list[QueueConfig]:
    """The queues.conf of the capture host (general_q first: the order QueueStatus used)."""
    return [
        QueueConfig("general_q", [MemberConfig("PJSIP/agent1002", "Agent 1002")]),
        QueueConfig("vip", [MemberConfig("PJSIP/agent1001", "Agent 1001")], weight=10),
    ]


def capture_endpoints() -> dict[str, str]:
    """How the capture's SIPp peers answered: agent1001 rings then answers, agent1002
    rings for ever, busy2001 answers 486, agent1003 exists but has no phone behind it."""
    return {"PJSIP/agent1001": ANSWER, "PJSIP/agent1002": NOANSWER, "PJSIP/busy2001": BUSY,
            "PJSIP/agent1003": NOANSWER}


@dataclass
class _Member:
    interface: str
    name: str
    state_interface: str
    membership: str = "static"
    penalty: int = 0
    calls_taken: int = 0
    last_call: int = 0
    last_pause: int = 0
    login_time: int = 0
    in_call: int = 0
    status: int = DEVICE_NOT_INUSE
    paused: int = 0
    reason: str = ""
    ringinuse: int = 0
    wrapuptime: int = 0


@dataclass
class _Queue:
    config: QueueConfig
    members: dict[str, _Member] = field(default_factory=dict)
    entries: list[_Entry] = field(default_factory=list)
    holdtime: int = 0
    talktime: int = 0
    completed: int = 0
    abandoned: int = 0
    completed_in_sl: int = 0
    abandoned_in_sl: int = 0


@dataclass
class _Channel:
    channel: str
    uniqueid: str
    linkedid: str
    state: int = 0
    caller_num: str = "<unknown>"
    caller_name: str = "<unknown>"
    connected_num: str = "<unknown>"
    connected_name: str = "<unknown>"
    language: str = "en"
    account: str = ""
    context: str = ""
    exten: str = ""
    priority: str = "1"
    application: str = ""
    app_data: str = ""
    bridge_id: str = ""
    queue_prio: int = 0
    created: float = field(default_factory=time.monotonic)


@dataclass
class _Entry:
    uniqueid: str
    channel: str
    caller_num: str
    caller_name: str
    connected_num: str
    connected_name: str
    priority: int
    joined: float = field(default_factory=time.monotonic)


# --------------------------------------------------------------------------------------
# field blocks in Asterisk 22 order
# --------------------------------------------------------------------------------------
def channel_block(ch: _Channel, prefix: str = "") -> list[tuple[str, FieldValue]]:
    return [
        (f"{prefix}Channel", ch.channel), (f"{prefix}ChannelState", ch.state),
        (f"{prefix}ChannelStateDesc", CHANNEL_STATE_DESC.get(ch.state, "Unknown")),
        (f"{prefix}CallerIDNum", ch.caller_num), (f"{prefix}CallerIDName", ch.caller_name),
        (f"{prefix}ConnectedLineNum", ch.connected_num), (f"{prefix}ConnectedLineName", ch.connected_name),
        (f"{prefix}Language", ch.language), (f"{prefix}AccountCode", ch.account),
        (f"{prefix}Context", ch.context), (f"{prefix}Exten", ch.exten), (f"{prefix}Priority", ch.priority),
        (f"{prefix}Uniqueid", ch.uniqueid), (f"{prefix}Linkedid", ch.linkedid),
    ]


def _channel_from_block(msg: Message, prefix: str = "") -> _Channel | None:
    uniqueid = msg.get(f"{prefix}Uniqueid")
    if not uniqueid or uniqueid == "none":
        return None
    try:
        state = int(msg.get(f"{prefix}ChannelState") or 0)
    except ValueError:
        state = 0
    return _Channel(
        channel=msg.get(f"{prefix}Channel"), uniqueid=uniqueid,
        linkedid=msg.get(f"{prefix}Linkedid") or uniqueid, state=state,
        caller_num=msg.get(f"{prefix}CallerIDNum", "<unknown>"),
        caller_name=msg.get(f"{prefix}CallerIDName", "<unknown>"),
        connected_num=msg.get(f"{prefix}ConnectedLineNum", "<unknown>"),
        connected_name=msg.get(f"{prefix}ConnectedLineName", "<unknown>"),
        language=msg.get(f"{prefix}Language", "en"), account=msg.get(f"{prefix}AccountCode"),
        context=msg.get(f"{prefix}Context"), exten=msg.get(f"{prefix}Exten"),
        priority=msg.get(f"{prefix}Priority", "1"))


def member_blob(queue: str, m: _Member) -> list[tuple[str, FieldValue]]:
    return [
        ("Queue", queue), ("MemberName", m.name), ("Interface", m.interface),
        ("StateInterface", m.state_interface), ("Membership", m.membership), ("Penalty", m.penalty),
        ("CallsTaken", m.calls_taken), ("LastCall", m.last_call), ("LastPause", m.last_pause),
        ("LoginTime", m.login_time), ("InCall", m.in_call), ("Status", m.status), ("Paused", m.paused),
        ("PausedReason", m.reason), ("Ringinuse", m.ringinuse), ("Wrapuptime", m.wrapuptime),
    ]


def _event(name: str, privilege: str, pairs: Iterable[tuple[str, FieldValue]] = ()) -> Message:
    return build_message([("Event", name), ("Privilege", privilege), *pairs])


def _int(value: str, default: int = 0) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _event_tv(when: float | None = None) -> str:
    stamp = dt.datetime.fromtimestamp(when if when is not None else time.time(), dt.UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}+0000"


# --------------------------------------------------------------------------------------
# the state, and how events change it
# --------------------------------------------------------------------------------------
class PBXState:
    """What a running Asterisk knows (queues, members, channels, queue entries), kept
    up to date from the events it sends. The emulator sets these attributes in its
    ``__init__``."""

    queue_configs: list[QueueConfig]
    endpoints: dict[str, str]
    channels: dict[str, _Channel]
    queues: dict[str, _Queue]
    _seq: itertools.count
    cdr: Any = None             # a CdrStore when the emulator writes CDRs (cdr.py)

    def _reset_state(self) -> None:
        """What a freshly started Asterisk knows: queues.conf members, no channels."""
        now = int(time.time())
        self.channels = {}
        self.queues = {}
        for cfg in self.queue_configs:
            q = _Queue(cfg)
            for mc in cfg.members:
                q.members[mc.interface] = _Member(
                    interface=mc.interface, name=mc.name or mc.interface,
                    state_interface=mc.state_interface or mc.interface, penalty=mc.penalty,
                    login_time=now, status=self._device_status(mc.interface))
            self.queues[cfg.name] = q

    def _device_status(self, interface: str) -> int:
        return DEVICE_NOT_INUSE if interface in self.endpoints else DEVICE_INVALID

    def member(self, queue: str, interface: str) -> _Member | None:
        q = self.queues.get(queue)
        return q.members.get(interface) if q else None

    def new_uniqueid(self) -> str:
        return f"{int(time.time())}.{next(self._seq)}"

    def _queue(self, name: str) -> _Queue:
        q = self.queues.get(name)
        if q is None:
            q = self.queues[name] = _Queue(QueueConfig(name))
        return q

    # --- state from events (replayed or synthetic) -----------------------------------------
    def apply(self, msg: Message) -> None:
        """Change the state as ``msg`` says; anything that is not an event is ignored."""
        name = msg.event
        if not name:
            return
        if self.cdr is not None:
            self.cdr.observe(msg)
        if name == "Newchannel":
            self._apply_new_channel(msg)
        elif name in ("Newstate", "NewCallerid", "NewConnectedLine", "Newexten", "VarSet"):
            self._apply_channel_update(name, msg)
        elif name in ("BridgeEnter", "BridgeLeave"):
            self._apply_bridge(name, msg)
        elif name == "Hangup":
            self.channels.pop(msg.get("Uniqueid"), None)
        elif name == "QueueCallerJoin":
            self._apply_caller_join(msg)
        elif name in ("QueueCallerLeave", "QueueCallerAbandon"):
            self._apply_caller_leave(name, msg)
        elif name == "AgentConnect":
            self._apply_agent_connect(msg)
        elif name == "AgentComplete":
            self._apply_agent_complete(msg)
        elif name in ("QueueMemberStatus", "QueueMemberPause", "QueueMemberAdded"):
            self._apply_member(msg)
        elif name == "QueueMemberRemoved":
            self._queue(msg.get("Queue")).members.pop(msg.get("Interface"), None)

    def _apply_new_channel(self, msg: Message) -> None:
        ch = _channel_from_block(msg)
        if ch is not None:
            self.channels[ch.uniqueid] = ch

    def _apply_channel_update(self, name: str, msg: Message) -> None:
        """Newstate, NewCallerid, NewConnectedLine, Newexten, VarSet: the channel block
        is the channel's new look; what the block does not carry is kept."""
        ch = self.channels.get(msg.get("Uniqueid"))
        if ch is None:
            return
        fresh = _channel_from_block(msg)
        if fresh is not None:
            fresh.created, fresh.bridge_id, fresh.queue_prio = ch.created, ch.bridge_id, ch.queue_prio
            fresh.application, fresh.app_data = ch.application, ch.app_data
            ch = self.channels[ch.uniqueid] = fresh
        if name == "Newexten":
            ch.application, ch.app_data = msg.get("Application"), msg.get("AppData")
        elif name == "VarSet" and msg.get("Variable") == "QUEUE_PRIO":
            ch.queue_prio = _int(msg.get("Value"))

    def _apply_bridge(self, name: str, msg: Message) -> None:
        ch = self.channels.get(msg.get("Uniqueid"))
        if ch is not None:
            ch.bridge_id = msg.get("BridgeUniqueid") if name == "BridgeEnter" else ""

    def _apply_caller_join(self, msg: Message) -> None:
        q = self._queue(msg.get("Queue"))
        ch = self.channels.get(msg.get("Uniqueid"))
        q.entries = [e for e in q.entries if e.uniqueid != msg.get("Uniqueid")]
        q.entries.append(_Entry(
            uniqueid=msg.get("Uniqueid"), channel=msg.get("Channel"), caller_num=msg.get("CallerIDNum"),
            caller_name=msg.get("CallerIDName"),
            # QueueEntry writes "unknown" where channel events write "<unknown>" (3b1).
            connected_num=msg.get("ConnectedLineNum").strip("<>"),
            connected_name=msg.get("ConnectedLineName").strip("<>"),
            priority=ch.queue_prio if ch else 0))

    def _apply_caller_leave(self, name: str, msg: Message) -> None:
        q = self._queue(msg.get("Queue"))
        q.entries = [e for e in q.entries if e.uniqueid != msg.get("Uniqueid")]
        if name == "QueueCallerAbandon":
            q.abandoned += 1
            if _int(msg.get("HoldTime")) <= q.config.service_level:
                q.abandoned_in_sl += 1

    def _apply_agent_connect(self, msg: Message) -> None:
        q = self._queue(msg.get("Queue"))
        q.holdtime = (q.holdtime * 3 + _int(msg.get("HoldTime"))) // 4

    def _apply_agent_complete(self, msg: Message) -> None:
        q = self._queue(msg.get("Queue"))
        q.completed += 1
        if _int(msg.get("HoldTime")) <= q.config.service_level:
            q.completed_in_sl += 1
        q.talktime = (q.talktime * 3 + _int(msg.get("TalkTime"))) // 4

    def _apply_member(self, msg: Message) -> None:
        q = self._queue(msg.get("Queue"))
        interface = msg.get("Interface")
        m = q.members.get(interface) or _Member(interface=interface, name="", state_interface="")
        m.name = msg.get("MemberName") or interface
        m.state_interface = msg.get("StateInterface") or interface
        m.membership = msg.get("Membership") or m.membership
        for attr, key in (("penalty", "Penalty"), ("calls_taken", "CallsTaken"), ("last_call", "LastCall"),
                          ("last_pause", "LastPause"), ("login_time", "LoginTime"), ("in_call", "InCall"),
                          ("status", "Status"), ("paused", "Paused"), ("ringinuse", "Ringinuse"),
                          ("wrapuptime", "Wrapuptime")):
            if key in msg:
                setattr(m, attr, _int(msg.get(key)))
        m.reason = msg.get("PausedReason") if m.paused else ""
        q.members[interface] = m

    # --- events in Asterisk 22 field order ---------------------------------------------------
    def queue_caller_event(self, name: str, caller: _Channel, queue: str, *, position: int = 1,
                           count: int | None = None, hold_s: int | None = None,
                           original_position: int | None = None) -> Message:
        pairs: list[tuple[str, FieldValue]] = [*channel_block(caller), ("Queue", queue), ("Position", position)]
        if name == "QueueCallerAbandon":
            pairs += [("OriginalPosition", original_position or position), ("HoldTime", hold_s or 0)]
        else:
            pairs.append(("Count", count if count is not None else 0))
        return _event(name, "agent,all", pairs)

    def agent_event(self, name: str, caller: _Channel, agent: _Channel, queue: str, interface: str,
                    member_name: str, extra: Iterable[tuple[str, FieldValue]] = ()) -> Message:
        return _event(name, "agent,all", [*channel_block(caller), *channel_block(agent, "Dest"),
                                          ("Queue", queue), ("Interface", interface),
                                          ("MemberName", member_name), *extra])

    def hangup_event(self, ch: _Channel, cause: int, cause_txt: str, tech_cause: int | None = None) -> Message:
        return _event("Hangup", "call,all", [*channel_block(ch), ("Cause", cause), ("Cause-txt", cause_txt),
                                             ("TechCause", tech_cause)])

    def member_event(self, name: str, queue: str, interface: str, **changes: Any) -> Message:
        m = self.member(queue, interface) or _Member(interface=interface, name=interface,
                                                     state_interface=interface)
        for key, value in changes.items():
            setattr(m, key, value)
        return _event(name, "agent,all", member_blob(queue, m))
