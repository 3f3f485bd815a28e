"""Event bus between the AMI listener, the scheduler and the web workers.

Topics in use (payloads are JSON-serialisable dicts):
  ``agent``      AMI facts about agents and calls the console shows: AgentCalled (the
                 screen-pop trigger), AgentConnect/Complete/RingNoAnswer, member pause
                 state. Carries at least ``type``, ``interface``, ``linkedid``.
  ``ami.action`` requests from the web panel for the AMI connection owner (QueuePause,
                 QueueAdd, QueueRemove), so a web worker never needs its own AMI login.
  ``notify``     panel notifications (ticket escalated ...), carries ``user_id``.

``InProcessBus`` is the embedded default (one process). ``RedisBus`` (callcenter.bus.redis)
carries the same topics across processes for sites that run several web workers.
"""

from __future__ import annotations

import abc
import queue
import threading
from collections.abc import Iterator
from typing import Any


class Subscription:
    """A subscriber's mailbox. Iterate with ``get(timeout)``; close when done."""

    def __init__(self, bus: EventBus, topics: tuple[str, ...], maxsize: int = 1000) -> None:
        self._bus = bus
        self.topics = topics
        self._queue: queue.Queue[tuple[str, dict[str, Any]]] = queue.Queue(maxsize=maxsize)
        self.dropped = 0
        self.closed = False

    def deliver(self, topic: str, payload: dict[str, Any]) -> None:
        try:
            self._queue.put_nowait((topic, payload))
        except queue.Full:
            # A stuck subscriber must not block the publisher (the AMI reader).
            self.dropped += 1

    def get(self, timeout: float | None = None) -> tuple[str, dict[str, Any]] | None:
        """Next (topic, payload), or None after ``timeout`` seconds without one."""
        try:
            return self._queue.get(timeout=timeout)
        except queue.Empty:
            return None

    def drain(self) -> Iterator[tuple[str, dict[str, Any]]]:
        while True:
            try:
                yield self._queue.get_nowait()
            except queue.Empty:
                return

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._bus._unsubscribe(self)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class EventBus(abc.ABC):
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribers: list[Subscription] = []

    @abc.abstractmethod
    def publish(self, topic: str, payload: dict[str, Any]) -> None:
        """Deliver to every subscriber of ``topic`` (in every process, for a shared bus)."""

    def subscribe(self, *topics: str, maxsize: int = 1000) -> Subscription:
        sub = Subscription(self, topics, maxsize)
        with self._lock:
            self._subscribers.append(sub)
        return sub

    def _unsubscribe(self, sub: Subscription) -> None:
        with self._lock:
            if sub in self._subscribers:
                self._subscribers.remove(sub)

    def _fan_out(self, topic: str, payload: dict[str, Any]) -> None:
        with self._lock:
            targets = [s for s in self._subscribers if topic in s.topics]
        for sub in targets:
            sub.deliver(topic, payload)

    def close(self) -> None:  # pragma: no cover - trivial
        pass


class InProcessBus(EventBus):
    """All publishers and subscribers live in this process (the embedded default)."""

    def publish(self, topic: str, payload: dict[str, Any]) -> None:
        self._fan_out(topic, payload)


def make_bus(settings) -> EventBus:
    if settings.bus == "redis":
        from callcenter.bus.redis import RedisBus

        return RedisBus(settings.redis_url)
    return InProcessBus()
