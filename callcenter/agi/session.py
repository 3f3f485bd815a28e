"""One FastAGI connection: the wire protocol as an ``asyncio.Protocol`` and the
``AGIChannel`` its route handler talks to.

Life of a connection:
  header phase   bytes → ``agi_*`` lines until the empty line (``agi_header_timeout_s``);
                 a peer that closes or stalls here (health check, ``nc -z``, port scan)
                 is dropped without a task ever being created for it;
  command phase  the route's handler runs as one task; each command waits for its
                 reply (``agi_command_timeout_s``); ``HANGUP`` may arrive at any time;
  closing        we half-close, Asterisk answers with ``HANGUP`` and closes (the
                 dialplan continues with AGISTATUS=SUCCESS), or we close after a
                 short wait.
The protocol object parses lines as they arrive, so an unsolicited ``HANGUP`` is
noticed even while the handler is busy in the database, and no read is ever left
pending on a dead peer. The server's one periodic sweep enforces every timeout
(``_timed_out``), so the hot path arms no timer per command.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from typing import Any, Protocol

from sqlalchemy import Engine

from callcenter.agi import protocol
from callcenter.agi.channel import AGIChannel, AGIConnectionLost
from callcenter.agi.context import AGIContext
from callcenter.agi.dbwork import DbRunner
from callcenter.agi.inline import InlineTransactions
from callcenter.agi.protocol import (
    COMMON_REPLIES,
    HANGUP_LINE,
    MAX_LINE_BYTES,
    AGIProtocolError,
    AGIReply,
    AGIRequest,
    HeaderParser,
    ReplyAssembler,
    looks_like_reply,
    parse_reply,
)
from callcenter.agi.recorder import CallRecorder
from callcenter.agi.registry import Registry, run_route
from callcenter.config import Settings

log = logging.getLogger("callcenter.agi.server")

HEADER, COMMANDS, CLOSING, CLOSED = range(4)
# After our half-close Asterisk answers with HANGUP and closes at once; a peer that
# does not is cut off after this long.
CLOSE_WAIT_S = 2.0
# Lines that are neither a reply nor HANGUP, tolerated per call before we hang up on
# the peer (each costs CPU; Asterisk never sends any).
MAX_JUNK_LINES = 256
# After an empty line that came before agi_threadid, how long the header waits for the
# lines a forged newline may have pushed behind it (Asterisk writes its whole header at
# once: they follow within a millisecond).
HEADER_GRACE_S = 0.1


class SessionHost(Protocol):
    """What a session needs from the server that accepted it (``FastAGIServer``)."""

    settings: Settings
    registry: Registry
    runner: DbRunner
    engine: Engine
    inline: InlineTransactions | None
    recorder: CallRecorder | None
    stats: Counter[str]
    loop: asyncio.AbstractEventLoop
    _sessions: set[Any]


class FastAGISession(asyncio.Protocol, AGIChannel):
    """One FastAGI connection: the wire protocol and the AGIChannel the handler uses."""

    def __init__(self, server: SessionHost) -> None:
        self.server = server
        self.loop = server.loop
        self.transport: asyncio.Transport | None = None
        self.request = AGIRequest()
        self.hung_up = False
        self.phase = HEADER
        self.waiting_since: float | None = None   # when we started waiting on the peer
        self.outcome = ""
        self._buf = b""
        self._header_bytes = 0
        self._header: HeaderParser | None = HeaderParser()
        self._assembler = ReplyAssembler()
        self._waiter: asyncio.Future[AGIReply] | None = None
        self._hangup_waiter: asyncio.Future[bool] | None = None
        self._discard = 0           # replies owed to commands whose waiter was cancelled
        self._junk = 0
        self._task: asyncio.Task | None = None
        self._grace: asyncio.TimerHandle | None = None   # waiting after an early empty header line
        self._commands_sent = 0

    # --- asyncio.Protocol -------------------------------------------------------------------
    def connection_made(self, transport) -> None:
        self.transport = transport
        self.waiting_since = self.loop.time()
        self.server._sessions.add(self)

    def data_received(self, data: bytes) -> None:
        buf = self._buf
        if buf:
            data = buf + data
        if self.phase == HEADER:
            self._header_bytes += len(data) - len(buf)
            if self._header_bytes > protocol.MAX_HEADER_BYTES:
                return self._abort("AGI header too large")
        end = data.rfind(b"\n")
        rest = data[end + 1:] if end >= 0 else data
        if len(rest) > MAX_LINE_BYTES:
            return self._abort(f"line longer than {MAX_LINE_BYTES} bytes")
        self._buf = rest
        if end < 0 or self.phase > COMMANDS:
            return            # CLOSING: Asterisk's second HANGUP; nothing more to do with it
        # Complete lines, decoded at once ("\n" never occurs inside a UTF-8 sequence, so
        # this equals decode_line line by line), a stray CR dropped from each.
        text = protocol.decode_lines(data[:end])
        lines = text.split("\n")
        if "\r" in text:
            lines = [line[:-1] if line[-1:] == "\r" else line for line in lines]
        try:
            if self.phase == HEADER:
                lines = self._header_lines(lines)
                if lines is None:
                    return
            command_line = self._command_line
            for line in lines:
                command_line(line)
                if self.phase != COMMANDS:
                    return
        except AGIProtocolError as exc:
            self._abort(str(exc))

    def eof_received(self) -> bool:
        if self.phase == HEADER:
            self.server.stats["header_eof"] += 1
        elif self.phase == COMMANDS:
            self._lost(AGIConnectionLost("Asterisk closed the connection"))
        return False   # let the transport close itself

    def connection_lost(self, exc: Exception | None) -> None:
        if self.phase == COMMANDS:
            self._lost(AGIConnectionLost(f"connection lost: {exc}" if exc else "connection closed"))
        self.phase = CLOSED
        self.waiting_since = None
        if self._task is None or self._task.done():
            self.server._sessions.discard(self)

    # --- header -------------------------------------------------------------------------------
    def _header_lines(self, lines: list[str]) -> list[str] | None:
        """Feed header lines; the lines after the header once it is complete, else None.

        An empty line before ``agi_threadid`` (``early_end``) may be forged by a caller
        name: lines that follow it in the same read resume the header at once; when
        none follow, the header is taken as complete after HEADER_GRACE_S of silence
        (a peer that writes no thread id) or resumed by the next read."""
        header = self._header
        if self._grace is not None:
            self._grace.cancel()
            self._grace = None
            header.resume()
        while True:
            taken = header.feed_lines(lines)
            if taken is None:
                return None
            lines = lines[taken:]
            if not header.early_end:
                break
            if not any(lines):
                self._grace = self.loop.call_later(HEADER_GRACE_S, self._header_done)
                return None
            header.resume()
        self._header_done()
        return lines

    def _header_done(self) -> None:
        self._grace = None
        if self.phase != HEADER or self._header is None:
            return                  # the peer went away while the header waited
        self.request = self._header.request()
        self._header = None
        self.phase = COMMANDS
        self.waiting_since = None
        self.server.stats["sessions"] += 1
        self._task = self.loop.create_task(self._serve())

    # --- replies -------------------------------------------------------------------------------
    def _command_line(self, line: str) -> None:
        assembler = self._assembler
        if not assembler.busy:
            reply = COMMON_REPLIES.get(line)
            if reply is not None:
                return self._deliver(line, reply)
            if line == HANGUP_LINE:
                return self._announce_hangup()
            if not looks_like_reply(line):
                return self._junk_line(line)
        text = assembler.feed(line)
        if text is not None:
            self._deliver(text, None)

    def _deliver(self, text: str, reply: AGIReply | None) -> None:
        """A complete reply (``reply``: already parsed) to the command waiting for it."""
        if self._discard:
            self._discard -= 1
            return
        waiter = self._waiter
        if waiter is None:
            return self._junk_line(text)
        self._waiter = None
        self.waiting_since = None
        if not waiter.done():
            if reply is None:
                try:
                    reply = parse_reply(text)
                except AGIProtocolError as exc:
                    return waiter.set_exception(exc)
            waiter.set_result(reply)

    def _junk_line(self, line: str) -> None:
        # Junk arrives only from a broken peer, or as the tail of a value that carried
        # a newline; it is never a reply to the next command, which is not sent yet.
        self._junk += 1
        if not self._commands_sent and line.startswith("agi_"):
            # Header lines after the header's end: a forged empty line let forged lines
            # pass for the whole header. Handlers look at the anomalies before they act.
            self.request.anomalies.append(f"header line after the end of the header {line[:80]!r}")
        if log.isEnabledFor(logging.DEBUG):
            log.debug("[%s] ignoring unexpected line %r", self.request.get("uniqueid"), line[:120])
        if self._junk > MAX_JUNK_LINES:
            self._abort("too many unexpected lines")

    def _announce_hangup(self) -> None:
        self.hung_up = True
        waiter = self._hangup_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(True)

    def _lost(self, exc: AGIConnectionLost) -> None:
        self.phase = CLOSED
        self.hung_up = True
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)
        self._announce_hangup()

    def _abort(self, reason: str) -> None:
        self.server.stats["protocol_errors"] += 1
        log.warning("[%s] dropping AGI connection: %s", self.request.get("uniqueid") or "-", reason)
        if self.phase == COMMANDS:
            self._lost(AGIConnectionLost(reason))
        self.phase = CLOSED
        if self.transport is not None:
            self.transport.abort()

    # --- AGIChannel -----------------------------------------------------------------------------
    async def _exchange(self, command_line: str) -> AGIReply:
        if self.phase != COMMANDS:
            raise AGIConnectionLost("connection already closed")
        waiter = self.loop.create_future()
        self._waiter = waiter
        self._commands_sent += 1
        self.waiting_since = self.loop.time()
        self.transport.write(command_line.encode("utf-8", "replace") + b"\n")
        try:
            return await waiter
        except asyncio.CancelledError:
            if self._waiter is waiter:
                # The reply will still come: it must not answer the next command.
                self._waiter = None
                self.waiting_since = None
                self._discard += 1
            raise

    async def _wait_hangup(self, timeout: float) -> bool:
        if self.hung_up:
            return True
        waiter = self._hangup_waiter = self.loop.create_future()
        handle = self.loop.call_later(timeout, _resolve, waiter, False)
        try:
            return await waiter
        finally:
            handle.cancel()
            self._hangup_waiter = None

    # --- the call --------------------------------------------------------------------------------
    async def _serve(self) -> None:
        server = self.server
        request = self.request
        uniqueid = request.env.get("uniqueid", "")
        if request.anomalies:
            log.warning("[%s] AGI header carries forged or broken lines: %s",
                        uniqueid or "-", "; ".join(request.anomalies[:6]))
        entry = server.registry.get(request.route)
        try:
            if entry is None:
                log.error("[%s] no AGI route named %r (known: %s)", uniqueid or "-",
                          request.route, ", ".join(server.registry.names()))
                self.outcome = "no_route"
            else:
                ctx = AGIContext(server.settings, uniqueid, server.runner, entry.name, server.engine,
                                 server.inline, server.recorder)
                self.outcome = await run_route(entry, self, ctx)
        except asyncio.CancelledError:
            self.outcome = "cancelled"
            self._close(hard=True)
            raise
        except BaseException:
            self.outcome = "crashed"
            log.exception("[%s] AGI session crashed", uniqueid or "-")
            self._close(hard=True)
            raise
        finally:
            server.stats[self.outcome] += 1
        self._close(hard=False)

    def _close(self, hard: bool) -> None:
        transport = self.transport
        if self.phase == CLOSED or transport is None or transport.is_closing():
            self.phase = CLOSED
            self.server._sessions.discard(self)
            return
        if hard or not transport.can_write_eof():
            self.phase = CLOSED
            transport.close()
            return
        # Half-close: Asterisk sends its second HANGUP and closes; eof_received then
        # lets the transport close. The sweep cuts off a peer that never does.
        self.phase = CLOSING
        self.waiting_since = self.loop.time()
        transport.write_eof()

    def _timed_out(self, limit: float) -> None:
        phase = self.phase
        if phase == HEADER:
            self.server.stats["header_timeouts"] += 1
            log.debug("AGI peer sent no complete header within %.1f s", limit)
        elif phase == COMMANDS:
            self.server.stats["command_timeouts"] += 1
            log.warning("[%s] Asterisk did not answer within %.1f s; closing",
                        self.request.get("uniqueid") or "-", limit)
            self._lost(AGIConnectionLost(f"no reply within {limit:g} s"))
        self.phase = CLOSED
        self.waiting_since = None
        if self.transport is not None:
            self.transport.abort()


def _resolve(future: asyncio.Future, value) -> None:
    if not future.done():
        future.set_result(value)
