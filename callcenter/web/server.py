"""Serving the panel with waitress.

Each open event stream occupies one waitress thread for as long as the console is
open, so ``web_threads`` must cover the agents and supervisors connected to this
process plus a few threads for page requests (the stream registry keeps that reserve
free). ``channel_request_lookahead`` lets waitress tell a stream that its client has
gone (``waitress.client_disconnected``), so a closed tab frees its thread within a
second instead of at the next heartbeat.
"""

from __future__ import annotations

import threading
import time

from flask import Flask
from waitress import wasyncore
from waitress.server import create_server

from callcenter.config import Settings


def make_server(app: Flask, settings: Settings, *, host: str | None = None, port: int | None = None):
    """A waitress server ready to ``run()``; ``close()`` stops it. Port 0 = any free port
    (read it back from ``server.effective_port``)."""
    return create_server(
        app,
        host=settings.web_host if host is None else host,
        port=settings.web_port if port is None else port,
        threads=settings.web_threads,
        channel_request_lookahead=5,
        connection_limit=max(100, settings.web_threads * 2 + 50),
        backlog=1024,
        ident="callcenter",
        clear_untrusted_proxy_headers=True,
    )


class ServerThread:
    """The real waitress server in a background thread (tests, benchmarks, demos).

    ``stop()`` ends open event streams first (they would otherwise hold their threads
    until the clients leave), then the worker threads, then the sockets.
    """

    def __init__(self, app: Flask, settings: Settings, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app = app
        self.server = make_server(app, settings, host=host, port=port)
        self.host = host
        self.port = self.server.effective_port
        self.url = f"http://{host}:{self.port}"
        self._thread = threading.Thread(target=self._run, name="waitress-main", daemon=True)

    def _run(self) -> None:
        try:
            self.server.run()
        except (OSError, ValueError):
            pass  # the sockets were closed under the loop by stop()

    def start(self) -> ServerThread:
        self._thread.start()
        return self

    @property
    def busy_threads(self) -> int:
        """Worker threads currently serving a request (an open stream counts)."""
        dispatcher = self.server.task_dispatcher
        with dispatcher.lock:
            return dispatcher.active_count

    def stop(self, timeout: float = 10.0) -> None:
        panel = self.app.extensions.get("callcenter")
        if panel is not None:
            panel.streams.closing.set()
            deadline = time.monotonic() + timeout
            while panel.streams.active and time.monotonic() < deadline:
                time.sleep(0.05)
        self.server.task_dispatcher.shutdown(timeout=timeout)
        wasyncore.close_all(self.server._map)
        self._thread.join(timeout)

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
