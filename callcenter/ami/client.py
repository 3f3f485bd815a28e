"""A long-running asyncio AMI client: connect, log in, read events, send actions, reconnect.

Why our own client (measured against ``callcenter.simulation.ami``, see the README):
pyst2's manager shares a mutable default between calls (duplicate ActionIDs) and races
in ``close()``; panoramisk 1.4's Manager never resolves the future of a ``QueueAdd``
(it waits for a list that never comes), decodes each TCP read separately with
``errors='ignore'`` (a Chinese character split across two reads disappears), retries a
refused connection every 2 s for ever with no backoff and no jitter, turns a wrong
secret into a silent reconnect loop, and never notices a socket that stopped answering
``Ping``. What we need is small: one reader task, ActionID futures, ``EventList``
collection and a reconnect loop.

Behaviour:
- ``run()`` keeps a session alive until ``close()``: connect, check the banner
  (``Asterisk Call Manager/...``), ``Login`` with ``Events: on``, read until EOF, then
  wait (exponential backoff with jitter, capped at ``reconnect_max_s``) and start over.
  A wrong secret is an :class:`AMIAuthError`, logged at ERROR on every attempt and
  retried with the same backoff (Asterisk answers it after ~1 s and hangs up).
- ``action()`` sends one action with a fresh ActionID and returns an
  :class:`ActionResult`: the response, and for list actions (``EventList: start``) every
  item event up to the ``...Complete`` one.
- ``originate()`` with ``Async: true`` also waits for the ``OriginateResponse`` event
  carrying the same ActionID.
- A ``Ping`` every ``ping_interval_s``; no answer within ``ping_timeout_s`` drops the
  connection (a half-open TCP socket is otherwise silent for hours).
- Events without an ActionID go to ``on_event(message)``, called on the event loop in
  arrival order; it must not block (the listener only queues them).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from callcenter.ami.protocol import (
    AMIProtocolError,
    FieldValue,
    Message,
    MessageParser,
    banner_version,
    format_action,
)

log = logging.getLogger(__name__)

SUCCESS_RESPONSES = ("success", "goodbye", "follows")


class AMIError(Exception):
    """Base class of every AMI client error."""


class AMIConnectionError(AMIError):
    """Not connected, or the connection was lost before the answer came."""


class AMIAuthError(AMIError):
    """Asterisk refused the Login (wrong username or secret, or not permitted)."""


class AMITimeout(AMIError):
    """No answer in time."""


@dataclass
class ActionResult:
    response: Message
    events: list[Message] = field(default_factory=list)
    complete: Message | None = None

    @property
    def success(self) -> bool:
        return self.response.response.lower() in SUCCESS_RESPONSES

    @property
    def message(self) -> str:
        return self.response.get("Message")


@dataclass
class OriginateResult:
    """``Response``/``Reason`` of the OriginateResponse event (Reason 4 = answered)."""

    accepted: ActionResult
    event: Message | None

    @property
    def success(self) -> bool:
        if self.event is None:
            return self.accepted.success
        return self.event.get("Response").lower() == "success"

    @property
    def reason(self) -> int | None:
        if self.event is None:
            return None
        try:
            return int(self.event.get("Reason"))
        except ValueError:
            return None

    @property
    def channel(self) -> str:
        return self.event.get("Channel") if self.event is not None else ""

    @property
    def uniqueid(self) -> str:
        return self.event.get("Uniqueid") if self.event is not None else ""


@dataclass
class ClientStats:
    connect_attempts: int = 0
    connections: int = 0
    logins: int = 0
    login_failures: int = 0
    disconnects: int = 0
    events: int = 0
    malformed: int = 0
    recoded: int = 0           # messages kept after a field needed another encoding
    ping_timeouts: int = 0
    last_error: str = ""


class Backoff:
    """Exponential backoff with jitter: attempt n waits between half and all of
    ``min(cap, base * 2**n)`` seconds. The lower half-bound keeps a refused port from
    turning into a busy loop; the jitter keeps many clients from reconnecting in step."""

    def __init__(self, base: float, cap: float, rng: Callable[[], float] = random.random) -> None:
        if base <= 0 or cap < base:
            raise ValueError("backoff needs 0 < base <= cap")
        self.base = base
        self.cap = cap
        self._rng = rng
        self.attempt = 0

    def next_delay(self) -> float:
        ceiling = min(self.cap, self.base * (2 ** min(self.attempt, 30)))
        self.attempt += 1
        return ceiling * (0.5 + 0.5 * self._rng())

    def reset(self) -> None:
        self.attempt = 0


@dataclass
class _Pending:
    future: asyncio.Future
    response: Message | None = None
    items: list[Message] = field(default_factory=list)
    listing: bool = False
    # Async Originate: keep waiting after the response for this event name.
    wait_event: str = ""


class AMIClient:
    def __init__(self, host: str, port: int, username: str, secret: str, *,
                 events: str = "on",
                 reconnect_min_s: float = 0.5,
                 reconnect_max_s: float = 30.0,
                 ping_interval_s: float = 20.0,
                 ping_timeout_s: float = 5.0,
                 connect_timeout_s: float = 5.0,
                 login_timeout_s: float = 10.0,
                 action_timeout_s: float = 10.0,
                 stable_after_s: float = 5.0,
                 on_event: Callable[[Message], Any] | None = None,
                 on_connect: Callable[[AMIClient], Any] | None = None,
                 on_disconnect: Callable[[AMIClient, str], Any] | None = None,
                 rng: Callable[[], float] = random.random,
                 unreachable_hint: str = "") -> None:
        self.host = host
        self.port = port
        self.username = username
        self._secret = secret
        self.events = events
        self.ping_interval_s = ping_interval_s
        self.ping_timeout_s = ping_timeout_s
        self.connect_timeout_s = connect_timeout_s
        self.login_timeout_s = login_timeout_s
        self.action_timeout_s = action_timeout_s
        self.stable_after_s = stable_after_s
        self.backoff = Backoff(reconnect_min_s, max(reconnect_min_s, reconnect_max_s), rng)
        self.on_event = on_event
        self.on_connect = on_connect
        self.on_disconnect = on_disconnect
        self.stats = ClientStats()
        self.server_version: str | None = None
        self.shutdown_seen: Message | None = None
        # An Asterisk that is not there (yet) is said once, with this hint (e.g. how to
        # run without it); the retries that follow are logged at debug level only.
        self.unreachable_hint = unreachable_hint
        self._unreachable_said = False

        # Unique per client object and process: ActionIDs never collide across
        # reconnects or with another client on the same Asterisk.
        self._id_prefix = f"cc{os.getpid()}{random.getrandbits(24):06x}"
        self._ids = itertools.count(1)
        self._pending: dict[str, _Pending] = {}
        self._writer: asyncio.StreamWriter | None = None
        self._write_lock: asyncio.Lock | None = None
        self._logged_in: asyncio.Event | None = None
        self._wakeup: asyncio.Event | None = None
        self._closing = False
        self._task_ping: asyncio.Task | None = None
        self._drop_reason = ""

    # --- lifecycle --------------------------------------------------------------
    @property
    def connected(self) -> bool:
        return self._logged_in is not None and self._logged_in.is_set()

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"

    def _ensure_loop_objects(self) -> None:
        if self._logged_in is None:
            self._logged_in = asyncio.Event()
            self._wakeup = asyncio.Event()
            self._write_lock = asyncio.Lock()

    async def run(self) -> None:
        """Stay connected until :meth:`close`; never raises for connection problems."""
        self._ensure_loop_objects()
        while not self._closing:
            self.stats.connect_attempts += 1
            started = time.monotonic()
            logged_in = False
            reason = ""
            try:
                logged_in = await self._session()
                reason = self._drop_reason or "connection closed by Asterisk"
                if self.shutdown_seen is not None:
                    reason += (f" after Shutdown ({self.shutdown_seen.get('Shutdown')},"
                               f" restart={self.shutdown_seen.get('Restart')})")
            except AMIAuthError as exc:
                self.stats.login_failures += 1
                reason = f"login refused: {exc}"
            except (OSError, asyncio.TimeoutError, AMIProtocolError, AMIConnectionError, AMITimeout) as exc:
                reason = f"{exc.__class__.__name__}: {exc}" if str(exc) else exc.__class__.__name__
            finally:
                was_up = self._teardown(reason or "stopped")
            if self._closing:
                break
            self.stats.last_error = reason
            if logged_in and time.monotonic() - started >= self.stable_after_s:
                self.backoff.reset()
            delay = self.backoff.next_delay()
            if reason.startswith("login refused"):
                log.error("AMI login as %r on %s was refused (%s). Check ami_username/ami_secret "
                          "against manager.conf; retrying in %.1f s", self.username, self.where,
                          reason.split(": ", 1)[-1], delay)
            elif was_up:
                log.warning("AMI %s: %s; reconnecting in %.1f s", self.where, reason, delay)
            elif logged_in or not self._unreachable_said:
                self._unreachable_said = True
                log.warning("AMI %s unreachable (%s); retrying quietly, at most every %.0f s, until it answers%s",
                            self.where, reason, self.backoff.cap,
                            f" ({self.unreachable_hint})" if self.unreachable_hint else "")
            else:
                log.debug("AMI %s still unreachable (%s); retrying in %.1f s", self.where, reason, delay)
            await self._sleep(delay)

    async def _sleep(self, delay: float) -> None:
        assert self._wakeup is not None
        self._wakeup.clear()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._wakeup.wait(), delay)

    async def close(self, logoff: bool = True) -> None:
        """Stop reconnecting; send Logoff when logged in; close the socket."""
        self._ensure_loop_objects()
        self._closing = True
        assert self._wakeup is not None
        self._wakeup.set()
        if logoff and self.connected:
            with contextlib.suppress(AMIError, OSError, asyncio.TimeoutError):
                await self.action("Logoff", timeout=2.0)
        if self._writer is not None:
            self._writer.close()

    async def wait_connected(self, timeout: float | None = None) -> bool:
        self._ensure_loop_objects()
        assert self._logged_in is not None
        if self._logged_in.is_set():
            return True
        try:
            await asyncio.wait_for(self._logged_in.wait(), timeout)
        except asyncio.TimeoutError:
            return False
        return True

    # --- one connection -----------------------------------------------------------
    async def _session(self) -> bool:
        self.shutdown_seen = None
        self._drop_reason = ""
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(self.host, self.port, limit=2 ** 20), self.connect_timeout_s)
        self.stats.connections += 1
        self._writer = writer
        parser = MessageParser(expect_banner=True)
        # The banner comes first; Login may be answered in the same read.
        early: list[Message] = []
        deadline = time.monotonic() + self.login_timeout_s
        while parser.banner is None:
            data = await asyncio.wait_for(reader.read(65536), max(0.01, deadline - time.monotonic()))
            if not data:
                raise AMIConnectionError("EOF before the AMI banner")
            early.extend(parser.feed(data))
        version = banner_version(parser.banner)
        if version is None:
            raise AMIProtocolError(f"not an AMI server: first line {parser.banner[:80]!r}")
        self.server_version = version
        if not version.split(".")[0].isdigit() or int(version.split(".")[0]) < 2:
            log.warning("AMI %s speaks version %s; queue events are named for AMI 2.0 and "
                        "later (Asterisk 12+)", self.where, version)

        leftover = await self._login(reader, parser, early)
        self.stats.logins += 1
        assert self._logged_in is not None
        self._logged_in.set()
        log.info("AMI logged in to %s as %r (AMI %s)", self.where, self.username, version)
        self._unreachable_said = False  # a later outage is reported again
        # Before any event of this connection is dispatched: the listener marks the new
        # connection and schedules its reconciliation here.
        if self.on_connect is not None:
            try:
                result = self.on_connect(self)
                if asyncio.iscoroutine(result):
                    asyncio.ensure_future(result)
            except Exception:  # noqa: BLE001 - a callback bug must not kill the session
                log.exception("AMI on_connect callback failed")
        if self.ping_interval_s > 0:
            self._task_ping = asyncio.ensure_future(self._ping_loop())
        try:
            await self._read_loop(reader, parser, leftover)
        finally:
            if self._task_ping is not None:
                self._task_ping.cancel()
                self._task_ping = None
        return True

    async def _login(self, reader: asyncio.StreamReader, parser: MessageParser,
                     early: list[Message]) -> list[Message]:
        """Send Login and read until its answer; return what arrived after it."""
        action_id = self.next_action_id()
        future = asyncio.get_running_loop().create_future()
        self._pending[action_id] = _Pending(future)
        assert self._writer is not None
        self._writer.write(format_action("Login", action_id, {
            "Username": self.username, "Secret": self._secret, "Events": self.events}))
        await self._writer.drain()
        deadline = time.monotonic() + self.login_timeout_s
        backlog = list(early)
        try:
            while not future.done():
                while backlog and not future.done():
                    self._dispatch(backlog.pop(0))
                if future.done():
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AMITimeout(f"no answer to Login within {self.login_timeout_s:.1f} s")
                data = await asyncio.wait_for(reader.read(65536), remaining)
                if not data:
                    raise AMIConnectionError("connection closed during Login")
                backlog.extend(parser.feed(data))
        finally:
            self._pending.pop(action_id, None)
        result: ActionResult = future.result()
        if not result.success:
            raise AMIAuthError(result.message or result.response.response or "no reason given")
        return backlog

    async def _read_loop(self, reader: asyncio.StreamReader, parser: MessageParser,
                         early: list[Message]) -> None:
        try:
            for message in early:
                self._dispatch(message)
            while True:
                data = await reader.read(65536)
                if not data:
                    return
                for message in parser.feed(data):
                    self._dispatch(message)
        finally:
            # Nothing more will be answered on this socket.
            self._fail_pending("connection closed")

    def _teardown(self, reason: str) -> bool:
        was_up = self.connected
        if self._logged_in is not None:
            self._logged_in.clear()
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        self._fail_pending(reason)
        if was_up:
            self.stats.disconnects += 1
            if self.on_disconnect is not None:
                try:
                    self.on_disconnect(self, reason)
                except Exception:  # noqa: BLE001
                    log.exception("AMI on_disconnect callback failed")
        return was_up

    def _fail_pending(self, reason: str) -> None:
        pending, self._pending = self._pending, {}
        for item in pending.values():
            if not item.future.done():
                item.future.set_exception(AMIConnectionError(f"AMI connection lost ({reason})"))

    async def _ping_loop(self) -> None:
        while True:
            await asyncio.sleep(self.ping_interval_s)
            try:
                await self._send("Ping", {}, timeout=self.ping_timeout_s)
            except AMITimeout:
                self.stats.ping_timeouts += 1
                log.warning("AMI %s: no answer to Ping within %.1f s; dropping the connection",
                            self.where, self.ping_timeout_s)
                self._drop_reason = f"no answer to Ping within {self.ping_timeout_s:.1f} s"
                if self._writer is not None:
                    self._writer.transport.abort()
                return
            except AMIConnectionError:
                return

    # --- incoming -------------------------------------------------------------------
    def _dispatch(self, message: Message) -> None:
        if message.broken:
            self.stats.malformed += 1
            log.warning("AMI %s: malformed message skipped (%s): %s", self.where,
                        "; ".join(message.defects), message.fields[:4])
            return
        if message.defects:
            self.stats.recoded += 1
            log.info("AMI %s: %s (kept)", self.where, "; ".join(message.defects))
        action_id = message.action_id
        # OriginateResponse is an event with a "Response:" field: Event decides.
        if message.is_response and not message.is_event:
            self._on_response(action_id, message)
            return
        if not message.is_event:
            self.stats.malformed += 1
            log.warning("AMI %s: message with neither Event nor Response skipped: %s",
                        self.where, message.fields[:4])
            return
        if action_id and action_id in self._pending:
            self._on_action_event(action_id, message)
            return
        if action_id and (message.get("EventList") or action_id.startswith(self._id_prefix)):
            # A list item of an action that already timed out: not a spontaneous event.
            return
        self.stats.events += 1
        if message.event == "Shutdown":
            self.shutdown_seen = message
            log.warning("AMI %s: Asterisk is shutting down (Shutdown: %s, Restart: %s)", self.where,
                        message.get("Shutdown"), message.get("Restart"))
        if self.on_event is not None:
            try:
                self.on_event(message)
            except Exception:  # noqa: BLE001 - one bad handler must not stop the reader
                log.exception("AMI event handler failed on %r", message)

    def _on_response(self, action_id: str, message: Message) -> None:
        pending = self._pending.get(action_id)
        if pending is None:
            log.debug("AMI response for unknown ActionID %r ignored", action_id)
            return
        ok = message.response.lower() in SUCCESS_RESPONSES
        if ok and message.get("EventList").lower() == "start":
            pending.response = message
            pending.listing = True
            return
        if ok and pending.wait_event:
            pending.response = message
            return
        self._resolve(action_id, ActionResult(message))

    def _on_action_event(self, action_id: str, message: Message) -> None:
        pending = self._pending[action_id]
        if pending.listing:
            if message.get("EventList").lower() == "complete":
                assert pending.response is not None
                self._resolve(action_id, ActionResult(pending.response, pending.items, message))
            else:
                pending.items.append(message)
        elif pending.wait_event and message.event == pending.wait_event:
            response = pending.response or Message([("Response", "Success")])
            self._resolve(action_id, ActionResult(response, [message]))
        else:
            pending.items.append(message)

    def _resolve(self, action_id: str, result: ActionResult) -> None:
        pending = self._pending.pop(action_id, None)
        if pending is not None and not pending.future.done():
            pending.future.set_result(result)

    # --- outgoing ---------------------------------------------------------------------
    def next_action_id(self) -> str:
        return f"{self._id_prefix}-{next(self._ids)}"

    async def _send(self, action: str, fields: Mapping[str, FieldValue], *, timeout: float | None,
                    require_login: bool = True, wait_event: str = "", action_id: str | None = None) -> ActionResult:
        self._ensure_loop_objects()
        if self._writer is None or (require_login and not self.connected):
            raise AMIConnectionError(f"not connected to AMI {self.where}")
        action_id = action_id or self.next_action_id()
        data = format_action(action, action_id, fields)
        loop = asyncio.get_running_loop()
        pending = _Pending(loop.create_future(), wait_event=wait_event)
        self._pending[action_id] = pending
        try:
            assert self._write_lock is not None
            async with self._write_lock:
                writer = self._writer
                if writer is None:
                    raise AMIConnectionError(f"not connected to AMI {self.where}")
                writer.write(data)
                await writer.drain()
            return await asyncio.wait_for(asyncio.shield(pending.future),
                                          timeout if timeout is not None else self.action_timeout_s)
        except asyncio.TimeoutError:
            raise AMITimeout(f"no answer to {action} within "
                             f"{timeout if timeout is not None else self.action_timeout_s:.1f} s") from None
        except (ConnectionError, OSError) as exc:
            raise AMIConnectionError(f"AMI write failed: {exc}") from None
        finally:
            self._pending.pop(action_id, None)

    async def action(self, action: str, fields: Mapping[str, FieldValue] | None = None, *,
                     timeout: float | None = None) -> ActionResult:
        """Send one action and wait for its answer (the whole list for list actions)."""
        return await self._send(action, fields or {}, timeout=timeout)

    async def ping(self) -> ActionResult:
        return await self.action("Ping")

    async def queue_pause(self, interface: str, paused: bool, *, reason: str | None = None,
                          queue: str | None = None) -> ActionResult:
        return await self.action("QueuePause", {"Queue": queue or None, "Interface": interface,
                                                "Paused": bool(paused), "Reason": reason or None})

    async def queue_add(self, queue: str, interface: str, *, member_name: str | None = None,
                        penalty: int | None = None, paused: bool | None = None,
                        reason: str | None = None, state_interface: str | None = None) -> ActionResult:
        return await self.action("QueueAdd", {
            "Queue": queue, "Interface": interface, "MemberName": member_name or None,
            "Penalty": penalty, "Paused": paused, "Reason": reason or None,
            "StateInterface": state_interface or None})

    async def queue_remove(self, queue: str, interface: str) -> ActionResult:
        return await self.action("QueueRemove", {"Queue": queue, "Interface": interface})

    async def queue_status(self, queue: str | None = None, member: str | None = None) -> ActionResult:
        return await self.action("QueueStatus", {"Queue": queue, "Member": member})

    async def queue_summary(self, queue: str | None = None) -> ActionResult:
        return await self.action("QueueSummary", {"Queue": queue})

    async def core_show_channels(self) -> ActionResult:
        return await self.action("CoreShowChannels")

    async def hangup(self, channel: str, cause: int | None = None) -> ActionResult:
        return await self.action("Hangup", {"Channel": channel, "Cause": cause})

    async def command(self, command: str) -> ActionResult:
        return await self.action("Command", {"Command": command})

    async def originate(self, channel: str, *, context: str | None = None, exten: str | None = None,
                        priority: int | str | None = None, application: str | None = None,
                        data: str | None = None, timeout_ms: int = 30000, caller_id: str | None = None,
                        variables: Mapping[str, str] | None = None, account: str | None = None,
                        run_async: bool = True, action_id: str | None = None) -> OriginateResult:
        """Originate a call. Async (the default) returns once ``OriginateResponse`` arrives:
        ``success`` with Reason 4 when answered; Reason 0 (busy, unknown endpoint) or 3 (no
        answer) on failure - Asterisk 22 reports a 486 as Reason 0, not 5. ``action_id``:
        the caller's own (unique) ActionID, e.g. one naming the survey attempt."""
        fields: dict[str, FieldValue] = {
            "Channel": channel, "Context": context, "Exten": exten, "Priority": priority,
            "Application": application, "Data": data, "Timeout": timeout_ms,
            "CallerID": caller_id, "Account": account,
            "Variable": [f"{k}={v}" for k, v in (variables or {}).items()] or None,
        }
        wait = timeout_ms / 1000.0 + self.action_timeout_s
        if not run_async:
            result = await self._send("Originate", fields, timeout=wait, action_id=action_id)
            return OriginateResult(result, None)
        fields["Async"] = True
        result = await self._send("Originate", fields, timeout=wait, wait_event="OriginateResponse",
                                  action_id=action_id)
        if not result.success or not result.events:
            return OriginateResult(result, None)
        return OriginateResult(ActionResult(result.response), result.events[0])

