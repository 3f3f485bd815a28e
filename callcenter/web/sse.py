"""Server-Sent Events plumbing: wire format, the registry of open streams, and the
loop that turns bus messages into a stream.

Why SSE and not WebSocket: the pop travels one way (server → browser; the browser's
own actions are ordinary CSRF-protected POSTs), it is plain HTTP through any proxy and
through waitress's thread pool without an upgrade handshake, and ``EventSource``
reconnects by itself, sending ``Last-Event-ID`` so the server can replay what was
missed.

Each open stream holds one waitress worker thread. The registry caps the number of
streams below ``web_threads`` so ordinary page requests always find a free thread, a
comment line goes out every ``heartbeat_s`` seconds (proxies and browsers keep the
connection; a vanished client is noticed at the latest at the next write), and the
stream ends as soon as waitress reports the client gone.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from callcenter.bus.core import Event, Subscription

RETRY_MS = 2000
DEFAULT_HEARTBEAT_S = 15.0
# How often an idle stream checks whether its client is still there.
POLL_S = 1.0


def format_event(data: Any, *, event: str | None = None, id: str | None = None) -> str:
    lines = []
    if id is not None:
        lines.append(f"id: {id}")
    if event is not None:
        lines.append(f"event: {event}")
    # json.dumps escapes CR and LF inside strings, so the payload is one data line.
    lines.append("data: " + json.dumps(data, ensure_ascii=False, separators=(",", ":")))
    return "\n".join(lines) + "\n\n"


def comment(text: str = "") -> str:
    return f": {text}\n\n"


def event_id(epoch: str, seq: int) -> str:
    return f"{epoch}:{seq}"


def parse_event_id(value: str | None) -> tuple[str, int] | None:
    if not value or ":" not in value:
        return None
    epoch, _, seq = value.rpartition(":")
    try:
        return epoch, int(seq)
    except ValueError:
        return None



def event_stream(view: Callable) -> Callable:
    """Marks a view that serves an event stream. A stream is a connection that stays
    open, not activity: its requests do not keep an idle session signed in (``auth``)."""
    view.event_stream = True
    return view


def is_event_stream(view: Callable | None) -> bool:
    return bool(getattr(view, "event_stream", False))


class StreamRegistry:
    """Counts open streams and refuses new ones beyond ``limit``."""

    def __init__(self, limit: int) -> None:
        self.limit = max(1, limit)
        self._lock = threading.Lock()
        self._open: dict[int, tuple[int, str]] = {}
        self._next = 0
        self.opened_total = 0
        # Set when the server stops: every stream ends at its next poll.
        self.closing = threading.Event()

    def acquire(self, user_id: int, kind: str) -> int | None:
        with self._lock:
            if len(self._open) >= self.limit:
                return None
            self._next += 1
            self._open[self._next] = (user_id, kind)
            self.opened_total += 1
            return self._next

    def release(self, token: int) -> None:
        with self._lock:
            self._open.pop(token, None)

    @property
    def active(self) -> int:
        with self._lock:
            return len(self._open)

    def active_for(self, user_id: int) -> int:
        with self._lock:
            return sum(1 for uid, _ in self._open.values() if uid == user_id)


def stream_limit(web_threads: int) -> int:
    """Streams allowed per process: the thread pool minus a reserve for page requests."""
    reserve = max(4, web_threads // 8)
    return max(1, web_threads - reserve)


def run_stream(*, subscription: Subscription, registry: StreamRegistry, token: int,
               opening: Iterator[str], handle: Callable[[Event], Iterator[str]],
               still_valid: Callable[[], bool], client_gone: Callable[[], bool],
               heartbeat_s: float = DEFAULT_HEARTBEAT_S) -> Iterator[str]:
    """The body of an event stream. Always releases the subscription and the registry
    slot, whether the client left, the session ended or the server is stopping."""
    try:
        yield f"retry: {RETRY_MS}\n\n"
        yield from opening
        # Spread the periodic work: a hundred consoles opened together must not all hit
        # the database (session check) and the network (heartbeat) in the same instant.
        last_write = time.monotonic() - random.uniform(0, heartbeat_s / 2)
        last_check = time.monotonic() - random.uniform(0, heartbeat_s)
        while True:
            event = subscription.get_event(timeout=min(POLL_S, heartbeat_s))
            now = time.monotonic()
            if event is not None:
                try:
                    for chunk in handle(event):
                        yield chunk
                        last_write = time.monotonic()
                finally:
                    subscription.handled(event)   # written (or the stream is ending)
            if client_gone() or registry.closing.is_set():
                return
            if now - last_write >= heartbeat_s:
                yield comment("keepalive")
                last_write = time.monotonic()
            if now - last_check >= heartbeat_s:
                last_check = now
                if not still_valid():
                    yield format_event({"reason": "session"}, event="expired")
                    return
    finally:
        subscription.close()
        registry.release(token)


def stream_response(panel, *, subscription: Subscription, token: int, opening: Iterator[str],
                    handle: Callable[[Event], Iterator[str]], still_valid: Callable[[], bool]):
    """The HTTP response carrying an event stream (used by every console's stream view).

    A response that is never iterated (the client left before the first byte) still
    frees its subscription and its registry slot when waitress closes it."""
    from flask import Response, current_app, request

    body = run_stream(
        subscription=subscription, registry=panel.streams, token=token, opening=opening,
        handle=handle, still_valid=still_valid,
        client_gone=request.environ.get("waitress.client_disconnected", lambda: False),
        heartbeat_s=float(current_app.config["SSE_HEARTBEAT_S"]),
    )
    response = Response(body, mimetype="text/event-stream")
    response.headers["Cache-Control"] = "no-cache, no-store"
    response.headers["X-Accel-Buffering"] = "no"
    response.call_on_close(subscription.close)
    response.call_on_close(lambda: panel.streams.release(token))
    return response

