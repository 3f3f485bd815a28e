"""Running the FastAGI server: on a thread of an all-in-one process
(``start_in_thread``, for ``callcenter serve``), in the foreground until SIGTERM
(``run``, for ``callcenter agi``), or as several worker processes on one listening
socket (``run_workers``, ``callcenter agi --workers N``).

The event loop: uvloop when it is installed (a dependency on every platform it
supports), else the standard library's; ``agi_event_loop`` ("auto", "uvloop",
"asyncio") forces one. Measured at 500 calls/s arriving: server CPU per call 420 →
275 µs for four SET VARIABLEs, 895 → 565 µs for route_call's transport (libuv's C
transports and loop instead of Python ones). Both loops pass the same protocol tests.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import signal
import socket
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from callcenter import heap
from callcenter.agi.registry import Registry
from callcenter.agi.server import FastAGIServer
from callcenter.config import Settings

log = logging.getLogger("callcenter.agi.server")
T = TypeVar("T")

# A worker process gets this long to finish its calls after SIGTERM (its own grace
# period is 5 s, plus the close handshake).
WORKER_STOP_S = 15.0
# How often a worker process checks that its parent is still there.
PARENT_CHECK_S = 0.5


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
                        parent: int | None = None, speech_port: int | None = None) -> None:
    async def main() -> None:
        # The handlers come first: a stop that arrives while the server starts (it may already
        # be answering calls) is the graceful stop, not the signal's default death.
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stopping.set)
        server = FastAGIServer(settings, registry, host=host, port=port, sock=sock, speech_port=speech_port)
        await server.start()
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
    return heap.freeze_startup_objects("FastAGI", log)


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
        process = context.Process(target=_worker_main, args=(settings, registry, sock, os.getpid(), index),
                                  name=f"fastagi-{index}", daemon=False)
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


def _worker_main(settings: Settings, registry: Registry | None, sock: socket.socket, parent: int,
                 index: int = 0) -> None:
    # The parent's handlers (inherited) only set its stop flag; a worker stops through
    # its own event loop's handlers (SIGTERM from the parent, or Ctrl-C to the group).
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, signal.SIG_DFL)
    # ``parent`` is the pid the parent gave before the fork, not os.getppid() here: a
    # parent killed in the instant after the fork would otherwise be taken for init,
    # and the orphan would serve on unsupervised for ever.
    # Each worker hears its own speech steps' audio: its own AudioSocket port (0: any free one).
    speech_port = settings.speech_audiosocket_port + index if settings.speech_audiosocket_port else 0
    _serve_until_signal(settings, registry, sock=sock, parent=parent, speech_port=speech_port)


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
