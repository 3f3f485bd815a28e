"""The emulator answers like the Asterisk 22 of the captures (compared field by field)."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from callcenter.ami.protocol import Message, MessageParser, iter_messages
from callcenter.simulation.ami.replay import Recording
from callcenter.simulation.ami.thread import EmulatorThread

from .conftest import SECRET, transcript

# Values that differ on every run (clocks, counters, ids) are compared by name only.
VOLATILE = {"ActionID", "Timestamp", "LoginTime", "LastPause", "LastCall", "CallsTaken", "Uniqueid", "Linkedid",
            "DestUniqueid", "DestLinkedid", "Channel", "DestChannel", "EventTV", "SessionID", "SessionTV",
            "RemoteAddress", "LocalAddress", "Duration", "Wait", "Uptime", "LastReload", "Completed", "Abandoned",
            "Holdtime", "TalkTime", "HoldTime", "ServicelevelPerf", "ServicelevelPerf2", "Priority", "Output",
            "CallerIDNum", "CallerIDName", "ConnectedLineNum", "ConnectedLineName", "AccountID", "Penalty",
            "Context", "Exten", "ChannelState", "ChannelStateDesc", "Application", "ApplicationData",
            "CoreStartupDate", "CoreStartupTime", "CoreReloadDate", "CoreReloadTime", "CoreCurrentCalls",
            "CoreProcessedCalls"}


class RawAMI:
    """A bare socket speaking AMI, to see exactly what the emulator writes."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.parser = MessageParser(expect_banner=True)
        self.raw = b""
        self.inbox: list[Message] = []

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def read_until(self, predicate, timeout: float = 10.0) -> list[Message]:
        deadline = time.monotonic() + timeout
        while not any(predicate(m) for m in self.inbox):
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            data = self.sock.recv(65536)
            if not data:
                break
            self.raw += data
            self.inbox.extend(self.parser.feed(data))
        out, self.inbox = self.inbox, []
        return out

    def read_to_eof(self) -> bytes:
        self.sock.settimeout(10)
        while data := self.sock.recv(65536):
            self.raw += data
        return self.raw

    def close(self) -> None:
        self.sock.close()


def login(raw: RawAMI, username: str = "callcenter", secret: str = SECRET) -> None:
    raw.send(f"Action: Login\r\nActionID: L\r\nUsername: {username}\r\nSecret: {secret}\r\nEvents: on\r\n\r\n".encode())
    raw.read_until(lambda m: m.event == "SuccessfulAuth")


def same_shape(mine: Message, recorded: Message) -> None:
    assert mine.keys() == recorded.keys(), f"{mine.event or mine.response}: {mine.keys()} != {recorded.keys()}"
    for (key, value), (_, expected) in zip(mine.fields, recorded.fields):
        if key not in VOLATILE:
            assert value == expected, f"{recorded.event or recorded.response}.{key}: {value!r} != {expected!r}"


def test_3d1_bad_secret_byte_for_byte():
    """The capture client's own bytes get exactly Asterisk's bytes back, then EOF."""
    with EmulatorThread(username="capture", secret="capturesecret", auth_failure_delay_s=0.05) as emu:
        raw = RawAMI(emu.port)
        raw.send(transcript("3d1_login_bad_secret", ".to_asterisk.bin").read_bytes())
        assert raw.read_to_eof() == transcript("3d1_login_bad_secret").read_bytes()
        raw.close()
        assert emu.emulator.failed_logins == 1


def test_3d2_every_action_answered_like_asterisk():
    """Replay the capture client's actions; compare each answer (response, list items,
    member events) with what Asterisk sent, field by field."""
    recorded = list(iter_messages(transcript("3d2_actions_originate_hangup").read_bytes(), expect_banner=True))
    actions = list(iter_messages(transcript("3d2_actions_originate_hangup", ".to_asterisk.bin").read_bytes()))
    with EmulatorThread(username="capture", secret="capturesecret", originate_ring_s=0.05) as emu:
        raw = RawAMI(emu.port)
        channel_names: dict[str, str] = {}
        compared = 0
        for action in actions:
            action_id = action.action_id
            if action_id == "orig-noanswer":
                continue  # a 5 s ring timeout; covered with a short one in test_client
            expected = [m for m in recorded if m.action_id == action_id]
            fields = [(k, channel_names.get(v, v)) for k, v in action.fields]
            raw.send(Message(fields).to_bytes())
            final = expected[-1]
            mine = [m for m in raw.read_until(lambda m, f=final: m.action_id == action_id and (
                (m.event or m.response) == (f.event or f.response) or m.response == "Error"))
                if m.action_id == action_id]
            assert [m.event or m.response for m in mine] == [m.event or m.response for m in expected], action_id
            for got, want in zip(mine, expected):
                same_shape(got, want)
                compared += 1
            if action.action == "Originate" and mine[-1].event == "OriginateResponse":
                channel_names[expected[-1].get("Channel")] = mine[-1].get("Channel")
        raw.close()
    assert compared >= 40


@pytest.mark.parametrize("name, event", [
    ("3a1_queue_answered_caller_hangs_up", "QueueCallerJoin"),
    ("3a1_queue_answered_caller_hangs_up", "AgentCalled"),
    ("3a1_queue_answered_caller_hangs_up", "AgentConnect"),
    ("3a1_queue_answered_caller_hangs_up", "AgentComplete"),
    ("3a1_queue_answered_caller_hangs_up", "QueueMemberStatus"),
    ("3a1_queue_answered_caller_hangs_up", "Hangup"),
    ("3b1_abandon_all_members_paused", "QueueCallerAbandon"),
    ("3c_ringnoanswer_autopause_timeout", "AgentRingNoAnswer"),
    ("3c_ringnoanswer_autopause_timeout", "QueueMemberPause"),
])
def test_synthetic_events_have_the_recorded_fields_in_order(emulator, name, event):
    """``agent_called(interface=..., linkedid=..., caller=...)`` and friends build events
    with exactly the fields (and order) Asterisk 22 uses."""
    recorded = next(m for m in Recording.load(transcript(name)).all_events() if m.event == event)
    sent: list[Message] = []

    def capture() -> None:
        original = emulator.emulator.emit

        def spy(message: Message, *, deliver: bool = True) -> Message:
            sent.append(message)
            return original(message, deliver=deliver)

        emulator.emulator.emit = spy

    emulator.call(capture)
    queue = recorded.get("Queue") or "vip"
    interface = recorded.get("Interface") or "PJSIP/agent1001"
    caller, agent = emulator.agent_called(interface=interface, linkedid="1795344550.26", caller="13800138000",
                                          caller_name="Test Caller", queue=queue)
    emulator.call(lambda: emulator.emulator.queue_caller_join(queue=queue, linkedid=caller.linkedid,
                                                              uniqueid=caller.uniqueid))
    emulator.call(lambda: emulator.emulator.agent_ring_no_answer(caller, agent, queue=queue, interface=interface,
                                                                 autopause=True))
    emulator.call(lambda: emulator.emulator.agent_connect(caller, agent, queue=queue, interface=interface))
    emulator.call(lambda: emulator.emulator.agent_complete(caller, agent, queue=queue, interface=interface))
    emulator.call(lambda: emulator.emulator.caller_abandon(caller, queue=queue, hold_s=6))
    mine = next(m for m in sent if m.event == event)
    assert mine.keys() == recorded.keys()
    for key in ("Event", "Privilege", "Queue", "Interface", "MemberName", "StateInterface", "Membership",
                "Language", "DestContext"):
        if key in recorded and key not in VOLATILE:
            assert mine.get(key) == recorded.get(key), key
    if event == "AgentCalled":
        assert (mine.get("Linkedid"), mine.get("CallerIDNum"), mine.get("DestConnectedLineName")) == (
            "1795344550.26", "13800138000", "Test Caller")


def test_replay_sends_the_recorded_event_bytes(emulator):
    raw = RawAMI(emulator.port)
    login(raw)
    raw.raw = b""
    sent = emulator.replay(transcript("3a1_queue_answered_caller_hangs_up"))
    raw.send(b"Action: Ping\r\nActionID: end\r\n\r\n")
    raw.read_until(lambda m: m.action_id == "end")
    expected = b"".join(m.to_bytes() for m in Recording.load(
        transcript("3a1_queue_answered_caller_hangs_up")).all_events())
    assert sent == 184
    assert raw.raw.startswith(expected)
    raw.close()


def connect_when_back(port: int, timeout: float = 10.0) -> tuple[RawAMI, int]:
    refused = 0
    deadline = time.monotonic() + timeout
    while True:
        try:
            return RawAMI(port), refused
        except ConnectionRefusedError:
            refused += 1
            assert time.monotonic() < deadline, "emulator did not come back"
            time.sleep(0.02)


def test_timed_restart_replay_plays_the_second_connection(emulator):
    """3e1 with its recorded timing (20x): Shutdown, EOF, and the recorded SuccessfulAuth /
    VarSet / FullyBooted answer the next Login."""
    raw = RawAMI(emulator.port)
    login(raw)
    raw.raw = b""
    result: dict[str, int] = {}
    player = threading.Thread(target=lambda: result.setdefault(
        "sent", emulator.replay(transcript("3e1_restart_idle"), timing=True, speed=20.0, down_s=0.1)))
    player.start()
    assert raw.read_to_eof().count(b"Event: Shutdown\r\n") == 1
    raw.close()
    raw, _ = connect_when_back(emulator.port)
    login_stream = [m for m in Recording.load(transcript("3e1_restart_idle")).segments[1].messages
                    if m.message.is_event]
    raw.send(f"Action: Login\r\nActionID: L\r\nUsername: callcenter\r\nSecret: {SECRET}\r\n\r\n".encode())
    got = raw.read_until(lambda m: m.event == "FullyBooted")
    assert [m.event or m.response for m in got] == ["Success", "SuccessfulAuth", "VarSet", "FullyBooted"]
    assert [m.fields for m in got[1:]] == [m.message.fields for m in login_stream]
    player.join(10)
    assert result["sent"] == 4
    raw.close()


def test_restart_refuses_then_boots_like_asterisk(emulator):
    raw = RawAMI(emulator.port)
    login(raw)
    raw.send(b"Action: QueuePause\r\nActionID: p\r\nInterface: PJSIP/agent1001\r\nPaused: true\r\nReason: x\r\n\r\n")
    raw.read_until(lambda m: m.event == "QueueMemberPause")
    emulator.call(lambda: emulator.emulator._spawn(emulator.emulator.restart(0.5)))
    tail = raw.read_to_eof()
    assert b"Event: Shutdown\r\nPrivilege: system,all\r\nShutdown: Cleanly\r\nRestart: True\r\n\r\n" in tail
    raw.close()
    raw, refused = connect_when_back(emulator.port)
    assert refused >= 1
    raw.send(f"Action: Login\r\nActionID: L\r\nUsername: callcenter\r\nSecret: {SECRET}\r\nEvents: on\r\n\r\n".encode())
    messages = raw.read_until(lambda m: m.event == "FullyBooted")
    assert raw.parser.banner == "Asterisk Call Manager/11.0.0"
    assert [m.event or m.response for m in messages] == ["Success", "SuccessfulAuth", "FullyBooted"]
    assert messages[-1].keys() == ["Event", "Privilege", "Status", "Uptime", "LastReload"]
    assert messages[-1].get("Uptime") == "0"
    raw.send(b"Action: QueueStatus\r\nActionID: s\r\nQueue: vip\r\n\r\n")
    [member] = [m for m in raw.read_until(lambda m: m.event == "QueueStatusComplete") if m.event == "QueueMember"]
    assert (member.get("Paused"), member.get("PausedReason")) == ("0", "")  # the pause did not survive
    raw.close()


def test_queue_status_mid_replay_shows_the_waiting_caller(emulator):
    rec = Recording.load(transcript("3b1_abandon_all_members_paused"))
    items = rec.segments[0].events(skip_login_echo=True)
    upto = next(i for i, r in enumerate(items) if r.message.event == "QueueCallerJoin") + 1
    emulator.play([r.message for r in items[:upto]])
    raw = RawAMI(emulator.port)
    login(raw)
    raw.send(b"Action: QueueStatus\r\nActionID: cap-3\r\nQueue: vip\r\n\r\n")
    mine = [m for m in raw.read_until(lambda m: m.event == "QueueStatusComplete") if m.action_id == "cap-3"]
    expected = [m for m in iter_messages(transcript("3b1_abandon_all_members_paused").read_bytes(), expect_banner=True)
                if m.action_id == "cap-3"]
    assert [m.event or m.response for m in mine] == [m.event or m.response for m in expected]
    for got, want in zip(mine, expected):
        same_shape(got, want)
    entry = next(m for m in mine if m.event == "QueueEntry")
    assert (entry.get("Uniqueid"), entry.get("Priority"), entry.get("ConnectedLineNum")) == (
        "1795344586.32", "10", "unknown")
    raw.close()


def test_actions_before_login_and_without_action(emulator):
    raw = RawAMI(emulator.port)
    raw.send(b"Action: QueueStatus\r\nActionID: a\r\n\r\nActionID: b\r\n\r\n")
    denied, missing = raw.read_until(lambda m: m.action_id == "b")
    assert (denied.response, denied.get("Message")) == ("Error", "Permission denied")
    assert missing.get("Message") == "Missing action in request"
    raw.send(b"Action: Logoff\r\nActionID: c\r\n\r\n")
    [bye] = raw.read_until(lambda m: m.action_id == "c")
    assert bye.fields == [("Response", "Goodbye"), ("ActionID", "c"), ("Message", "Thanks for all the fish.")]
    assert raw.read_to_eof() is not None
    raw.close()
