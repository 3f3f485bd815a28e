"""Event bus between the AMI listener, the scheduler and the web workers.

Topics in use (payloads are JSON-serialisable dicts):
  ``agent``      AMI facts about agents and calls the console shows: AgentCalled (the
                 screen-pop trigger), AgentConnect/Complete/RingNoAnswer, member pause
                 state. Carries at least ``type``, ``interface``, ``linkedid``.
  ``ami.action`` requests from the web panel for the AMI connection owner (QueuePause,
                 QueueAdd, QueueRemove), so a web worker never needs its own AMI login.
  ``notify``     panel notifications (ticket escalated ...), carries ``user_id``.
  ``agent.ring`` the AMI listener's first sight of an AgentCalled, before it is recorded
                 (``interface``, ``linkedid``, ``dest_uniqueid``): the console pops at once.

A message on an urgent topic (``URGENT_TOPICS``: somebody's phone rings and they wait
for the pop) holds the bus's ``urgent`` mark from the moment the listener announces it
until every local subscriber it was delivered to has handled it (``handled``); see
``Urgency``.

``InProcessBus`` is the embedded default (one process). ``RedisBus`` (callcenter.bus.redis)
carries the same topics across processes for sites that run several web workers.

Every message a bus hands to its local subscribers gets a sequence number (``Event.seq``,
increasing within one bus object, whose random ``epoch`` names it). The bus keeps the
last ``history`` messages, so a browser that reconnects with ``Last-Event-ID`` gets what
it missed from ``replay()`` when it comes back to the same process in time; otherwise
``replay()`` says it cannot know (None) and the caller recovers from the database.
"""

from __future__ import annotations

import abc
import collections
import contextlib
import itertools
import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

# Topics whose messages somebody is waiting for this very moment (the early ring: an
# agent waits for the pop); they hold the bus's urgent mark until handled.
URGENT_TOPICS = frozenset({"agent.ring"})


@dataclass(frozen=True)
class Event:
    seq: int
    topic: str
    payload: dict[str, Any]
    # Delivered on an urgent topic: the subscriber calls ``Subscription.handled`` after it.
    urgent: bool = False


class BusUnavailable(RuntimeError):
    """The shared bus cannot be reached; the message was not published."""


Accept = Callable[[str, dict[str, Any]], bool]


class Subscription:
    """A subscriber's mailbox. Iterate with ``get(timeout)``; close when done.

    ``accept(topic, payload)``, when given, is asked in the publishing thread whether
    this subscriber wants a message at all: a hundred agent consoles each waiting for
    their own phone then sleep through everybody else's calls instead of all waking up
    for every event.
    """

    def __init__(self, bus: EventBus, topics: tuple[str, ...], maxsize: int = 1000,
                 accept: Accept | None = None) -> None:
        self._bus = bus
        self.topics = topics
        self.accept = accept
        self._queue: queue.Queue[Event] = queue.Queue(maxsize=maxsize)
        self.dropped = 0
        self.closed = False

    def deliver(self, topic: str, payload: dict[str, Any], seq: int = 0, urgent: bool = False) -> bool:
        try:
            self._queue.put_nowait(Event(seq, topic, payload, urgent))
            return True
        except queue.Full:
            # A stuck subscriber must not block the publisher (the AMI reader).
            self.dropped += 1
            return False

    def get_event(self, timeout: float | None = None) -> Event | None:
        """Next event with its sequence number, or None after ``timeout`` seconds. An
        ``urgent`` event is followed by ``handled(event)`` once it has been acted on."""
        try:
            return self._queue.get(timeout=timeout)
        except queue.Empty:
            return None

    def handled(self, event: Event | None) -> None:
        """The subscriber is done with ``event`` (releases the urgent mark it held)."""
        if event is not None and event.urgent:
            self._bus.urgent.leave()

    def get(self, timeout: float | None = None) -> tuple[str, dict[str, Any]] | None:
        """Next (topic, payload), or None after ``timeout`` seconds without one."""
        event = self.get_event(timeout)
        self.handled(event)
        return None if event is None else (event.topic, event.payload)

    def drain(self) -> Iterator[tuple[str, dict[str, Any]]]:
        while True:
            try:
                event = self._queue.get_nowait()
            except queue.Empty:
                return
            self.handled(event)
            yield event.topic, event.payload

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._bus._unsubscribe(self)
            for _ in self.drain():   # what was never read is not waited for
                pass

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Urgency:
    """Work in this process that somebody is waiting for right now: a ring announced and
    not yet handed to the bus, delivered and not yet handled by a console, a screen-pop
    being built. Background work that shares the interpreter with it (the AMI listener
    recording a burst of rings, in the embedded deployment) waits for ``wait_quiet``
    instead of taking the interpreter lock away from it. Each bus object (process) has
    its own: across processes nothing waits."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._active = 0
        self._since = 0.0

    def enter(self) -> None:
        with self._cond:
            self._active += 1
            if self._active == 1:
                self._since = time.monotonic()

    def leave(self) -> None:
        with self._cond:
            self._active = max(0, self._active - 1)
            if not self._active:
                self._cond.notify_all()

    @contextlib.contextmanager
    def hold(self) -> Iterator[None]:
        self.enter()
        try:
            yield
        finally:
            self.leave()

    @property
    def active(self) -> int:
        return self._active

    def wait_quiet(self, timeout: float) -> bool:
        """True once nothing urgent is running; False when the mark has been held
        ``timeout`` seconds without a break (counted from when it was raised, so a mark
        nobody lowers - a console that never reads on - costs a waiter once, not again
        and again)."""
        with self._cond:
            while self._active:
                remaining = self._since + timeout - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
            return True


class EventBus(abc.ABC):
    def __init__(self, history: int = 512) -> None:
        # Shared by everything on this bus object, i.e. in this process (see Urgency).
        self.urgent = Urgency()
        self._lock = threading.Lock()
        self._subscribers: list[Subscription] = []
        self.epoch = uuid.uuid4().hex[:12]
        self._seq = itertools.count(1)
        self._history: collections.deque[Event] = collections.deque(maxlen=history)

    @abc.abstractmethod
    def publish(self, topic: str, payload: dict[str, Any]) -> None:
        """Deliver to every subscriber of ``topic`` (in every process, for a shared bus)."""

    def subscribe(self, *topics: str, maxsize: int = 1000, accept: Accept | None = None) -> Subscription:
        sub = Subscription(self, topics, maxsize, accept)
        with self._lock:
            self._subscribers.append(sub)
        return sub

    def subscriber_count(self) -> int:
        with self._lock:
            return len(self._subscribers)

    def has_subscribers(self, topic: str) -> bool:
        """Whether anything in this process listens on ``topic``."""
        with self._lock:
            return any(topic in s.topics for s in self._subscribers)

    def publish_many(self, messages: list[tuple[str, dict[str, Any]]]) -> None:
        """``publish`` each (topic, payload) in order; a shared bus sends them together."""
        for topic, payload in messages:
            self.publish(topic, payload)

    def _unsubscribe(self, sub: Subscription) -> None:
        with self._lock:
            if sub in self._subscribers:
                self._subscribers.remove(sub)

    def _fan_out(self, topic: str, payload: dict[str, Any]) -> None:
        with self._lock:
            # Numbering, recording and choosing targets under one lock: a subscriber
            # sees messages in sequence order and replay() never skips one.
            seq = next(self._seq)
            self._history.append(Event(seq, topic, payload))
            targets = [s for s in self._subscribers if topic in s.topics]
        urgent = topic in URGENT_TOPICS
        for sub in targets:
            if sub.accept is not None and not _accepts(sub, topic, payload):
                continue
            if urgent:
                self.urgent.enter()     # left by the subscriber's handled()
            if not sub.deliver(topic, payload, seq, urgent) and urgent:
                self.urgent.leave()

    def replay(self, topics: Iterable[str], epoch: str, after_seq: int) -> list[Event] | None:
        """Messages on ``topics`` after ``after_seq``, or None when they are unknowable.

        None means the id came from another bus object (another worker, a restart) or
        messages after it have already left the history window.
        """
        wanted = set(topics)
        with self._lock:
            if epoch != self.epoch:
                return None
            history = list(self._history)
        if history and history[0].seq > after_seq + 1:
            return None
        return [e for e in history if e.seq > after_seq and e.topic in wanted]

    def close(self) -> None:  # pragma: no cover - trivial
        pass


def _accepts(sub: Subscription, topic: str, payload: dict[str, Any]) -> bool:
    try:
        return bool(sub.accept(topic, payload))
    except Exception:  # noqa: BLE001 - a broken filter must not stop the publisher
        log.exception("subscription filter failed; delivering the message")
        return True


class InProcessBus(EventBus):
    """All publishers and subscribers live in this process (the embedded default)."""

    def publish(self, topic: str, payload: dict[str, Any]) -> None:
        self._fan_out(topic, payload)
