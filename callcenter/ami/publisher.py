"""Handing messages to the event bus on a thread of its own (the listener's third thread).

Separate from the tracker because the bus may be slow (Redis far away) while the
database is fast, or the other way round: a slow bus fills a bounded queue and drops
with a count instead of blocking the tracker or the AMI reader. What is queued when the
thread comes round goes out together (``EventBus.publish_many``: one round trip to Redis
for a burst of rings instead of one each). The bus topics the
listener speaks on live here too: ``agent`` (what the console shows) and ``ami.action``
(the panel's requests).
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
from typing import Any

from callcenter.bus.core import URGENT_TOPICS, EventBus

log = logging.getLogger(__name__)

AGENT_TOPIC = "agent"
ACTION_TOPIC = "ami.action"
# The first sight of an AgentCalled, before the tracker recorded it: the console pops at once.
RING_TOPIC = "agent.ring"
# Messages handed to the bus in one go at most.
MAX_BATCH = 200


class BusPublisher:
    """Hands payloads to the bus on its own thread; ``publish`` never blocks."""

    def __init__(self, bus: EventBus, maxsize: int = 10000) -> None:
        self.bus = bus
        self._queue: queue.Queue[tuple[str, dict[str, Any]] | None] = queue.Queue(maxsize)
        self._thread = threading.Thread(target=self._run, name="ami-bus-publisher", daemon=True)
        self.published = 0
        self.dropped = 0

    def start(self) -> None:
        self._thread.start()

    def publish(self, topic: str, payload: dict[str, Any]) -> None:
        # An urgent message (a ring announced) holds the bus's urgent mark until it is
        # on the bus, where the consoles it reaches in this process take it over.
        urgent = topic in URGENT_TOPICS
        if urgent:
            self.bus.urgent.enter()
        try:
            self._queue.put_nowait((topic, payload))
        except queue.Full:
            if urgent:
                self.bus.urgent.leave()
            self.dropped += 1
            if self.dropped in (1, 10, 100) or self.dropped % 1000 == 0:
                log.error("event bus is not keeping up: %d messages dropped", self.dropped)

    def _run(self) -> None:
        while True:
            # What is queued goes out together (one round trip to Redis for a burst),
            # in order, up to a flush marker or the end.
            batch = [self._queue.get()]
            while len(batch) < MAX_BATCH and batch[-1] is not None and not isinstance(batch[-1][1], threading.Event):
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            messages = [m for m in batch if m is not None and not isinstance(m[1], threading.Event)]
            if messages:
                self._send(messages)
            last = batch[-1]
            if last is None:
                return
            if isinstance(last[1], threading.Event):
                last[1].set()  # a flush marker

    def _send(self, messages: list[tuple[str, dict[str, Any]]]) -> None:
        try:
            if len(messages) == 1:
                self.bus.publish(*messages[0])
            else:
                self.bus.publish_many(messages)
            self.published += len(messages)
        except Exception:  # a bus outage must not stop the publisher
            log.exception("publishing on the event bus failed; %d message(s) dropped", len(messages))
        finally:
            for topic, _ in messages:
                if topic in URGENT_TOPICS:
                    self.bus.urgent.leave()

    def flush(self, timeout: float) -> bool:
        """Wait until everything handed over so far has reached the bus."""
        done = threading.Event()
        try:
            self._queue.put(("", done), timeout=timeout)  # type: ignore[arg-type]
        except queue.Full:
            return False
        return done.wait(timeout)

    def stop(self, timeout: float = 5.0) -> None:
        if self._thread.is_alive():
            with contextlib.suppress(queue.Full):
                self._queue.put(None, timeout=timeout)
            self._thread.join(timeout)
