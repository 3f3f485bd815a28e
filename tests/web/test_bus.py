"""The event bus: in-process delivery and replay, and Redis pub/sub across processes
(against the real Redis on 127.0.0.1:6379; skipped with the reason when unreachable)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import uuid

import pytest

from callcenter.bus import make_bus
from callcenter.bus.core import BusUnavailable, InProcessBus
from callcenter.config import Settings

REDIS_URL = os.environ.get("CALLCENTER_TEST_REDIS", "redis://127.0.0.1:6379/0")


def test_inprocess_delivers_by_topic_in_order():
    bus = InProcessBus()
    agent = bus.subscribe("agent")
    both = bus.subscribe("agent", "notify")
    bus.publish("agent", {"n": 1})
    bus.publish("notify", {"n": 2})
    bus.publish("agent", {"n": 3})
    assert [p["n"] for _, p in agent.drain()] == [1, 3]
    events = [both.get_event(0) for _ in range(3)]
    assert [(e.topic, e.payload["n"]) for e in events] == [("agent", 1), ("notify", 2), ("agent", 3)]
    assert [e.seq for e in events] == sorted(e.seq for e in events)


def test_full_mailbox_drops_instead_of_blocking_the_publisher():
    bus = InProcessBus()
    slow = bus.subscribe("agent", maxsize=2)
    for n in range(5):
        bus.publish("agent", {"n": n})
    assert slow.dropped == 3
    assert [p["n"] for _, p in slow.drain()] == [0, 1]


def test_closed_subscription_receives_nothing():
    bus = InProcessBus()
    with bus.subscribe("agent") as sub:
        assert bus.subscriber_count() == 1
    assert bus.subscriber_count() == 0
    bus.publish("agent", {"n": 1})
    assert sub.get(0) is None


def test_replay_after_a_sequence_number():
    bus = InProcessBus()
    for n in range(5):
        bus.publish("agent" if n % 2 == 0 else "notify", {"n": n})
    replayed = bus.replay(["agent"], bus.epoch, 1)
    assert [e.payload["n"] for e in replayed] == [2, 4]
    assert bus.replay(["agent"], "another-process", 1) is None


def test_replay_admits_it_cannot_know_what_left_the_window():
    small = InProcessBus(history=3)
    seqs = []
    sub = small.subscribe("agent")
    for n in range(10):
        small.publish("agent", {"n": n})
        seqs.append(sub.get_event(0).seq)
    # The window holds the last three messages (n = 7, 8, 9).
    assert small.replay(["agent"], small.epoch, seqs[5]) is None, "n=6 is gone: the gap is unknowable"
    assert [e.payload["n"] for e in small.replay(["agent"], small.epoch, seqs[6])] == [7, 8, 9]
    assert small.replay(["agent"], small.epoch, seqs[9]) == []


def test_make_bus_follows_settings():
    assert isinstance(make_bus(Settings(bus="inproc")), InProcessBus)


# --- Redis -----------------------------------------------------------------------------
@pytest.fixture
def redis_url():
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        pytest.skip(f"Redis not reachable at {REDIS_URL}: {exc}")
    return REDIS_URL


@pytest.fixture
def prefix():
    # A private channel namespace per test: parallel runs and other sites never cross.
    return f"cc-test-{uuid.uuid4().hex[:8]}:"


@pytest.fixture
def redis_bus(redis_url, prefix):
    from callcenter.bus.redis import RedisBus

    bus = RedisBus(redis_url, prefix=prefix, key="test-bus-key")
    assert bus.wait_listening(5), "subscriber thread did not subscribe"
    yield bus
    bus.close()


def test_redis_bus_round_trip_in_one_process(redis_bus):
    sub = redis_bus.subscribe("agent")
    payload = {"type": "agent_called", "interface": "PJSIP/1001", "linkedid": "R-1", "caller_name": "王秀英"}
    redis_bus.publish("agent", payload)
    topic, received = sub.get(timeout=5)
    assert (topic, received) == ("agent", payload)
    assert sub.get(timeout=0.1) is None


def test_redis_bus_publishes_many_in_one_go_in_order(redis_bus):
    sub = redis_bus.subscribe("agent", "agent.ring")
    redis_bus.publish_many([("agent.ring", {"n": 1}), ("agent", {"n": 2}), ("agent.ring", {"n": 3})])
    assert [sub.get(timeout=5) for _ in range(3)] == [
        ("agent.ring", {"n": 1}), ("agent", {"n": 2}), ("agent.ring", {"n": 3})]


def test_redis_bus_two_buses_see_each_other(redis_url, prefix, redis_bus):
    from callcenter.bus.redis import RedisBus

    other = RedisBus(redis_url, prefix=prefix, key="test-bus-key")
    try:
        assert other.wait_listening(5)
        mine, theirs = redis_bus.subscribe("agent"), other.subscribe("agent")
        other.publish("agent", {"n": 1})
        assert mine.get(timeout=5)[1] == {"n": 1}
        assert theirs.get(timeout=5)[1] == {"n": 1}
    finally:
        other.close()


def test_redis_bus_ignores_malformed_and_unsigned_messages(redis_bus, redis_url, prefix):
    """Anyone who reaches Redis can PUBLISH: only what this installation signed arrives."""
    import redis

    sub = redis_bus.subscribe("agent", "ami.action")
    raw = redis.Redis.from_url(REDIS_URL)
    raw.publish(prefix + "agent", b"{not json")
    raw.publish(prefix + "agent", b"[1, 2]")
    raw.publish(prefix + "agent", b'{"ok": true}')
    raw.publish(prefix + "ami.action", json.dumps({"action": "QueuePause", "interface": "PJSIP/agent1001",
                                                   "paused": True}))
    forged = json.dumps({"p": '{"ok": "forged"}', "t": "0", "s": "0" * 64})
    raw.publish(prefix + "agent", forged)
    redis_bus.publish("agent", {"ok": True})
    assert sub.get(timeout=5) == ("agent", {"ok": True})
    assert sub.get(timeout=0.2) is None and redis_bus.refused == 5
    raw.close()


def test_two_installations_on_one_redis_do_not_hear_each_other(redis_url):
    """Pub/sub ignores the database index: the channel prefix is the installation's own,
    derived from its database unless set, and messages are signed with its secret."""
    site_a = Settings(bus="redis", redis_url=redis_url, database_url="sqlite:///site-a.db", secret_key="a" * 32)
    site_b = Settings(bus="redis", redis_url=redis_url.rsplit("/", 1)[0] + "/7",
                      database_url="sqlite:///site-b.db", secret_key="b" * 32)
    a, b = make_bus(site_a), make_bus(site_b)
    try:
        assert a.prefix != b.prefix and a.wait_listening(5) and b.wait_listening(5)
        heard_by_a, heard_by_b = a.subscribe("ami.action"), b.subscribe("ami.action")
        b.publish("ami.action", {"action": "QueuePause", "interface": "PJSIP/agent1001", "paused": True})
        assert heard_by_b.get(timeout=5)[1]["action"] == "QueuePause"
        assert heard_by_a.get(timeout=0.5) is None
        # The same prefix by mistake (bus_prefix set alike): the other secret still keeps them apart.
        c = make_bus(site_a.model_copy(update={"secret_key": "c" * 32}))
        try:
            assert c.wait_listening(5)
            c.publish("ami.action", {"action": "QueuePause", "interface": "PJSIP/agent1001", "paused": True})
            assert heard_by_a.get(timeout=0.5) is None and a.refused >= 1
        finally:
            c.close()
    finally:
        a.close()
        b.close()


def test_redis_bus_unreachable_publish_raises_a_clear_error():
    from callcenter.bus.redis import RedisBus

    bus = RedisBus("redis://127.0.0.1:1/0", key="test-bus-key", socket_timeout=0.5, reconnect_max_s=0.2)
    try:
        with pytest.raises(BusUnavailable, match="Redis"):
            bus.publish("agent", {"n": 1})
        assert not bus.listening
    finally:
        bus.close()


def test_redis_bus_reconnects_after_the_connection_is_killed(redis_bus):
    import redis

    sub = redis_bus.subscribe("agent")
    admin = redis.Redis.from_url(REDIS_URL)
    # Kill this bus's subscriber connection the way a Redis restart would.
    killed = admin.client_kill_filter(_type="pubsub")
    assert killed >= 1
    reconnected = []
    redis_bus.on_reconnect.append(lambda: reconnected.append(True))
    deadline_reached = not _wait(lambda: redis_bus.reconnects >= 1 and redis_bus.listening)
    assert not deadline_reached, "the bus did not reconnect"
    redis_bus.publish("agent", {"after": "reconnect"})
    assert sub.get(timeout=5)[1] == {"after": "reconnect"}
    admin.close()


def _wait(condition, timeout: float = 15.0) -> bool:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


CHILD = textwrap.dedent("""
    import json, sys
    from callcenter.bus.redis import RedisBus
    url, prefix, mode = sys.argv[1:4]
    bus = RedisBus(url, prefix=prefix, key="test-bus-key")
    assert bus.wait_listening(10)
    if mode == "listen":
        sub = bus.subscribe("agent")
        print("ready", flush=True)
        got = sub.get(timeout=20)
        print(json.dumps(got[1] if got else None, ensure_ascii=False), flush=True)
    else:
        sys.stdin.readline()
        bus.publish("agent", {"from": "child", "name": "張偉"})
        print("sent", flush=True)
    bus.close()
""")


def _child(redis_url: str, prefix: str, mode: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", CHILD, redis_url, prefix, mode], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_redis_bus_across_two_processes(redis_url, prefix, redis_bus):
    """A message published in this process reaches a subscriber in another, and back."""
    listener = _child(redis_url, prefix, "listen")
    try:
        assert listener.stdout.readline().strip() == "ready", listener.stderr.read()
        redis_bus.publish("agent", {"from": "parent", "name": "王秀英"})
        assert json.loads(listener.stdout.readline()) == {"from": "parent", "name": "王秀英"}
    finally:
        listener.wait(timeout=20)
    sub = redis_bus.subscribe("agent")
    publisher = _child(redis_url, prefix, "publish")
    try:
        publisher.stdin.write("go\n")
        publisher.stdin.flush()
        assert publisher.stdout.readline().strip() == "sent", publisher.stderr.read()
        assert sub.get(timeout=10)[1] == {"from": "child", "name": "張偉"}
    finally:
        publisher.wait(timeout=20)


# --- the urgent mark (a ring somebody waits for) ---------------------------------------------------
def test_a_ring_holds_the_urgent_mark_until_each_console_it_reached_has_handled_it():
    bus = InProcessBus()
    mine = bus.subscribe("agent.ring", accept=lambda topic, payload: payload["interface"] == "PJSIP/1")
    other = bus.subscribe("agent.ring", accept=lambda topic, payload: payload["interface"] == "PJSIP/2")
    bus.publish("agent", {"interface": "PJSIP/1"})           # not urgent
    assert bus.urgent.active == 0
    bus.publish("agent.ring", {"interface": "PJSIP/1"})      # reaches one console only
    assert bus.urgent.active == 1 and not bus.urgent.wait_quiet(0.01)
    event = mine.get_event(0)
    assert event is not None and event.urgent
    assert bus.urgent.active == 1                            # read, not yet handled
    mine.handled(event)
    assert bus.urgent.active == 0 and bus.urgent.wait_quiet(0.01)
    bus.publish("agent.ring", {"interface": "PJSIP/2"})
    other.close()                                            # never read: not waited for
    assert bus.urgent.active == 0


def test_a_mark_nobody_lowers_holds_up_a_waiter_once_only():
    import time

    bus = InProcessBus()
    bus.urgent.enter()                      # e.g. a console that stopped reading
    start = time.monotonic()
    assert not bus.urgent.wait_quiet(0.2)
    assert time.monotonic() - start >= 0.15
    start = time.monotonic()
    assert not bus.urgent.wait_quiet(0.2)   # already held that long: no second wait
    assert time.monotonic() - start < 0.1
    bus.urgent.leave()
    assert bus.urgent.wait_quiet(0.2)


def test_the_ami_publisher_hands_queued_messages_over_together_in_order():
    import threading

    from callcenter.ami.publisher import BusPublisher

    class CountingBus(InProcessBus):
        def __init__(self) -> None:
            super().__init__()
            self.gate = threading.Event()
            self.inside = threading.Event()
            self.batches: list[list[int]] = []

        def publish(self, topic, payload):
            self.inside.set()
            self.gate.wait(5)
            self.batches.append([payload["n"]])
            super().publish(topic, payload)

        def publish_many(self, messages):
            self.batches.append([p["n"] for _, p in messages])
            for topic, payload in messages:
                super().publish(topic, payload)

    bus = CountingBus()
    sub = bus.subscribe("agent", "agent.ring")
    publisher = BusPublisher(bus)
    publisher.start()
    try:
        publisher.publish("agent.ring", {"n": 0})      # held up in publish() ...
        assert bus.inside.wait(5)
        for n in range(1, 5):                          # ... while these queue
            publisher.publish("agent.ring" if n % 2 else "agent", {"n": n})
        assert bus.urgent.active >= 1
        bus.gate.set()
        assert publisher.flush(5)
        assert bus.batches == [[0], [1, 2, 3, 4]]
        assert [sub.get(timeout=1)[1]["n"] for _ in range(5)] == [0, 1, 2, 3, 4]
        assert bus.urgent.active == 0    # published, and read through get() (handled)
    finally:
        publisher.stop()
