"""``EmulatorThread``: an AMI emulator run from synchronous code (tests, scripts)."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from typing import Any, Self

from callcenter.simulation.ami.server import AMIEmulator


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

    def __enter__(self) -> Self:
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
