"""Serving the panel with waitress.

Each open event stream occupies one waitress thread for as long as the console is
open, so ``web_threads`` must cover the agents and supervisors connected to this
process plus a few threads for page requests (the stream registry keeps that reserve
free). ``channel_request_lookahead`` lets waitress tell a stream that its client has
gone (``waitress.client_disconnected``), so a closed tab frees its thread within a
second instead of at the next heartbeat.
"""

from __future__ import annotations

from flask import Flask
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
