"""The panel under the real waitress server: streams hold threads only while their
client is there, heartbeats flow, the stream cap keeps pages reachable."""

from __future__ import annotations

import threading
import time

import pytest

from callcenter.web import create_app
from callcenter.web.server import ServerThread

from .conftest import PASSWORD
from .http_client import RawStream, WebClient


def wait_for(condition, timeout: float = 15.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout}s")
        time.sleep(0.05)


@pytest.fixture
def app(settings, bus, tmp_path):
    """A server with 8 threads: 4 for streams, 4 kept for pages."""
    app = create_app(settings.model_copy(update={"web_threads": 8}), bus, instance_path=tmp_path / "instance")
    app.config["SSE_HEARTBEAT_S"] = 0.3
    return app


@pytest.fixture
def live(app, users):
    server = ServerThread(app, app.extensions["callcenter"].settings).start()
    try:
        yield server
    finally:
        server.stop()


def test_streams_free_their_threads_when_clients_vanish(live, app, bus):
    panel = app.extensions["callcenter"]
    web = WebClient(live.url).sign_in("agent", PASSWORD)
    status, body = web.post_json("/api/agent/interface", '{"interface": "PJSIP/1001"}')
    assert status == 200, body
    cookie = web.cookie
    threads_before = threading.active_count()
    streams = []
    for _ in range(panel.streams.limit):
        stream = RawStream(live.host, live.port, "/api/agent/events", cookie)
        assert stream.status == 200
        stream.read_text_until("event: state")
        streams.append(stream)
    assert panel.streams.active == panel.streams.limit == 4
    assert bus.subscriber_count() == 4
    assert live.busy_threads == 4

    refused = RawStream(live.host, live.port, "/api/agent/events", cookie)
    assert refused.status == 503
    refused.close()
    assert web.get("/agent/")[0] == 200, "pages still find a free thread"

    for stream in streams:
        stream.close()  # the browser tab goes away without a word
    wait_for(lambda: panel.streams.active == 0 and bus.subscriber_count() == 0, what="streams released")
    wait_for(lambda: live.busy_threads == 0, what="worker threads back to idle")
    assert threading.active_count() <= threads_before, "no thread was left behind"
    again = RawStream(live.host, live.port, "/api/agent/events", cookie)
    assert again.status == 200
    again.close()


def test_heartbeat_comments_keep_an_idle_stream_alive(live):
    web = WebClient(live.url).sign_in("agent", PASSWORD)
    assert web.post_json("/api/agent/interface", '{"interface": "PJSIP/1001"}')[0] == 200
    cookie = web.cookie
    stream = RawStream(live.host, live.port, "/api/agent/events", cookie)
    text = stream.read_text_until(": keepalive")
    stream.close()
    assert "retry: 2000" in text and "event: state" in text


def test_pop_over_the_real_server(live, bus):
    web = WebClient(live.url).sign_in("agent", PASSWORD)
    assert web.post_json("/api/agent/interface", '{"interface": "PJSIP/1001"}')[0] == 200
    cookie = web.cookie
    stream = RawStream(live.host, live.port, "/api/agent/events", cookie)
    stream.read_text_until("event: state")
    bus.publish("agent", {"type": "agent_called", "interface": "PJSIP/1001", "linkedid": "W-1",
                          "caller_number": "13800138000", "caller_name": "王秀英"})
    text = stream.read_text_until("event: pop")
    text += stream.read_text_until("\n\n")
    stream.close()
    assert "王秀英" in text and "W-1" in text


def test_anonymous_stream_is_401(live):
    stream = RawStream(live.host, live.port, "/api/agent/events", "")
    assert stream.status == 401
    stream.close()


def test_stop_ends_open_streams(app, users):
    server = ServerThread(app, app.extensions["callcenter"].settings).start()
    cookie = WebClient(server.url).sign_in("supervisor", PASSWORD).cookie
    stream = RawStream(server.host, server.port, "/api/supervisor/events", cookie)
    assert stream.status == 200
    server.stop()
    assert app.extensions["callcenter"].streams.active == 0
    stream.close()
