"""The AMI actions the emulator answers, as Asterisk 22 answers them: Login, Logoff,
Ping, Events, CoreSettings, CoreStatus, Command, QueueStatus, QueueSummary,
CoreShowChannels, QueuePause, QueueAdd, QueueRemove, Hangup, Originate, Redirect and
Bridge; anything
else gets the ``Invalid/unknown command`` error (and a ``RequestBadFormat`` event)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import itertools
import re
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from callcenter.ami.protocol import BANNER_PREFIX, FieldValue, Message, build_message
from callcenter.simulation.ami.state import (
    BUSY,
    DEVICE_INVALID,
    DEVICE_NOT_INUSE,
    DEVICE_UNAVAILABLE,
    NOANSWER,
    PBXState,
    _Channel,
    _event,
    _event_tv,
    _int,
    _Member,
    channel_block,
    member_blob,
)

if TYPE_CHECKING:
    from callcenter.simulation.ami.replay import RecordedMessage

AMI_VERSION = "11.0.0"
ASTERISK_VERSION = "22.10.1"
BANNER = f"{BANNER_PREFIX}{AMI_VERSION}"
VERSION_LINE = (f"Asterisk {ASTERISK_VERSION} built by root @ vm on a x86_64 running Linux "
                "on 2026-11-22 10:19:56 UTC")


class _Session:
    """One AMI connection, as the actions see it."""

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


class ActionHandlers(PBXState):
    """The action side of the emulator. The emulator provides the connection and
    event plumbing these handlers use: ``emit``, ``_spawn``, ``_close_session``, and
    for Login ``_play_login_stream`` and ``_finish_boot``."""

    username: str
    secret: str
    auth_failure_delay_s: float
    originate_ring_s: float
    logins: int
    failed_logins: int
    _booted: bool
    _started: float
    _login_stream: list[RecordedMessage] | None
    _login_waiters: list[tuple[int, asyncio.Future]]

    # --- replies -------------------------------------------------------------------------
    def _reply(self, session: _Session, pairs: Iterable[tuple[str, FieldValue]], request: Message) -> None:
        action_id = request.get("ActionID") or None
        items = list(pairs)
        session.write(build_message([items[0], ("ActionID", action_id), *items[1:]]).to_bytes())

    def _ack(self, session: _Session, request: Message, message: str) -> None:
        self._reply(session, [("Response", "Success"), ("Message", message)], request)

    def _error(self, session: _Session, request: Message, message: str) -> None:
        self._reply(session, [("Response", "Error"), ("Message", message)], request)

    def _list(self, session: _Session, request: Message, message: str, items: list[Message],
              complete: str) -> None:
        action_id = request.get("ActionID") or None
        self._reply(session, [("Response", "Success"), ("EventList", "start"), ("Message", message)], request)
        for item in items:
            session.write(item.to_bytes())
        session.write(build_message([("Event", complete), ("ActionID", action_id), ("EventList", "Complete"),
                                     ("ListItems", len(items))]).to_bytes())

    # --- dispatch ------------------------------------------------------------------------
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
            "redirect": self._act_redirect, "bridge": self._act_bridge,
            "queuechangeprioritycaller": self._act_queue_change_priority_caller,
            "atxfer": self._act_atxfer,
        }

    # --- session and core ------------------------------------------------------------------
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
            output = [(f"No such command '{command}' (type 'core show help {command}' for other possible "
                       "commands)")]
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

    # --- queues and channels ----------------------------------------------------------------
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


    # --- calls -------------------------------------------------------------------------------
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

    def _channel_named(self, name: str) -> _Channel | None:
        return next((c for c in self.channels.values() if c.channel == name), None) if name else None

    async def _act_redirect(self, session: _Session, request: Message) -> None:
        """Redirect (one channel, or two with ExtraChannel) to a dialplan location; the
        bridge they were in ends, as in Asterisk (the console's hold and transfer)."""
        name, extra = request.get("Channel").strip(), request.get("ExtraChannel").strip()
        if not name:
            self._error(session, request, "Channel not specified")
            return
        ch, extra_ch = self._channel_named(name), self._channel_named(extra)
        if ch is None or (extra and extra_ch is None):
            self._error(session, request, "Channel does not exist: " + (extra if ch else name))
            return
        if not request.get("Context").strip() or not request.get("Exten").strip():
            self._error(session, request, "Context and Exten must be given")
            return
        moves = [(ch, request.get("Context"), request.get("Exten"), request.get("Priority") or "1")]
        if extra_ch is not None:
            moves.append((extra_ch, request.get("ExtraContext") or request.get("Context"),
                          request.get("ExtraExten") or request.get("Exten"), request.get("ExtraPriority") or "1"))
        self._ack(session, request, "Dual Redirect successful" if extra_ch else "Redirect successful")
        for moved, context, exten, priority in moves:
            moved.context, moved.exten, moved.priority, moved.bridge_id = context, exten, priority, ""
            self.emit(_event("Newexten", "dialplan,all", [*channel_block(moved), ("Extension", exten),
                                                         ("Application", "NoOp"), ("AppData", "redirect")]))

    async def _act_queue_change_priority_caller(self, session: _Session, request: Message) -> None:
        """As app_queue answers it: the entry's priority changes, no event is sent."""
        queue, caller = request.get("Queue").strip(), request.get("Caller").strip()
        priority = request.get("Priority").strip()
        if not queue or not caller or not priority.lstrip("-").isdigit():
            self._error(session, request, "'Queue', 'Caller' and 'Priority' are required")
            return
        q = self.queues.get(queue)
        entry = next((e for e in q.entries if e.channel == caller), None) if q is not None else None
        if entry is None:
            self._error(session, request, "Unable to change priority caller on queue")
            return
        entry.priority = int(priority)
        self._ack(session, request, "Priority change for caller on queue")

    async def _act_atxfer(self, session: _Session, request: Message) -> None:
        """As manager.c answers it: the feature code and the digits are queued on the
        channel as DTMF (no event here; the bridge carries the transfer out)."""
        name, exten = request.get("Channel").strip(), request.get("Exten").strip()
        if not name:
            self._error(session, request, "No channel specified")
            return
        if not exten:
            self._error(session, request, "No extension specified")
            return
        if self._channel_named(name) is None:
            self._error(session, request, "Channel specified does not exist")
            return
        self._ack(session, request, "Atxfer successfully queued")

    async def _act_bridge(self, session: _Session, request: Message) -> None:
        one, two = self._channel_named(request.get("Channel1").strip()), self._channel_named(request.get("Channel2").strip())
        if one is None or two is None:
            self._error(session, request, "Channel1 does not exist" if one is None else "Channel2 does not exist")
            return
        self._ack(session, request, "Channels have been bridged")
        one.bridge_id = two.bridge_id = f"bridge-{one.uniqueid}"

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
                      caller_name=cid_name or "<unknown>", account=request.get("Account"))
        self.emit(_event("Newchannel", "call,all", channel_block(ch)))
        # Asterisk sets the Originate's variables on the new channel: one VarSet each (3d2).
        for assignment in request.getall("Variable"):
            name, _, value = assignment.partition("=")
            self.emit(_event("VarSet", "dialplan,all", [*channel_block(ch), ("Variable", name.strip()),
                                                        ("Value", value)]))
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
