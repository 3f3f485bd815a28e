"""The event bus across processes: Redis pub/sub.

Each process holds one ``RedisBus``. ``publish`` sends the JSON payload to the Redis
channel ``<prefix><topic>``; one subscriber thread per process listens on
``<prefix>*`` and fans every message out to the local ``Subscription`` mailboxes, so
a web worker with 100 connected browsers still holds a single Redis connection for
listening.

Two installations may share one Redis server: pub/sub ignores the database index, so
each installation has a channel prefix of its own (``bus_prefix``, by default one
derived from its database). And anyone who can reach Redis could publish: every message
is signed with the installation's secret (HMAC-SHA256 over topic, payload and time)
and a message whose signature does not verify, or that is older than
``MAX_AGE_S``, is dropped here, never delivered — a forged ``ami.action`` pauses no
agent.

Pub/sub is fire-and-forget: a message published while this process is disconnected
from Redis is not seen here. The thread reconnects with a capped back-off, and
``on_reconnect`` callbacks let a caller resynchronise from the database (the agent
console re-checks the agent's current call when its stream reconnects anyway).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import redis

from callcenter.bus.core import BusUnavailable, EventBus

log = logging.getLogger(__name__)

DEFAULT_PREFIX = "callcenter:"


# A signed message older than this (or dated this far ahead: another host's clock) is refused.
MAX_AGE_S = 120.0


class RedisBus(EventBus):
    def __init__(self, url: str, *, key: str, prefix: str = DEFAULT_PREFIX, history: int = 512,
                 reconnect_max_s: float = 5.0, socket_timeout: float = 5.0) -> None:
        super().__init__(history=history)
        self.url = url
        self.prefix = prefix
        self._key = key.encode("utf-8")
        self.refused = 0
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
        try:
            self._client.publish(self.prefix + topic, self._envelope(topic, payload))
        except redis.RedisError as exc:
            raise BusUnavailable(f"cannot publish on {topic!r}: Redis at {self.url}: {exc}") from exc

    def publish_many(self, messages: list[tuple[str, dict[str, Any]]]) -> None:
        """Several messages in one round trip (a burst of rings from the AMI listener)."""
        if len(messages) == 1:
            self.publish(*messages[0])
            return
        pipe = self._client.pipeline(transaction=False)
        for topic, payload in messages:
            pipe.publish(self.prefix + topic, self._envelope(topic, payload))
        try:
            pipe.execute()
        except redis.RedisError as exc:
            raise BusUnavailable(f"cannot publish {len(messages)} messages: Redis at {self.url}: {exc}") from exc

    def _envelope(self, topic: str, payload: dict[str, Any]) -> str:
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
        sent_at = f"{time.time():.3f}"
        return json.dumps({"p": body, "t": sent_at, "s": self._signature(topic, body, sent_at)},
                          ensure_ascii=False, separators=(",", ":"))

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
        payload = self._verified(topic, message["data"])
        if payload is None:
            self.refused += 1
            if self.refused in (1, 10, 100) or self.refused % 1000 == 0:
                log.warning("event bus: %d message(s) on %s refused: not signed by this installation "
                            "(or malformed, or stale): %.80r", self.refused, channel, message["data"])
            return
        self._fan_out(topic, payload)

    def _signature(self, topic: str, body: str, sent_at: str) -> str:
        signed = f"{topic}\n{sent_at}\n{body}".encode()
        return hmac.new(self._key, signed, hashlib.sha256).hexdigest()

    def _verified(self, topic: str, data: Any) -> dict[str, Any] | None:
        """The payload of a message this installation signed, else None."""
        try:
            envelope = json.loads(data)
            body, sent_at, signature = envelope["p"], envelope["t"], envelope["s"]
            if not (isinstance(body, str) and isinstance(sent_at, str) and isinstance(signature, str)):
                return None
            if abs(time.time() - float(sent_at)) > MAX_AGE_S:
                return None
            if not hmac.compare_digest(signature, self._signature(topic, body, sent_at)):
                return None
            payload = json.loads(body)
        except (TypeError, ValueError, KeyError):
            return None
        return payload if isinstance(payload, dict) else None

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._client.close()
