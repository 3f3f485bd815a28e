"""The event bus across processes: Redis pub/sub.

Each process holds one ``RedisBus``. ``publish`` sends the JSON payload to the Redis
channel ``<prefix><topic>``; one subscriber thread per process listens on
``<prefix>*`` and fans every message out to the local ``Subscription`` mailboxes, so
a web worker with 100 connected browsers still holds a single Redis connection for
listening.

Pub/sub is fire-and-forget: a message published while this process is disconnected
from Redis is not seen here. The thread reconnects with a capped back-off, and
``on_reconnect`` callbacks let a caller resynchronise from the database (the agent
console re-checks the agent's current call when its stream reconnects anyway).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from typing import Any

import redis

from callcenter.bus.core import BusUnavailable, EventBus

log = logging.getLogger(__name__)

DEFAULT_PREFIX = "callcenter:"


class RedisBus(EventBus):
    def __init__(self, url: str, *, prefix: str = DEFAULT_PREFIX, history: int = 512,
                 reconnect_max_s: float = 5.0, socket_timeout: float = 5.0) -> None:
        super().__init__(history=history)
        self.url = url
        self.prefix = prefix
        self._reconnect_max_s = reconnect_max_s
        self._client = redis.Redis.from_url(url, socket_timeout=socket_timeout,
                                            socket_connect_timeout=socket_timeout,
                                            health_check_interval=30)
        self._stop = threading.Event()
        self._listening = threading.Event()
        self.reconnects = 0
        self.on_reconnect: list[Callable[[], None]] = []
        self._thread = threading.Thread(target=self._listen_forever, name="redis-bus", daemon=True)
        self._thread.start()

    # --- publishing ------------------------------------------------------------------
    def publish(self, topic: str, payload: dict[str, Any]) -> None:
        data = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
        try:
            self._client.publish(self.prefix + topic, data)
        except redis.RedisError as exc:
            raise BusUnavailable(f"cannot publish on {topic!r}: Redis at {self.url}: {exc}") from exc

    # --- listening -------------------------------------------------------------------
    def wait_listening(self, timeout: float = 5.0) -> bool:
        """True once the subscriber thread is subscribed (messages from now on arrive)."""
        return self._listening.wait(timeout)

    @property
    def listening(self) -> bool:
        return self._listening.is_set()

    def _listen_forever(self) -> None:
        delay = 0.1
        first = True
        while not self._stop.is_set():
            pubsub = self._client.pubsub()
            try:
                pubsub.psubscribe(self.prefix + "*")
                # The subscription is confirmed by its reply; only then are we listening.
                while not self._stop.is_set() and not self._listening.is_set():
                    reply = pubsub.get_message(timeout=1.0)
                    if reply and reply["type"] == "psubscribe":
                        self._listening.set()
                if not first:
                    self.reconnects += 1
                    log.warning("event bus: reconnected to Redis at %s", self.url)
                    for callback in list(self.on_reconnect):
                        callback()
                first = False
                delay = 0.1
                while not self._stop.is_set():
                    message = pubsub.get_message(timeout=1.0)
                    if message is not None:
                        self._dispatch(message)
            except (redis.RedisError, OSError) as exc:
                if self._stop.is_set():
                    break
                self._listening.clear()
                log.warning("event bus: lost Redis at %s (%s); retrying in %.1fs", self.url, exc, delay)
                self._stop.wait(delay)
                delay = min(delay * 2, self._reconnect_max_s)
            finally:
                self._listening.clear()
                try:
                    pubsub.close()
                except Exception:  # noqa: BLE001 - closing a broken connection
                    pass

    def _dispatch(self, message: dict[str, Any]) -> None:
        if message.get("type") != "pmessage":
            return
        channel = message["channel"].decode() if isinstance(message["channel"], bytes) else message["channel"]
        topic = channel[len(self.prefix):]
        try:
            payload = json.loads(message["data"])
        except (TypeError, ValueError):
            log.warning("event bus: dropped a malformed message on %s: %.80r", channel, message["data"])
            return
        if not isinstance(payload, dict):
            log.warning("event bus: dropped a non-object message on %s: %.80r", channel, payload)
            return
        self._fan_out(topic, payload)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._client.close()
