"""The FastAGI server: one asyncio event loop, one ``asyncio.Protocol`` per call.

Why asyncio: a call spends nearly all its time waiting (for Asterisk's replies, for
the database), and a bare asyncio server measured ~4,300 calls/s on 2 cores where a
thread-per-call server managed ~760. The protocol object parses lines as they arrive,
so an unsolicited ``HANGUP`` is noticed even while the handler is busy in the
database, and no read is ever left pending on a dead peer.

Life of a connection:
  header phase   bytes → ``agi_*`` lines until the empty line (``agi_header_timeout_s``);
                 a peer that closes or stalls here (health check, ``nc -z``, port scan)
                 is dropped without a task ever being created for it;
  command phase  the route's handler runs as one task; each command waits for its
                 reply (``agi_command_timeout_s``); ``HANGUP`` may arrive at any time;
  closing        we half-close, Asterisk answers with ``HANGUP`` and closes (the
                 dialplan continues with AGISTATUS=SUCCESS), or we close after a
                 short wait.
One periodic sweep enforces every timeout, so the hot path arms no timer per command.

The event loop: uvloop when it is installed (a dependency on every platform it
supports), else the standard library's; ``agi_event_loop`` ("auto", "uvloop",
"asyncio") forces one. Measured at 500 calls/s arriving: server CPU per call 420 →
275 µs for four SET VARIABLEs, 895 → 565 µs for route_call's transport (libuv's C
transports and loop instead of Python ones). Both loops pass the same protocol tests.

The database: each server has its own engine, its pool sized to its database threads
(``db_threads``: agi_db_threads, or when it is 0, 2 on SQLite and 8 on PostgreSQL).
On a SQLite file, ``ctx.run_in_transaction`` work (route_call's one transaction per
call) runs on the event-loop thread and goes to a thread only when another
connection holds the write lock (callcenter/agi/inline.py: a hand-off per call cost
more CPU than the queries), and a WalCheckpointer thread takes the WAL checkpoints
the calls' commits would otherwise run. ``run(..., workers=N)`` forks N such servers
on one listening socket, one core each.

Embedding: ``start_in_thread(settings)`` runs the server on its own event-loop thread
(for the all-in-one ``callcenter serve``) and returns a handle with ``.port``,
``.stats()`` and ``.stop()``; ``run(settings)`` serves in the foreground until
SIGTERM/SIGINT (``callcenter agi``).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import multiprocessing
import os
import signal
import socket
import threading
from collections import Counter
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from sqlalchemy import Engine

from callcenter.agi import protocol
from callcenter.agi.channel import AGIChannel, AGIConnectionLost, AGIReply, AGIRequest
from callcenter.agi.inline import InlineTransactions
from callcenter.agi.protocol import (
    COMMON_REPLIES,
    HANGUP_LINE,
    MAX_LINE_BYTES,
    AGIProtocolError,
    HeaderParser,
    ReplyAssembler,
    looks_like_reply,
    parse_reply,
)
from callcenter.agi.registry import AGIContext, Registry, default_registry, executor_runner, run_route
from callcenter.config import Settings
from callcenter.db import WalCheckpointer, engine_for, make_engine, sqlite_path

log = logging.getLogger("callcenter.agi.server")
T = TypeVar("T")

HEADER, COMMANDS, CLOSING, CLOSED = range(4)
# After our half-close Asterisk answers with HANGUP and closes at once; a peer that
# does not is cut off after this long.
CLOSE_WAIT_S = 2.0
# The event loop is probed this often; while it runs later than LOOP_LAG_SHED_S behind,
# new database work is shed (those calls get their fallback route at once).
LOOP_PROBE_S = 0.05
LOOP_LAG_SHED_S = 0.25
# Lines that are neither a reply nor HANGUP, tolerated per call before we hang up on
# the peer (each costs CPU; Asterisk never sends any).
MAX_JUNK_LINES = 256
# Database threads when agi_db_threads is 0 (see db_threads()).
SQLITE_DB_THREADS = 2
POSTGRES_DB_THREADS = 8
# How often the WAL of a SQLite database is checkpointed off the calls' path.
CHECKPOINT_INTERVAL_S = 0.2
# A worker process gets this long to finish its calls after SIGTERM (its own grace
# period is 5 s, plus the close handshake).
WORKER_STOP_S = 15.0
# How often a worker process checks that its parent is still there.
PARENT_CHECK_S = 0.5


class FastAGISession(asyncio.Protocol, AGIChannel):
    """One FastAGI connection: the wire protocol and the AGIChannel the handler uses."""

    def __init__(self, server: FastAGIServer) -> None:
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
        text = data[:end].decode("utf-8", "replace")
        lines = text.split("\n")
        if "\r" in text:
            lines = [line[:-1] if line[-1:] == "\r" else line for line in lines]
        try:
            if self.phase == HEADER:
                taken = self._header.feed_lines(lines)
                if taken is None:
                    return
                self._header_done()
                lines = lines[taken:]
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
    def _header_done(self) -> None:
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
                                 server.inline)
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


class FastAGIServer:
    """Listens, owns the DB thread pool and the timeout sweep, counts outcomes."""

    def __init__(self, settings: Settings, registry: Registry | None = None, *,
                 host: str | None = None, port: int | None = None, sock: socket.socket | None = None) -> None:
        self.settings = settings
        self._sock = sock           # a listening socket shared with other workers
        self.registry = registry if registry is not None else default_registry()
        self.host = settings.agi_host if host is None else host
        self.port = settings.agi_port if port is None else port
        self.stats: Counter[str] = Counter()
        self.loop: asyncio.AbstractEventLoop | None = None
        self._sessions: set[FastAGISession] = set()
        self._server: asyncio.Server | None = None
        self.db_threads = db_threads(settings)
        self._executor = ThreadPoolExecutor(max_workers=self.db_threads, thread_name_prefix="agi-db")
        self.engine, self._owns_engine, self._checkpointer = database_for(settings, self.db_threads)
        self.loop_lag = 0.0
        overloaded = lambda: self.loop_lag > LOOP_LAG_SHED_S  # noqa: E731
        self.runner = executor_runner(self._executor, settings.agi_route_budget_s, self.db_threads,
                                      overloaded=overloaded)
        # SQLite transactions run on the loop thread when they need no lock (see inline.py).
        self.inline = InlineTransactions(self.engine, overloaded) \
            if self._checkpointer is not None else None
        self._sweep_handle: asyncio.TimerHandle | None = None
        self._probe_handle: asyncio.TimerHandle | None = None
        limits = [settings.agi_header_timeout_s, settings.agi_command_timeout_s, CLOSE_WAIT_S]
        self._sweep_every = min(1.0, max(0.02, min(limits) / 4))

    async def start(self) -> None:
        self.loop = asyncio.get_running_loop()
        try:
            if self._sock is not None:
                self._server = await self.loop.create_server(
                    lambda: FastAGISession(self), sock=self._sock, backlog=self.settings.agi_backlog)
            else:
                self._server = await self.loop.create_server(
                    lambda: FastAGISession(self), self.host, self.port,
                    backlog=self.settings.agi_backlog, reuse_address=True)
        except BaseException:
            self._release_database()
            raise
        if self._checkpointer is not None:
            self._checkpointer.start()
        self.port = self._server.sockets[0].getsockname()[1]
        self._sweep_handle = self.loop.call_later(self._sweep_every, self._sweep)
        self._probe_handle = self.loop.call_later(LOOP_PROBE_S, self._probe, self.loop.time() + LOOP_PROBE_S)
        log.info("FastAGI listening on %s:%d (backlog %d, event loop %s, routes: %s)", self.host, self.port,
                 self.settings.agi_backlog, loop_name(self.loop), ", ".join(self.registry.names()) or "none")

    @property
    def active_sessions(self) -> int:
        return len(self._sessions)

    def _probe(self, due: float) -> None:
        now = self.loop.time()
        lag = now - due
        # Rises at once, decays over a few probes: one late tick is not recovery.
        self.loop_lag = lag if lag > self.loop_lag else self.loop_lag * 0.5 + lag * 0.5
        if self.loop_lag > LOOP_LAG_SHED_S:
            self.stats["overload_probes"] += 1
        self._probe_handle = self.loop.call_later(LOOP_PROBE_S, self._probe, now + LOOP_PROBE_S)

    def _sweep(self) -> None:
        now = self.loop.time()
        header_limit = self.settings.agi_header_timeout_s
        command_limit = self.settings.agi_command_timeout_s
        for session in list(self._sessions):
            since = session.waiting_since
            if since is None:
                continue
            phase = session.phase
            limit = header_limit if phase == HEADER else command_limit if phase == COMMANDS else CLOSE_WAIT_S
            if now - since > limit:
                session._timed_out(limit)
        self._sweep_handle = self.loop.call_later(self._sweep_every, self._sweep)

    async def stop(self, grace_s: float = 5.0) -> None:
        """Stop accepting, let running calls finish for ``grace_s``, then cut the rest."""
        if self._server is not None:
            self._server.close()
        for session in list(self._sessions):
            if session.phase == HEADER:
                session.phase = CLOSED
                session.transport.abort()
                self._sessions.discard(session)
        tasks = [s._task for s in self._sessions if s._task is not None and not s._task.done()]
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=grace_s)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=1.0)
        deadline = self.loop.time() + CLOSE_WAIT_S
        while self._sessions and self.loop.time() < deadline:
            await asyncio.sleep(0.01)
        for session in list(self._sessions):
            if session.transport is not None:
                session.transport.abort()
        self._sessions.clear()
        if self._server is not None:
            await self._server.wait_closed()
        for handle in (self._sweep_handle, self._probe_handle):
            if handle is not None:
                handle.cancel()
        _shutdown_executor(self._executor, timeout=grace_s)
        self._release_database()
        log.info("FastAGI server stopped (%s)", dict(self.stats))

    def _release_database(self) -> None:
        if self.inline is not None:
            self.inline.close()
        if self._checkpointer is not None:
            self._checkpointer.stop()
        if self._owns_engine:
            self.engine.dispose()


def db_threads(settings: Settings) -> int:
    """Database threads: ``agi_db_threads``, or per engine when it is 0 (the default).

    SQLite runs one writer at a time and its queries are short: a third thread only
    adds GIL hand-offs and lock waits (measured: 2 threads served more calls than 8).
    PostgreSQL works on its own cores and its round trips wait on the network, so more
    threads overlap more of that waiting.
    """
    if settings.agi_db_threads > 0:
        return settings.agi_db_threads
    return SQLITE_DB_THREADS if settings.is_sqlite else POSTGRES_DB_THREADS


def database_for(settings: Settings, threads: int) -> tuple[Engine, bool, WalCheckpointer | None]:
    """The server's own engine (pool = its database threads, so no connection is ever
    opened and closed per call) and, for a SQLite file, the WAL checkpointer that keeps
    checkpoints out of the calls' commits. Returns (engine, owned, checkpointer)."""
    url = settings.database_url
    path = sqlite_path(url)
    if settings.is_sqlite and path is None:
        return engine_for(url), False, None      # in-memory: one engine is the database
    if path is None:
        return make_engine(url, pool_size=threads, max_overflow=threads), True, None
    checkpointer = WalCheckpointer(path, CHECKPOINT_INTERVAL_S)
    engine = make_engine(url, pool_size=threads, max_overflow=threads,
                         wal_autocheckpoint=WalCheckpointer.SAFETY_PAGES)
    return engine, True, checkpointer


def _shutdown_executor(executor: ThreadPoolExecutor, timeout: float) -> None:
    """Wait for the DB threads to finish their current work, at most ``timeout``."""
    closer = threading.Thread(target=executor.shutdown, kwargs={"wait": True, "cancel_futures": True},
                              name="agi-db-shutdown", daemon=True)
    closer.start()
    closer.join(timeout)


# --- running it -----------------------------------------------------------------------------------

def loop_factory(settings: Settings) -> Callable[[], asyncio.AbstractEventLoop]:
    """The event loop for ``settings.agi_event_loop``: uvloop when installed ("auto"),
    else the standard library's. uvloop's C transports cost a call about half the CPU."""
    if settings.agi_event_loop != "asyncio":
        try:
            import uvloop
        except ImportError:
            if settings.agi_event_loop == "uvloop":
                raise
            log.info("uvloop is not installed; FastAGI runs on asyncio's event loop")
        else:
            return uvloop.new_event_loop
    return standard_event_loop


def standard_event_loop() -> asyncio.AbstractEventLoop:
    """The standard library's event loop, whatever loop policy the process installed."""
    return asyncio.DefaultEventLoopPolicy().new_event_loop()


def loop_name(loop: asyncio.AbstractEventLoop) -> str:
    """"uvloop" or "asyncio": the package whose event loop this is."""
    return type(loop).__module__.partition(".")[0]


def run_loop(main: Callable[[], Coroutine[Any, Any, T]], settings: Settings) -> T:
    """``asyncio.run(main())`` on the event loop chosen by ``loop_factory``."""
    with asyncio.Runner(loop_factory=loop_factory(settings)) as runner:
        return runner.run(main())


class ServerThread:
    """Handle of a FastAGI server running on its own event-loop thread."""

    def __init__(self, settings: Settings, registry: Registry | None, host: str | None, port: int | None):
        self._args = (settings, registry, host, port)
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._grace_s = 5.0
        self.server: FastAGIServer | None = None
        self.thread = threading.Thread(target=self._main, name="fastagi", daemon=True)

    def _main(self) -> None:
        try:
            run_loop(self._serve, self._args[0])
        except BaseException as exc:  # noqa: BLE001 - reported to the starting thread
            self._error = exc
            self._ready.set()

    async def _serve(self) -> None:
        settings, registry, host, port = self._args
        self.server = FastAGIServer(settings, registry, host=host, port=port)
        await self.server.start()
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        self._ready.set()
        await self._stopping.wait()
        await self.server.stop(self._grace_s)

    @property
    def port(self) -> int:
        return self.server.port

    def stats(self) -> dict[str, int]:
        return dict(self.server.stats)

    def stop(self, grace_s: float = 5.0, timeout: float = 15.0) -> None:
        if self._loop is not None and self.thread.is_alive():
            self._grace_s = grace_s
            self._loop.call_soon_threadsafe(self._stopping.set)
        self.thread.join(timeout)


def start_in_thread(settings: Settings, registry: Registry | None = None, *,
                    host: str | None = None, port: int | None = None) -> ServerThread:
    """Start the FastAGI server on a background event-loop thread; returns once it
    listens (raises the bind error otherwise). Stop it with ``handle.stop()``."""
    handle = ServerThread(settings, registry, host, port)
    handle.thread.start()
    handle._ready.wait()
    if handle._error is not None:
        handle.thread.join()
        raise handle._error
    return handle


def run(settings: Settings, registry: Registry | None = None, *,
        host: str | None = None, port: int | None = None, workers: int = 1) -> None:
    """Serve in the foreground until SIGTERM or SIGINT, then stop gracefully.

    ``workers`` > 1: that many processes serve one listening socket (see run_workers)."""
    if workers > 1:
        return run_workers(settings, registry, host=host, port=port, workers=workers)
    _serve_until_signal(settings, registry, host=host, port=port)


def _serve_until_signal(settings: Settings, registry: Registry | None, *, host: str | None = None,
                        port: int | None = None, sock: socket.socket | None = None,
                        parent: int | None = None) -> None:
    async def main() -> None:
        server = FastAGIServer(settings, registry, host=host, port=port, sock=sock)
        await server.start()
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stopping.set)
        if parent is not None:
            _watch_parent(loop, parent, stopping)
        freeze_startup_objects()
        await stopping.wait()
        log.info("FastAGI server stopping")
        await server.stop()

    run_loop(main, settings)


def freeze_startup_objects() -> int:
    """Put everything alive after start-up out of the garbage collector's reach; returns
    how many objects that was.

    Why: the modules, SQLAlchemy's metadata, the phone-number tables and the handlers
    are ~90,000 objects that live as long as the process. A full collection walks them
    all, and on the event-loop thread that is a pause every call in flight waits out
    (measured: 20-26 ms per full pass; after freezing, well under 1 ms). What the calls
    create is still collected as usual. Only for a process that is the FastAGI server
    (``run``): an embedding process (``start_in_thread``) decides for itself.
    """
    gc.collect()
    frozen = len(gc.get_objects())
    gc.freeze()
    log.info("FastAGI: %d start-up objects left out of garbage collection", frozen)
    return frozen


# --- several worker processes ---------------------------------------------------------------------

def listening_socket(settings: Settings, host: str | None = None, port: int | None = None) -> socket.socket:
    """The FastAGI listening socket, bound and listening (backlog agi_backlog)."""
    host = settings.agi_host if host is None else host
    port = settings.agi_port if port is None else port
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(settings.agi_backlog)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def run_workers(settings: Settings, registry: Registry | None = None, *, host: str | None = None,
                port: int | None = None, workers: int = 2, sock: socket.socket | None = None) -> None:
    """``workers`` FastAGI processes on one listening socket, until SIGTERM/SIGINT.

    Why processes: one event loop uses one core (the GIL), and route_call is CPU work.
    The socket is bound here and inherited by forked workers, so they share one accept
    queue: a worker that is busy simply accepts less, and a burst waits in one
    kernel queue of agi_backlog instead of piling up behind one process (as it can
    with SO_REUSEPORT, which hashes each connection to a fixed listener). Each worker
    has its own event loop, database threads, engine and pool (nothing crosses a
    fork). ``sock``: an already listening socket to serve. A worker that dies is replaced; SIGTERM/SIGINT stops every worker
    gracefully (calls in progress finish) and then this process.
    """
    sock = sock if sock is not None else listening_socket(settings, host, port)
    bound_host, bound_port = sock.getsockname()[:2]
    context = multiprocessing.get_context("fork")
    stopping = threading.Event()
    previous = {signum: signal.signal(signum, lambda *_: stopping.set()) for signum in (signal.SIGTERM, signal.SIGINT)}

    def start(index: int) -> multiprocessing.Process:
        process = context.Process(target=_worker_main, args=(settings, registry, sock), name=f"fastagi-{index}",
                                  daemon=False)
        process.start()
        return process

    procs = [start(i) for i in range(workers)]
    log.info("FastAGI: %d worker processes on %s:%d (pids %s)", workers, bound_host, bound_port,
             ", ".join(str(p.pid) for p in procs))
    try:
        while not stopping.wait(0.2):
            for index, process in enumerate(procs):
                if not process.is_alive() and not stopping.is_set():
                    log.error("FastAGI worker %d (pid %s) exited with %s; starting another", index,
                              process.pid, process.exitcode)
                    procs[index] = start(index)
    finally:
        log.info("FastAGI: stopping %d workers", len(procs))
        for process in procs:
            if process.is_alive():
                os.kill(process.pid, signal.SIGTERM)
        for process in procs:
            process.join(WORKER_STOP_S)
            if process.is_alive():
                log.error("FastAGI worker pid %s did not stop in %.0f s; killing it", process.pid, WORKER_STOP_S)
                process.kill()
                process.join()
        sock.close()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        log.info("FastAGI server stopped (%d workers)", len(procs))


def _worker_main(settings: Settings, registry: Registry | None, sock: socket.socket) -> None:
    # The parent's handlers (inherited) only set its stop flag; a worker stops through
    # its own event loop's handlers (SIGTERM from the parent, or Ctrl-C to the group).
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, signal.SIG_DFL)
    _serve_until_signal(settings, registry, sock=sock, parent=os.getppid())


def _watch_parent(loop: asyncio.AbstractEventLoop, parent: int, stopping: asyncio.Event) -> None:
    """Stop (gracefully) once the parent is gone: a parent killed with SIGKILL cannot
    stop its workers, and an orphan would go on taking calls nobody supervises."""
    def check() -> None:
        if os.getppid() != parent:
            log.error("FastAGI worker %d: parent process %d is gone; stopping", os.getpid(), parent)
            stopping.set()
        else:
            loop.call_later(PARENT_CHECK_S, check)

    loop.call_later(PARENT_CHECK_S, check)
