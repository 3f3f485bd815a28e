"""The FastAGI server: one asyncio event loop, one ``asyncio.Protocol`` per call.

Why asyncio: a call spends nearly all its time waiting (for Asterisk's replies, for
the database), and a bare asyncio server measured ~4,300 calls/s on 2 cores where a
thread-per-call server managed ~760. The protocol object parses lines as they arrive,
so an unsolicited ``HANGUP`` is noticed even while the handler is busy in the
database, and no read is ever left pending on a dead peer.



The database: each server has its own engine, its pool sized to its database threads
(``db_threads``: agi_db_threads, or when it is 0, 2 on SQLite and 8 on PostgreSQL).
On a SQLite file, ``ctx.run_in_transaction`` work (route_call's one transaction per
call) runs on the event-loop thread and goes to a thread only when another
connection holds the write lock (callcenter/agi/inline.py: a hand-off per call cost
more CPU than the queries), and a WalCheckpointer thread takes the WAL checkpoints
the calls' commits would otherwise run. ``run(..., workers=N)`` forks N such servers
on one listening socket, one core each.

Running it (a thread of ``callcenter serve``, the foreground of ``callcenter agi``,
several worker processes) is ``callcenter.agi.process``; one connection is
``callcenter.agi.session``.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import Engine

from callcenter.agi.audiosocket import SpeechListener, start_speech, stop_speech
from callcenter.agi.dbwork import executor_runner
from callcenter.agi.handlers import default_registry
from callcenter.agi.inline import InlineTransactions
from callcenter.agi.recorder import CallRecorder
from callcenter.agi.registry import Registry
from callcenter.agi.session import CLOSE_WAIT_S, CLOSED, COMMANDS, HEADER, FastAGISession
from callcenter.config import Settings
from callcenter.db import WalCheckpointer, engine_for, make_engine, sqlite_path

log = logging.getLogger("callcenter.agi.server")

# The event loop is probed this often; while it runs later than the settings'
# agi_overload_lag_s behind, new database work is shed (fallback route at once).
LOOP_PROBE_S = 0.05
# Database threads when agi_db_threads is 0 (see db_threads()).
SQLITE_DB_THREADS = 2
POSTGRES_DB_THREADS = 8
# How often the WAL of a SQLite database is checkpointed off the calls' path.
CHECKPOINT_INTERVAL_S = 0.2


class FastAGIServer:
    """Listens, owns the DB thread pool and the timeout sweep, counts outcomes."""

    def __init__(self, settings: Settings, registry: Registry | None = None, *,
                 host: str | None = None, port: int | None = None, sock: socket.socket | None = None,
                 speech_port: int | None = None) -> None:
        self.settings = settings
        # The AudioSocket listener of speech steps (None: speech off); worker N of several
        # listens on speech_audiosocket_port + N (see callcenter/agi/audiosocket.py).
        self.speech: SpeechListener | None = None
        self._speech_port = speech_port
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
        self.overload_lag_s = settings.agi_overload_lag_s
        overloaded = lambda: self.loop_lag > self.overload_lag_s  # noqa: E731
        self.runner = executor_runner(self._executor, settings.agi_route_budget_s, self.db_threads,
                                      overloaded=overloaded)
        # SQLite transactions run on the loop thread when they need no lock (see inline.py).
        self.inline = InlineTransactions(self.engine, overloaded) \
            if self._checkpointer is not None else None
        # Calls rows are written behind the route, on a thread of their own (recorder.py).
        self.recorder = CallRecorder(self.engine, settings)
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
        self.recorder.start()
        self.speech = await start_speech(self.settings, port=self._speech_port)
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
        if self.loop_lag > self.overload_lag_s:
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
        await stop_speech(self.speech)
        self._release_database()
        log.info("FastAGI server stopped (%s)", dict(self.stats))

    def _release_database(self) -> None:
        if self.recorder.running:
            self.recorder.stop()
        self.stats.update({f"records_{k}": v for k, v in self.recorder.stats.items()})
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


def loop_name(loop: asyncio.AbstractEventLoop) -> str:
    """"uvloop" or "asyncio": the package whose event loop this is."""
    return type(loop).__module__.partition(".")[0]
