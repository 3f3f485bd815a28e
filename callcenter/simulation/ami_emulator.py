"""A TCP AMI emulator that behaves like the Asterisk 22 in the AMI transcripts.

Used by the tests, by ``callcenter demo`` and by ``bench/screenpop.py``. It listens on a
real socket and speaks AMI exactly as the captures show it:

- banner ``Asterisk Call Manager/11.0.0``; ``Login`` checks the secret (a wrong one is
  answered ``Authentication failed`` after ``auth_failure_delay_s`` - 1 s on the real
  server - and the connection is closed, as in 3d1); ``Events: on``; ``Ping``;
  ``Logoff``; ``Permission denied`` before login; the exact ``Invalid/unknown command``
  error plus a ``RequestBadFormat`` event;
- ``QueueStatus``/``QueueSummary``/``CoreShowChannels`` answer with list events built
  from the emulator's own state (``Name``/``Location`` in QueueMember, ``ActionID`` last in
  queue items and first in CoreShowChannel, as Asterisk writes them);
- ``QueuePause``/``QueueAdd``/``QueueRemove`` change that state and emit
  ``QueueMemberPause``/``Added``/``Removed`` with the real messages and error texts;
- ``Originate`` (async and sync) ends in ``OriginateResponse`` according to the
  endpoint's configured behaviour (answer / busy / noanswer; unknown → Reason 0);
- ``Hangup`` hangs up a known channel (``Channel Hungup``) or says ``No such channel``.

It also replays recorded streams (the transcripts' ``.from_asterisk.bin``, optionally with
the ``.timed.txt`` timing), injects synthetic events with the Asterisk 22 field order
(``agent_called(interface=..., linkedid=..., caller=...)``), and simulates a restart:
``Shutdown`` event, close, connections refused for a while, then the same banner, login
accepted before ``FullyBooted`` (which comes ~0.2 s later with the post-restart field
order). Every event it sends, replayed or synthetic, also updates its state, so a
``QueueStatus`` in the middle of a replay answers what Asterisk would have answered.

``AMIEmulator`` lives on an asyncio loop; ``EmulatorThread`` runs one in a background
thread and exposes every method as a blocking call, for tests and scripts.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import itertools
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from callcenter.ami.protocol import BANNER_PREFIX, FieldValue, Message, MessageParser, build_message

log = logging.getLogger(__name__)

AMI_VERSION = "11.0.0"
ASTERISK_VERSION = "22.10.1"
BANNER = f"{BANNER_PREFIX}{AMI_VERSION}"
VERSION_LINE = (f"Asterisk {ASTERISK_VERSION} built by root @ vm on a x86_64 running Linux "
                "on 2026-11-22 10:19:56 UTC")

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
# recordings
# --------------------------------------------------------------------------------------
@dataclass
class RecordedMessage:
    message: Message
    at: float | None = None  # seconds since the segment's connection opened


@dataclass
class Segment:
    """What Asterisk sent on one TCP connection of a capture."""

    messages: list[RecordedMessage]

    def events(self, *, skip_login_echo: bool) -> list[RecordedMessage]:
        """Spontaneous events: responses and list items for the capture client's own
        actions (anything carrying an ActionID) are left out; ``skip_login_echo`` drops the
        FullyBooted/SuccessfulAuth pair that answered the recorded Login."""
        out: list[RecordedMessage] = []
        leading = skip_login_echo
        for item in self.messages:
            msg = item.message
            if msg.is_response or msg.action_id:
                continue
            if leading and msg.event in ("FullyBooted", "SuccessfulAuth"):
                continue
            leading = False
            out.append(item)
        return out


@dataclass
class Recording:
    name: str
    segments: list[Segment]

    @classmethod
    def load(cls, path: str | Path) -> Recording:
        """Load ``NAME.from_asterisk.bin``; timing comes from ``NAME.timed.txt`` beside it
        when present. A new banner inside the stream starts a new segment (3e1/3e2 span
        the connection before and the one after ``core restart now``)."""
        path = Path(path)
        data = path.read_bytes()
        banner = BANNER_PREFIX.encode()
        starts = [m.start() for m in re.finditer(re.escape(banner), data)
                  if m.start() == 0 or data[m.start() - 4:m.start()] == b"\r\n\r\n"]
        if not starts or starts[0] != 0:
            starts.insert(0, 0)
        segments: list[Segment] = []
        for i, start in enumerate(starts):
            chunk = data[start: starts[i + 1] if i + 1 < len(starts) else len(data)]
            parser = MessageParser(expect_banner=chunk.startswith(banner), max_line=len(chunk) + 1)
            segments.append(Segment([RecordedMessage(m) for m in parser.feed(chunk)]))
        name = path.name.removesuffix(".from_asterisk.bin")
        timed = path.with_name(f"{name}.timed.txt")
        if timed.is_file():
            _attach_timing(segments, timed.read_text("utf-8"))
        return cls(name, segments)

    def all_events(self) -> list[Message]:
        return [r.message for i, s in enumerate(self.segments) for r in s.events(skip_login_echo=i == 0)]


_TIMED_LINE = re.compile(r"^\[\s*([0-9.]+)\] (.)(?: (.*))?$")


def _attach_timing(segments: list[Segment], text: str) -> None:
    """Give each recorded message the time of its first line in the ``.timed.txt``."""
    times_per_segment: list[list[float]] = []
    current: list[float] | None = None
    in_message = False
    for line in text.splitlines():
        match = _TIMED_LINE.match(line)
        if not match or match.group(2) != ">":
            continue
        at, content = float(match.group(1)), match.group(3) or ""
        if not in_message and content.startswith(BANNER_PREFIX):
            current = []
            times_per_segment.append(current)
            continue
        if current is None:
            current = []
            times_per_segment.append(current)
        if content == "":
            in_message = False
            continue
        if not in_message:
            in_message = True
            current.append(at)
    if len(times_per_segment) != len(segments):
        log.warning("timing file does not match the recording (segments %d vs %d); no timing",
                    len(times_per_segment), len(segments))
        return
    for segment, times in zip(segments, times_per_segment):
        if len(times) != len(segment.messages):
            log.warning("timing file does not match the recording (%d vs %d messages); no timing",
                        len(times), len(segment.messages))
            return
    for segment, times in zip(segments, times_per_segment):
        base = times[0] if times else 0.0
        for item, at in zip(segment.messages, times):
            item.at = at - base


# --------------------------------------------------------------------------------------
# the emulator
# --------------------------------------------------------------------------------------
class _Session:
    ids = itertools.count(1)

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.id = next(self.ids)
        self.authenticated = False
        self.events_on = False
        self.username = ""
        self.session_tv = _event_tv()
        peer = writer.get_extra_info("peername") or ("127.0.0.1", 0)
        sock = writer.get_extra_info("sockname") or ("127.0.0.1", 0)
        self.remote = f"IPV4/TCP/{peer[0]}/{peer[1]}"
        self.local = f"IPV4/TCP/{sock[0]}/{sock[1]}"
        self.session_hex = f"0x7f{id(self):010x}"[:14]
        self.closed = False

    def write(self, data: bytes) -> None:
        if not self.closed:
            self.writer.write(data)


@dataclass
class ReceivedAction:
    session: int
    message: Message


class AMIEmulator:
    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, username: str = "callcenter",
                 secret: str = "emulator-secret", queues: Iterable[QueueConfig] | None = None,
                 endpoints: dict[str, str] | None = None, auth_failure_delay_s: float = 1.0,
                 boot_delay_s: float = 0.2, originate_ring_s: float = 0.5) -> None:
        self.host = host
        self.port = port
        self.username = username
        self.secret = secret
        self.queue_configs = list(queues) if queues is not None else capture_queues()
        self.endpoints = dict(endpoints) if endpoints is not None else capture_endpoints()
        self.auth_failure_delay_s = auth_failure_delay_s
        self.boot_delay_s = boot_delay_s
        self.originate_ring_s = originate_ring_s

        self.sessions: list[_Session] = []
        self.actions: list[ReceivedAction] = []
        self.connections = 0
        self.logins = 0
        self.failed_logins = 0
        self.stalled = False  # stop answering actions (to test Ping timeouts)
        self._server: asyncio.AbstractServer | None = None
        self._seq = itertools.count(1)
        self._booted = True
        self._started = time.time()
        self._login_stream: list[RecordedMessage] | None = None
        self._login_stream_done: asyncio.Future | None = None
        self._login_waiters: list[tuple[int, asyncio.Future]] = []
        self._tasks: set[asyncio.Task] = set()
        self.channels: dict[str, _Channel] = {}
        self.queues: dict[str, _Queue] = {}
        self._reset_state()

    # --- state ---------------------------------------------------------------------
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

    # --- server ----------------------------------------------------------------------
    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, self.host, self.port,
                                                  reuse_address=True, backlog=128)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await self._close_server()
        for session in list(self.sessions):
            self._close_session(session)
        await asyncio.sleep(0)

    async def _close_server(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            self._server = None

    def _spawn(self, coro) -> asyncio.Task:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("emulator task failed", exc_info=task.exception())

    def _close_session(self, session: _Session, *, abort: bool = False) -> None:
        if session.closed:
            return
        session.closed = True
        if session in self.sessions:
            self.sessions.remove(session)
        if abort:
            session.writer.transport.abort()
        else:
            session.writer.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        session = _Session(reader, writer)
        self.sessions.append(session)
        self.connections += 1
        session.write(f"{BANNER}\r\n".encode())
        parser = MessageParser()
        try:
            while not session.closed:
                data = await reader.read(65536)
                if not data:
                    break
                for message in parser.feed(data):
                    self.actions.append(ReceivedAction(session.id, message))
                    if self.stalled:
                        continue
                    await self._on_action(session, message)
                    if session.closed:
                        break
        except (ConnectionError, OSError):
            pass
        except Exception:  # noqa: BLE001 - an emulator bug should show, not hang a test
            log.exception("emulator session failed")
        finally:
            self._close_session(session)

    # --- sending -----------------------------------------------------------------------
    def _reply(self, session: _Session, pairs: Iterable[tuple[str, FieldValue]], request: Message) -> None:
        action_id = request.get("ActionID") or None
        items = list(pairs)
        session.write(build_message([items[0], ("ActionID", action_id), *items[1:]]).to_bytes())

    def _ack(self, session: _Session, request: Message, message: str) -> None:
        self._reply(session, [("Response", "Success"), ("Message", message)], request)

    def _error(self, session: _Session, request: Message, message: str) -> None:
        self._reply(session, [("Response", "Error"), ("Message", message)], request)

    def emit(self, message: Message, *, deliver: bool = True) -> Message:
        """Apply an event to the state and send it to every logged-in session with events on."""
        self.apply(message)
        if deliver:
            data = message.to_bytes()
            for session in list(self.sessions):
                if session.authenticated and session.events_on:
                    session.write(data)
        return message

    def emit_many(self, messages: Iterable[Message], *, deliver: bool = True) -> int:
        count = 0
        for message in messages:
            self.emit(message, deliver=deliver)
            count += 1
        return count

    async def drain(self) -> None:
        """Wait until every session's socket buffer is flushed."""
        for session in list(self.sessions):
            if not session.closed:
                with contextlib.suppress(ConnectionError, OSError):
                    await session.writer.drain()

    # --- actions --------------------------------------------------------------------------
    async def _on_action(self, session: _Session, request: Message) -> None:
        action = request.get("Action").strip()
        if not action:
            self._error(session, request, "Missing action in request")
            return
        name = action.lower()
        if not session.authenticated and name not in ("login", "logoff", "challenge"):
            self._error(session, request, "Permission denied")
            return
        handler = self._handlers().get(name)
        if handler is None:
            self._error(session, request, f"Invalid/unknown command: {action}. "
                                          "Use Action: ListCommands to show available commands.")
            if session.events_on:
                session.write(_event("RequestBadFormat", "security,all", [
                    ("EventTV", _event_tv()), ("Severity", "Error"), ("Service", "AMI"),
                    ("EventVersion", 1), ("SessionID", session.session_hex),
                    ("LocalAddress", session.local), ("RemoteAddress", session.remote),
                    ("RequestType", f"Action: {action}"), ("SessionTV", session.session_tv),
                    ("AccountID", session.username)]).to_bytes())
            return
        await handler(session, request)

    def _handlers(self) -> dict[str, Callable[[_Session, Message], Any]]:
        return {
            "login": self._act_login, "logoff": self._act_logoff, "ping": self._act_ping,
            "events": self._act_events, "queuestatus": self._act_queue_status,
            "queuesummary": self._act_queue_summary, "coreshowchannels": self._act_core_show_channels,
            "queuepause": self._act_queue_pause, "queueadd": self._act_queue_add,
            "queueremove": self._act_queue_remove, "originate": self._act_originate,
            "hangup": self._act_hangup, "command": self._act_command,
            "coresettings": self._act_core_settings, "corestatus": self._act_core_status,
        }

    async def _act_login(self, session: _Session, request: Message) -> None:
        if session.authenticated:
            self._ack(session, request, "Already authenticated")
            return
        if request.get("Username") != self.username or request.get("Secret") != self.secret:
            self.failed_logins += 1
            # Asterisk answers a failed login after about a second, then hangs up (3d1).
            await asyncio.sleep(self.auth_failure_delay_s)
            self._error(session, request, "Authentication failed")
            with contextlib.suppress(ConnectionError, OSError):
                await session.writer.drain()
            self._close_session(session)
            return
        session.authenticated = True
        session.username = self.username
        session.events_on = request.get("Events", "on").strip().lower() not in ("off", "no", "false")
        self.logins += 1
        self._ack(session, request, "Authentication accepted")
        stream, self._login_stream = self._login_stream, None
        if stream is not None:
            self._spawn(self._play_login_stream(session, stream))
        elif session.events_on:
            uptime = int(time.time() - self._started)
            if self._booted:
                session.write(_event("FullyBooted", "system,all", [
                    ("Uptime", uptime), ("LastReload", uptime), ("Status", "Fully Booted")]).to_bytes())
            session.write(self._successful_auth(session).to_bytes())
            if not self._booted:
                self._spawn(self._finish_boot())
        for count, waiter in list(self._login_waiters):
            if self.logins >= count and not waiter.done():
                waiter.set_result(self.logins)

    def _successful_auth(self, session: _Session) -> Message:
        return _event("SuccessfulAuth", "security,all", [
            ("EventTV", _event_tv()), ("Severity", "Informational"), ("Service", "AMI"),
            ("EventVersion", 1), ("AccountID", session.username), ("SessionID", session.session_hex),
            ("LocalAddress", session.local), ("RemoteAddress", session.remote),
            ("UsingPassword", 0), ("SessionTV", session.session_tv)])

    async def _finish_boot(self) -> None:
        # After a restart Asterisk accepts the login first and reports FullyBooted a
        # little later, with Status first (3e1, 3e2).
        await asyncio.sleep(self.boot_delay_s)
        if not self._booted:
            self._booted = True
            self.emit(_event("FullyBooted", "system,all",
                             [("Status", "Fully Booted"), ("Uptime", 0), ("LastReload", 0)]))

    async def _play_login_stream(self, session: _Session, stream: list[RecordedMessage]) -> None:
        timing = self._login_stream_timing
        start = time.monotonic()
        base = stream[0].at if stream and stream[0].at is not None else 0.0
        for item in stream:
            if timing and item.at is not None:
                delay = (item.at - base) / self._login_stream_speed - (time.monotonic() - start)
                if delay > 0:
                    await asyncio.sleep(delay)
            self.emit(item.message)
        self._booted = True
        if self._login_stream_done is not None and not self._login_stream_done.done():
            self._login_stream_done.set_result(len(stream))

    async def wait_for_login(self, count: int = 1) -> int:
        """Return once ``count`` logins in total have succeeded."""
        if self.logins >= count:
            return self.logins
        waiter = asyncio.get_running_loop().create_future()
        self._login_waiters.append((count, waiter))
        try:
            return await waiter
        finally:
            self._login_waiters.remove((count, waiter))

    async def _act_logoff(self, session: _Session, request: Message) -> None:
        self._reply(session, [("Response", "Goodbye"), ("Message", "Thanks for all the fish.")], request)
        with contextlib.suppress(ConnectionError, OSError):
            await session.writer.drain()
        self._close_session(session)

    async def _act_ping(self, session: _Session, request: Message) -> None:
        self._reply(session, [("Response", "Success"), ("Ping", "Pong"),
                              ("Timestamp", f"{time.time():.6f}")], request)

    async def _act_events(self, session: _Session, request: Message) -> None:
        mask = request.get("EventMask").strip().lower()
        session.events_on = mask not in ("off", "no", "false", "")
        self._reply(session, [("Response", "Success"), ("Events", "On" if session.events_on else "Off")],
                    request)

    async def _act_core_settings(self, session: _Session, request: Message) -> None:
        self._reply(session, [
            ("Response", "Success"), ("AMIversion", AMI_VERSION), ("AsteriskVersion", ASTERISK_VERSION),
            ("SystemName", ""), ("CoreMaxCalls", 0), ("CoreMaxLoadAvg", "0.000000"), ("CoreRunUser", ""),
            ("CoreRunGroup", ""), ("CoreMaxFilehandles", 4096), ("CoreRealTimeEnabled", "No"),
            ("CoreCDRenabled", "Yes"), ("CoreHTTPenabled", "No"), ("SoundsSearchCustomDir", "No")], request)

    async def _act_core_status(self, session: _Session, request: Message) -> None:
        started = dt.datetime.fromtimestamp(self._started)
        self._reply(session, [
            ("Response", "Success"), ("CoreStartupDate", started.strftime("%Y-%m-%d")),
            ("CoreStartupTime", started.strftime("%H:%M:%S")), ("CoreReloadDate", started.strftime("%Y-%m-%d")),
            ("CoreReloadTime", started.strftime("%H:%M:%S")), ("CoreCurrentCalls", len(self.channels)),
            ("CoreProcessedCalls", next(self._seq))], request)

    async def _act_command(self, session: _Session, request: Message) -> None:
        command = request.get("Command").strip()
        words = command.split()
        if command == "core show version":
            output = [VERSION_LINE]
        elif words[:2] == ["queue", "show"] and len(words) <= 3:
            output = self._queue_show(words[2] if len(words) == 3 else None)
        else:
            output = [f"No such command '{command}' (type 'core show help {command}' for other possible "
                      "commands)"]
        self._reply(session, [("Response", "Success"), ("Message", "Command output follows"),
                              ("Output", output)], request)

    def _queue_show(self, name: str | None) -> list[str]:
        """``queue show`` as app_queue prints it (the capture shows one queue)."""
        device_text = {0: "Unknown", 1: "Not in use", 2: "In use", 3: "Busy", 4: "Invalid", 5: "Unavailable",
                       6: "Ringing", 7: "Ring+Inuse", 8: "On Hold"}
        now_wall, now = time.time(), time.monotonic()
        lines: list[str] = []
        for qname, q in self.queues.items():
            if name and qname != name:
                continue
            cfg = q.config
            perf = 100.0 * q.completed_in_sl / q.completed if q.completed else 0.0
            total = q.completed + q.abandoned
            perf2 = 100.0 * (q.completed_in_sl + q.abandoned_in_sl) / total if total else 0.0
            lines.append(f"{qname} has {len(q.entries)} calls (max {cfg.max or 'unlimited'}) in '{cfg.strategy}' "
                         f"strategy ({q.holdtime}s holdtime, {q.talktime}s talktime), W:{cfg.weight}, "
                         f"C:{q.completed}, A:{q.abandoned}, SL:{perf:.1f}%, SL2:{perf2:.1f}% within "
                         f"{cfg.service_level}s")
            lines.append("   Members: " if q.members else "   No Members")
            for m in q.members.values():
                text = f"      {m.name} ({m.interface})"
                if m.membership == "dynamic":
                    text += " (dynamic)"
                if not m.ringinuse:
                    text += " (ringinuse disabled)"
                if m.paused:
                    text += f" (paused:{m.reason})" if m.reason else " (paused)"
                text += f" ({device_text.get(m.status, 'Unknown')})"
                if m.calls_taken:
                    text += f" has taken {m.calls_taken} calls (last was {int(now_wall - m.last_call)} secs ago)"
                else:
                    text += " has taken no calls yet"
                text += f" (login was {int(now_wall - m.login_time)} secs ago)"
                lines.append(text)
            if q.entries:
                lines.append("   Callers: ")
                for pos, e in enumerate(q.entries, start=1):
                    wait = int(now - e.joined)
                    lines.append(f"      {pos}. {e.channel} (wait: {wait // 60}:{wait % 60:02d}, prio: {e.priority})")
            else:
                lines.append("   No Callers")
            lines.append("")
        if name and not lines:
            return [f"No such queue: {name}."]
        lines.append("")
        return lines

    def _list(self, session: _Session, request: Message, message: str, items: list[Message],
              complete: str) -> None:
        action_id = request.get("ActionID") or None
        self._reply(session, [("Response", "Success"), ("EventList", "start"), ("Message", message)], request)
        for item in items:
            session.write(item.to_bytes())
        session.write(build_message([("Event", complete), ("ActionID", action_id), ("EventList", "Complete"),
                                     ("ListItems", len(items))]).to_bytes())

    async def _act_queue_status(self, session: _Session, request: Message) -> None:
        action_id = request.get("ActionID") or None
        wanted = request.get("Queue").strip()
        items: list[Message] = []
        now = time.monotonic()
        for name, q in self.queues.items():
            if wanted and name != wanted:
                continue
            cfg = q.config
            perf = 100.0 * q.completed_in_sl / q.completed if q.completed else 0.0
            total = q.completed + q.abandoned
            perf2 = 100.0 * (q.completed_in_sl + q.abandoned_in_sl) / total if total else 0.0
            items.append(build_message([
                ("Event", "QueueParams"), ("Queue", name), ("Max", cfg.max), ("Strategy", cfg.strategy),
                ("Calls", len(q.entries)), ("Holdtime", q.holdtime), ("TalkTime", q.talktime),
                ("Completed", q.completed), ("Abandoned", q.abandoned), ("ServiceLevel", cfg.service_level),
                ("ServicelevelPerf", f"{perf:.1f}"), ("ServicelevelPerf2", f"{perf2:.1f}"),
                ("Weight", cfg.weight), ("ActionID", action_id)]))
            for m in q.members.values():
                items.append(build_message([
                    ("Event", "QueueMember"), ("Queue", name), ("Name", m.name), ("Location", m.interface),
                    ("StateInterface", m.state_interface), ("Membership", m.membership),
                    ("Penalty", m.penalty), ("CallsTaken", m.calls_taken), ("LastCall", m.last_call),
                    ("LastPause", m.last_pause), ("LoginTime", m.login_time), ("InCall", m.in_call),
                    ("Status", m.status), ("Paused", m.paused), ("PausedReason", m.reason),
                    ("Wrapuptime", m.wrapuptime), ("ActionID", action_id)]))
            for pos, e in enumerate(q.entries, start=1):
                items.append(build_message([
                    ("Event", "QueueEntry"), ("Queue", name), ("Position", pos), ("Channel", e.channel),
                    ("Uniqueid", e.uniqueid), ("CallerIDNum", e.caller_num), ("CallerIDName", e.caller_name),
                    ("ConnectedLineNum", e.connected_num), ("ConnectedLineName", e.connected_name),
                    ("Wait", int(now - e.joined)), ("Priority", e.priority), ("ActionID", action_id)]))
        self._list(session, request, "Queue status will follow", items, "QueueStatusComplete")

    async def _act_queue_summary(self, session: _Session, request: Message) -> None:
        action_id = request.get("ActionID") or None
        wanted = request.get("Queue").strip()
        items: list[Message] = []
        now = time.monotonic()
        for name, q in self.queues.items():
            if wanted and name != wanted:
                continue
            logged_in = sum(1 for m in q.members.values() if m.status not in (DEVICE_INVALID, DEVICE_UNAVAILABLE))
            available = sum(1 for m in q.members.values()
                            if not m.paused and m.status in (DEVICE_NOT_INUSE, 0))
            longest = max((int(now - e.joined) for e in q.entries), default=0)
            items.append(build_message([
                ("Event", "QueueSummary"), ("Queue", name), ("LoggedIn", logged_in), ("Available", available),
                ("Callers", len(q.entries)), ("HoldTime", q.holdtime), ("TalkTime", q.talktime),
                ("LongestHoldTime", longest), ("ActionID", action_id)]))
        self._list(session, request, "Queue summary will follow", items, "QueueSummaryComplete")

    async def _act_core_show_channels(self, session: _Session, request: Message) -> None:
        action_id = request.get("ActionID") or None
        now = time.monotonic()
        items = []
        for ch in self.channels.values():
            secs = int(now - ch.created)
            items.append(build_message([
                ("Event", "CoreShowChannel"), ("ActionID", action_id), *channel_block(ch),
                ("Application", ch.application), ("ApplicationData", ch.app_data),
                ("Duration", f"{secs // 3600:02d}:{secs // 60 % 60:02d}:{secs % 60:02d}"),
                ("BridgeId", ch.bridge_id)]))
        self._list(session, request, "Channels will follow", items, "CoreShowChannelsComplete")

    async def _act_queue_pause(self, session: _Session, request: Message) -> None:
        interface = request.get("Interface").strip()
        paused_s = request.get("Paused").strip()
        queue = request.get("Queue").strip()
        reason = request.get("Reason")
        if not interface or not paused_s:
            self._error(session, request, "Need 'Interface' and 'Paused' parameters.")
            return
        paused = 1 if paused_s.lower() in ("yes", "true", "y", "t", "1", "on") else 0
        targets = [(name, q.members[interface]) for name, q in self.queues.items()
                   if (not queue or name.lower() == queue.lower()) and interface in q.members]
        if not targets:
            self._error(session, request, "Interface not found")
            return
        self._ack(session, request, "Interface paused successfully" if paused else "Interface unpaused successfully")
        for name, m in targets:
            # app_queue publishes the event even when nothing changes.
            m.paused = paused
            if paused:
                m.last_pause = int(time.time())
            m.reason = reason if paused else ""
            blob = member_blob(name, m)
            if not paused and reason:
                blob = [(k, reason if k == "PausedReason" else v) for k, v in blob]
            self.emit(_event("QueueMemberPause", "agent,all", blob))

    async def _act_queue_add(self, session: _Session, request: Message) -> None:
        queue = request.get("Queue").strip()
        interface = request.get("Interface").strip()
        if not queue:
            self._error(session, request, "'Queue' not specified.")
            return
        if not interface:
            self._error(session, request, "'Interface' not specified.")
            return
        q = self.queues.get(queue)
        if q is None:
            self._error(session, request, "Unable to add interface to queue: No such queue")
            return
        if interface in q.members:
            self._error(session, request, "Unable to add interface: Already there")
            return
        paused_s = request.get("Paused").strip().lower()
        paused = 1 if paused_s in ("yes", "true", "y", "t", "1", "on") else 0
        m = _Member(interface=interface, name=request.get("MemberName").strip() or interface,
                    state_interface=request.get("StateInterface").strip() or interface,
                    membership="dynamic", penalty=max(0, _int(request.get("Penalty"))),
                    login_time=int(time.time()), status=self._device_status(interface), paused=paused,
                    reason=request.get("Reason") if paused else "",
                    wrapuptime=max(0, _int(request.get("Wrapuptime"))))
        self._ack(session, request, "Added interface to queue")
        q.members[interface] = m
        self.emit(_event("QueueMemberAdded", "agent,all", member_blob(queue, m)))

    async def _act_queue_remove(self, session: _Session, request: Message) -> None:
        queue = request.get("Queue").strip()
        interface = request.get("Interface").strip()
        if not queue or not interface:
            self._error(session, request, "Need 'Queue' and 'Interface' parameters.")
            return
        q = self.queues.get(queue)
        if q is None:
            self._error(session, request, "Unable to remove interface from queue: No such queue")
            return
        m = q.members.get(interface)
        if m is None:
            self._error(session, request, "Unable to remove interface: Not there")
            return
        if m.membership != "dynamic":
            self._error(session, request, "Member not dynamic")
            return
        self._ack(session, request, "Removed interface from queue")
        self.emit(_event("QueueMemberRemoved", "agent,all", member_blob(queue, m)))

    async def _act_hangup(self, session: _Session, request: Message) -> None:
        name = request.get("Channel").strip()
        if not name:
            self._error(session, request, "No channel specified")
            return
        ch = next((c for c in self.channels.values() if c.channel == name), None)
        if ch is None:
            self._error(session, request, "No such channel")
            return
        cause = _int(request.get("Cause"), 16) or 16
        self._ack(session, request, "Channel Hungup")
        self.emit(_event("SoftHangupRequest", "call,all", [*channel_block(ch), ("Cause", cause)]))
        self.emit(self.hangup_event(ch, cause, "Normal Clearing" if cause == 16 else "Unknown"))

    async def _act_originate(self, session: _Session, request: Message) -> None:
        resource = request.get("Channel").strip()
        if not resource:
            self._error(session, request, "Channel not specified")
            return
        run_async = request.get("Async").strip().lower() in ("yes", "true", "y", "t", "1", "on")
        timeout_s = max(0.0, _int(request.get("Timeout"), 30000) / 1000.0)
        if run_async:
            self._ack(session, request, "Originate successfully queued")
            self._spawn(self._originate(session, request, resource, timeout_s))
            return
        ok = await self._originate(session, request, resource, timeout_s, send_event=False)
        if ok:
            self._ack(session, request, "Originate successfully queued")
        else:
            self._error(session, request, "Originate failed")

    async def _originate(self, session: _Session, request: Message, resource: str, timeout_s: float,
                         send_event: bool = True) -> bool:
        behaviour = self.endpoints.get(resource)
        context, exten = request.get("Context"), request.get("Exten")
        caller_id = request.get("CallerID")
        cid_match = re.match(r'\s*"?([^"<]*)"?\s*<([^>]*)>', caller_id)
        cid_name, cid_num = (cid_match.group(1).strip(), cid_match.group(2)) if cid_match else ("", caller_id)

        def respond(ok: bool, reason: int, ch: _Channel | None) -> None:
            if not send_event or session.closed:
                return
            session.write(build_message([
                ("Event", "OriginateResponse"), ("Privilege", "call,all"),
                ("ActionID", request.get("ActionID") or None), ("Response", "Success" if ok else "Failure"),
                ("Channel", ch.channel if ok and ch else resource), ("Context", context), ("Exten", exten),
                ("Reason", reason), ("Uniqueid", ch.uniqueid if ok and ch else "<unknown>"),
                ("CallerIDNum", (cid_num or "<unknown>") if ok else "<unknown>"),
                ("CallerIDName", (cid_name or "<unknown>") if ok else "<unknown>")]).to_bytes())

        if behaviour is None:
            respond(False, 0, None)
            return False
        uid = self.new_uniqueid()
        ch = _Channel(channel=f"{resource}-{next(self._seq):08x}", uniqueid=uid, linkedid=uid,
                      context="agents", exten="s", caller_num=cid_num or "<unknown>",
                      caller_name=cid_name or "<unknown>")
        self.emit(_event("Newchannel", "call,all", channel_block(ch)))
        if behaviour == BUSY:
            self.emit(self.hangup_event(ch, 17, "User busy", tech_cause=486))
            respond(False, 0, None)
            return False
        ch.state = 5
        self.emit(_event("Newstate", "call,all", channel_block(ch)))
        if behaviour == NOANSWER:
            await asyncio.sleep(timeout_s)
            self.emit(self.hangup_event(ch, 19, "User alerting, no answer", tech_cause=480))
            respond(False, 3, None)
            return False
        await asyncio.sleep(min(self.originate_ring_s, timeout_s))
        ch.state = 6
        ch.context, ch.exten, ch.priority = context or "", exten or "", request.get("Priority") or "1"
        ch.application = request.get("Application")
        ch.app_data = request.get("Data")
        self.emit(_event("Newstate", "call,all", channel_block(ch)))
        respond(True, 4, ch)
        return True

    # --- state from events (replayed or synthetic) -----------------------------------------
    def apply(self, msg: Message) -> None:
        name = msg.event
        if not name:
            return
        if name == "Newchannel":
            ch = _channel_from_block(msg)
            if ch is not None:
                self.channels[ch.uniqueid] = ch
        elif name in ("Newstate", "NewCallerid", "NewConnectedLine", "Newexten", "VarSet"):
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
        elif name == "BridgeEnter":
            ch = self.channels.get(msg.get("Uniqueid"))
            if ch is not None:
                ch.bridge_id = msg.get("BridgeUniqueid")
        elif name == "BridgeLeave":
            ch = self.channels.get(msg.get("Uniqueid"))
            if ch is not None:
                ch.bridge_id = ""
        elif name == "Hangup":
            self.channels.pop(msg.get("Uniqueid"), None)
        elif name == "QueueCallerJoin":
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
        elif name in ("QueueCallerLeave", "QueueCallerAbandon"):
            q = self._queue(msg.get("Queue"))
            q.entries = [e for e in q.entries if e.uniqueid != msg.get("Uniqueid")]
            if name == "QueueCallerAbandon":
                q.abandoned += 1
                if _int(msg.get("HoldTime")) <= q.config.service_level:
                    q.abandoned_in_sl += 1
        elif name == "AgentConnect":
            q = self._queue(msg.get("Queue"))
            q.holdtime = (q.holdtime * 3 + _int(msg.get("HoldTime"))) // 4
        elif name == "AgentComplete":
            q = self._queue(msg.get("Queue"))
            q.completed += 1
            if _int(msg.get("HoldTime")) <= q.config.service_level:
                q.completed_in_sl += 1
            q.talktime = (q.talktime * 3 + _int(msg.get("TalkTime"))) // 4
        elif name in ("QueueMemberStatus", "QueueMemberPause", "QueueMemberAdded"):
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
        elif name == "QueueMemberRemoved":
            self._queue(msg.get("Queue")).members.pop(msg.get("Interface"), None)

    def _queue(self, name: str) -> _Queue:
        q = self.queues.get(name)
        if q is None:
            q = self.queues[name] = _Queue(QueueConfig(name))
        return q

    # --- replay, outages, restarts ------------------------------------------------------------
    async def replay(self, recording: Recording | str | Path, *, timing: bool = False, speed: float = 1.0,
                     down_s: float = 0.8, events: list[Message] | None = None) -> int:
        """Send a recorded stream to the logged-in sessions. With several segments (a
        restart capture) each later segment plays on the connection made after the
        simulated restart: its recorded SuccessfulAuth/FullyBooted answer the new Login.
        Returns the number of events sent."""
        if not isinstance(recording, Recording):
            recording = Recording.load(recording)
        sent = 0
        for index, segment in enumerate(recording.segments):
            items = segment.events(skip_login_echo=index == 0)
            if index == 0:
                sent += await self._play(items, timing, speed)
                continue
            await self._go_down(down_s, reset=True, notify=False)
            loop = asyncio.get_running_loop()
            self._login_stream_done = loop.create_future()
            self._login_stream_timing, self._login_stream_speed = timing, speed
            self._login_stream = items
            await self._reopen()
            sent += await self._login_stream_done
        await self.drain()
        return sent

    async def play(self, messages: Iterable[Message | RecordedMessage], *, timing: bool = False,
                   speed: float = 1.0) -> int:
        items = [m if isinstance(m, RecordedMessage) else RecordedMessage(m) for m in messages]
        sent = await self._play(items, timing, speed)
        await self.drain()
        return sent

    async def _play(self, items: list[RecordedMessage], timing: bool, speed: float) -> int:
        start = time.monotonic()
        base = next((i.at for i in items if i.at is not None), 0.0)
        for count, item in enumerate(items, start=1):
            if timing and item.at is not None:
                delay = (item.at - base) / speed - (time.monotonic() - start)
                if delay > 0:
                    await self.drain()
                    await asyncio.sleep(delay)
            self.emit(item.message)
            if count % 200 == 0:
                await self.drain()
        return len(items)

    _login_stream_timing = False
    _login_stream_speed = 1.0

    async def _go_down(self, down_s: float, *, reset: bool, notify: bool) -> None:
        if notify:
            self.emit(_event("Shutdown", "system,all", [("Shutdown", "Cleanly"), ("Restart", "True")]))
        await self.drain()
        await asyncio.sleep(0.05)
        await self._close_server()
        for session in list(self.sessions):
            self._close_session(session)
        if reset:
            self._reset_state()
            self._booted = False
            self._started = time.time()
        await asyncio.sleep(down_s)

    async def _reopen(self) -> None:
        self._server = await asyncio.start_server(self._handle, self.host, self.port,
                                                  reuse_address=True, backlog=128)

    async def restart(self, down_s: float = 0.8) -> None:
        """``core restart now``: live calls are hung up (a queued caller is reported as
        abandoned, 3e2), ``Shutdown`` is sent, connections close, connects are refused
        for ``down_s``, then the fresh instance answers with the same banner and loses
        dynamic members and pauses."""
        for q in self.queues.values():
            for entry in list(q.entries):
                ch = self.channels.get(entry.uniqueid)
                if ch is None:
                    continue
                self.emit(_event("SoftHangupRequest", "call,all", [*channel_block(ch), ("Cause", 4)]))
                self.emit(self.queue_caller_event("QueueCallerAbandon", ch, q.config.name, position=1,
                                                  hold_s=int(time.monotonic() - entry.joined)))
                self.emit(self.queue_caller_event("QueueCallerLeave", ch, q.config.name, position=1,
                                                  count=len(q.entries) - 1))
        for ch in list(self.channels.values()):
            self.emit(self.hangup_event(ch, 0, "Unknown"))
        await self._go_down(down_s, reset=True, notify=True)
        await self._reopen()

    async def drop_connections(self, down_s: float = 0.0,
                               meanwhile: Iterable[Message | RecordedMessage] = ()) -> None:
        """The network fails: sockets are reset without a Shutdown; Asterisk keeps running
        (state is kept) and, with ``down_s``, cannot be reached for that long. The
        ``meanwhile`` events happen during the outage: they change the state (what
        QueueStatus and CoreShowChannels answer afterwards) but nobody receives them."""
        for session in list(self.sessions):
            self._close_session(session, abort=True)
        if down_s > 0:
            await self._close_server()
        for item in meanwhile:
            self.apply(item.message if isinstance(item, RecordedMessage) else item)
        if down_s > 0:
            await asyncio.sleep(down_s)
            await self._reopen()

    # --- synthetic events (Asterisk 22 field order) -----------------------------------------------
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


# --------------------------------------------------------------------------------------
# running it from synchronous code
# --------------------------------------------------------------------------------------
class EmulatorThread:
    """An :class:`AMIEmulator` on its own event loop thread. Every emulator method is
    available here as a blocking call (``emu.agent_called(...)``, ``emu.replay(path)``)."""

    def __init__(self, **kwargs: Any) -> None:
        self.emulator = AMIEmulator(**kwargs)
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="ami-emulator", daemon=True)
        self.timeout_s = 60.0

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def start(self) -> EmulatorThread:
        self._thread.start()
        self.call(self.emulator.start)
        return self

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        with contextlib.suppress(Exception):
            self.call(self.emulator.stop)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        self.loop.close()

    def __enter__(self) -> EmulatorThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def host(self) -> str:
        return self.emulator.host

    @property
    def port(self) -> int:
        return self.emulator.port

    def call(self, fn: Callable[..., Any], *args: Any, timeout: float | None = None, **kwargs: Any) -> Any:
        """Run ``fn(*args, **kwargs)`` on the emulator's loop and return its result."""
        async def runner() -> Any:
            result = fn(*args, **kwargs)
            if asyncio.iscoroutine(result):
                result = await result
            return result

        future = asyncio.run_coroutine_threadsafe(runner(), self.loop)
        return future.result(timeout if timeout is not None else self.timeout_s)

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.emulator, name)
        if not callable(attr):
            return attr

        def blocking(*args: Any, timeout: float | None = None, **kwargs: Any) -> Any:
            return self.call(attr, *args, timeout=timeout, **kwargs)

        return blocking
