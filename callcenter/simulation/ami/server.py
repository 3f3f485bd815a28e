"""``AMIEmulator``: the TCP server that plays Asterisk 22's AMI.

It accepts connections with the real banner, reads actions and answers them
(:mod:`.actions`), keeps the PBX state every event it sends changes (:mod:`.state`),
sends scripted calls (:mod:`.scenarios`), replays recorded streams (:mod:`.replay`)
and simulates outages and ``core restart now``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from callcenter.ami.protocol import Message, MessageParser
from callcenter.simulation.ami.actions import BANNER, ActionHandlers, _Session
from callcenter.simulation.ami.cdr import CdrStore
from callcenter.simulation.ami.replay import RecordedMessage, Recording
from callcenter.simulation.ami.scenarios import Scenarios
from callcenter.simulation.ami.state import (
    QueueConfig,
    _Channel,
    _event,
    _Queue,
    capture_endpoints,
    capture_queues,
    channel_block,
)

log = logging.getLogger(__name__)


@dataclass
class ReceivedAction:
    session: int
    message: Message


class AMIEmulator(ActionHandlers, Scenarios):
    """An Asterisk 22 AMI on a real socket (see :mod:`callcenter.simulation.ami`)."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, username: str = "callcenter",
                 secret: str = "emulator-secret", queues: Iterable[QueueConfig] | None = None,
                 endpoints: dict[str, str] | None = None, auth_failure_delay_s: float = 1.0,
                 boot_delay_s: float = 0.2, originate_ring_s: float = 0.5,
                 cdr_path: str | Path | None = None) -> None:
        self.host = host
        self.port = port
        self.username = username
        self.secret = secret
        self.queue_configs = list(queues) if queues is not None else capture_queues()
        self.endpoints = dict(endpoints) if endpoints is not None else capture_endpoints()
        self.auth_failure_delay_s = auth_failure_delay_s
        self.boot_delay_s = boot_delay_s
        self.originate_ring_s = originate_ring_s
        # Asterisk's own record of the calls (cdr_custom), written whoever listens.
        self.cdr = CdrStore(cdr_path) if cdr_path is not None else None

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
        except Exception:  # an emulator bug should show, not hang a test
            log.exception("emulator session failed")
        finally:
            self._close_session(session)

    # --- sending -----------------------------------------------------------------------
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

    # --- login and boot ------------------------------------------------------------------
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
