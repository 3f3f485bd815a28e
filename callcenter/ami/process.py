"""Running the AMI listener: in a thread of an all-in-one process (``callcenter serve``,
the tests, the demo) or in the foreground until a signal (``callcenter ami``).

Separate from :mod:`callcenter.ami.listener` because how a process hosts the listener
(its own event loop on a thread, signal handlers, making and closing the bus) is not
what the listener does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
from typing import Any, Self

from callcenter import heap
from callcenter.ami.listener import AMIListener
from callcenter.ami.worker import ListenerStats
from callcenter.bus.core import EventBus

log = logging.getLogger(__name__)


class ListenerThread:
    """The listener on a background thread with its own event loop - what an all-in-one
    process (``callcenter serve``) starts next to its web server::

        handle = start_listener_thread(settings, bus)
        ...
        handle.stop()          # logs off, applies what is queued, joins
    """

    def __init__(self, settings, bus: EventBus, **options: Any) -> None:
        self.listener = AMIListener(settings, bus, **options)
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ami-listener", daemon=True)
        self.error: BaseException | None = None

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            task = loop.create_task(self.listener.run())
            loop.call_soon(self._ready.set)
            loop.run_until_complete(task)
        except BaseException as exc:  # reported to whoever joins
            self.error = exc
            log.exception("AMI listener thread failed")
        finally:
            self._ready.set()
            loop.close()

    def start(self) -> ListenerThread:
        self._thread.start()
        self._ready.wait(10)
        return self

    def stop(self, timeout: float = 15.0) -> None:
        self.listener.request_stop()
        self._thread.join(timeout)

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    def _call(self, coro, timeout: float) -> Any:
        loop = self.listener.loop
        if loop is None:
            raise RuntimeError("listener is not running")
        return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout)

    def wait_connected(self, timeout: float = 10.0) -> bool:
        return self._call(self.listener.client.wait_connected(timeout), timeout + 1)

    def sync(self, timeout: float = 10.0, *, bus: bool = True) -> bool:
        return self._call(self.listener.sync(timeout, bus=bus), timeout * 3 + 1)

    @property
    def stats(self) -> ListenerStats:
        return self.listener.stats

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_listener_thread(settings, bus: EventBus, **options: Any) -> ListenerThread:
    """Start the AMI listener in a background thread that shares ``bus`` with the caller."""
    return ListenerThread(settings, bus, **options).start()


def run_listener(settings, bus: EventBus | None = None) -> None:
    """Run the listener in the foreground until SIGTERM/SIGINT (``callcenter ami``)."""
    from callcenter.bus import make_bus

    bus = bus or make_bus(settings)
    listener = AMIListener(settings, bus)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, listener.request_stop)
        heap.freeze_startup_objects("AMI listener", log)
        await listener.run()

    try:
        asyncio.run(main())
    finally:
        bus.close()
