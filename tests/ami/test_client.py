"""The AMI client against the TCP emulator: login, actions, lists, keepalive, reconnects."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from callcenter.ami.client import AMIClient, AMIConnectionError, Backoff
from callcenter.ami.protocol import Message

from .conftest import SECRET, transcript


def run(coro_fn: Callable[..., Awaitable[Any]], *args: Any) -> Any:
    return asyncio.run(coro_fn(*args))


def make_client(emulator, **options: Any) -> AMIClient:
    options.setdefault("reconnect_min_s", 0.05)
    options.setdefault("reconnect_max_s", 0.4)
    options.setdefault("ping_interval_s", 0)
    return AMIClient(emulator.host, emulator.port, options.pop("username", "callcenter"),
                     options.pop("secret", SECRET), **options)


async def until(condition: Callable[[], Any], timeout: float = 10.0) -> None:
    async def poll() -> None:
        while not condition():
            await asyncio.sleep(0.01)
    await asyncio.wait_for(poll(), timeout)


@contextlib.asynccontextmanager
async def running(client: AMIClient, *, connect: bool = True):
    task = asyncio.ensure_future(client.run())
    try:
        if connect:
            assert await client.wait_connected(10)
        yield client
    finally:
        await client.close()
        await asyncio.wait_for(task, 10)


# --- backoff -----------------------------------------------------------------------------
def test_backoff_is_exponential_jittered_and_capped():
    values = iter([0.0, 1.0] * 20)
    backoff = Backoff(0.5, 30.0, rng=lambda: next(values))
    delays = [backoff.next_delay() for _ in range(12)]
    ceilings = [min(30.0, 0.5 * 2 ** n) for n in range(12)]
    for delay, ceiling, jitter in zip(delays, ceilings, [0.0, 1.0] * 6):
        assert delay == pytest.approx(ceiling * (0.5 + 0.5 * jitter))
    assert max(delays) == 30.0 and min(delays) == 0.25
    backoff.reset()
    assert backoff.next_delay() <= 0.5
    with pytest.raises(ValueError):
        Backoff(0, 1)


def test_connection_attempts_during_a_refused_period_are_few(emulator):
    """Asterisk restarting: connects are refused for 1.5 s. The client retries with
    backoff - a handful of attempts, not a busy loop - and is back afterwards."""
    async def scenario() -> tuple[int, int]:
        client = make_client(emulator, reconnect_min_s=0.1, reconnect_max_s=0.4)
        async with running(client):
            before = client.stats.connect_attempts
            await asyncio.to_thread(emulator.restart, 1.5)
            assert await client.wait_connected(10)
            return client.stats.connect_attempts - before, client.stats.logins
    attempts, logins = run(scenario)
    # Delays are at least 0.05, 0.1, 0.2, 0.2 ... s: at most ~10 tries fit in 1.5 s.
    assert 2 <= attempts <= 15
    assert logins == 2


def test_wrong_secret_is_a_loud_error_retried_with_backoff(emulator, caplog):
    caplog.set_level(logging.ERROR, logger="callcenter.ami.client")

    async def scenario() -> tuple[int, int]:
        client = make_client(emulator, secret="wrong-secret", reconnect_min_s=0.05, reconnect_max_s=0.2)
        async with running(client, connect=False):
            await until(lambda: client.stats.login_failures >= 3)
            assert not client.connected
            failures = client.stats.login_failures
            emulator.emulator.secret = "wrong-secret"  # the admin fixes manager.conf
            assert await client.wait_connected(10)
            return failures, client.stats.logins
    failures, logins = run(scenario)
    assert failures >= 3 and logins == 1
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) >= 3
    assert "refused (Authentication failed)" in errors[0] and "ami_secret" in errors[0]
    assert emulator.emulator.failed_logins >= 3


def test_not_an_ami_server_is_rejected(unused_tcp_port_server):
    host, port = unused_tcp_port_server

    async def scenario() -> str:
        client = AMIClient(host, port, "u", "s", reconnect_min_s=0.05, reconnect_max_s=0.1, ping_interval_s=0)
        async with running(client, connect=False):
            await until(lambda: client.stats.connect_attempts >= 2)
            assert not client.connected
            return client.stats.last_error
    assert "not an AMI server" in run(scenario)


@pytest.fixture
def unused_tcp_port_server():
    """A TCP server that greets like SSH, not like Asterisk."""
    import socket
    import threading

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    stop = threading.Event()

    def serve() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            with conn:
                conn.sendall(b"SSH-2.0-OpenSSH_9.2\r\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()
    stop.set()
    thread.join(2)
    server.close()


# --- actions ------------------------------------------------------------------------------
def test_actions_and_lists_are_correlated_by_action_id(emulator):
    async def scenario() -> None:
        client = make_client(emulator)
        async with running(client):
            pings = [client.ping() for _ in range(30)]
            lists = [client.queue_status() for _ in range(10)]
            results = await asyncio.gather(*pings, *lists)
            ids = [r.response.action_id for r in results]
            assert len(set(ids)) == len(ids)
            for result in results[:30]:
                assert result.response.get("Ping") == "Pong" and result.events == []
            for result in results[30:]:
                assert result.complete is not None
                assert result.complete.action_id == result.response.action_id
                assert all(e.action_id == result.response.action_id for e in result.events)
                assert [e.event for e in result.events] == ["QueueParams", "QueueMember", "QueueParams", "QueueMember"]
                assert result.complete.get("ListItems") == "4"
    run(scenario)


def test_queue_actions_messages_and_events(emulator):
    events: list[Message] = []

    async def scenario() -> None:
        client = make_client(emulator, on_event=events.append)
        async with running(client):
            add = await client.queue_add("general_q", "PJSIP/agent1003", member_name="坐席 1003", penalty=1)
            again = await client.queue_add("general_q", "PJSIP/agent1003")
            pause = await client.queue_pause("PJSIP/agent1003", True, reason="午休")
            status = await client.queue_status("general_q")
            unpause = await client.queue_pause("PJSIP/agent1003", False)
            nowhere = await client.queue_pause("PJSIP/agent1003", True, queue="nosuchqueue")
            remove = await client.queue_remove("general_q", "PJSIP/agent1003")
            gone = await client.queue_remove("general_q", "PJSIP/agent1003")
            static = await client.queue_remove("vip", "PJSIP/agent1001")
            summary = await client.queue_summary("general_q")
            await client.ping()
            assert summary.message == "Queue summary will follow"
            assert [(e.event, e.get("Queue"), e.get("LoggedIn"), e.get("Available")) for e in summary.events] == [
                ("QueueSummary", "general_q", "1", "1")]
            assert summary.complete.get("ListItems") == "1"
            assert (add.success, add.message) == (True, "Added interface to queue")
            assert (again.success, again.message) == (False, "Unable to add interface: Already there")
            assert (pause.success, pause.message) == (True, "Interface paused successfully")
            member = [e for e in status.events if e.event == "QueueMember" and e.get("Location") == "PJSIP/agent1003"]
            assert [(m.get("Name"), m.get("Paused"), m.get("PausedReason")) for m in member] == [("坐席 1003", "1", "午休")]
            assert unpause.message == "Interface unpaused successfully"
            assert (nowhere.success, nowhere.message) == (False, "Interface not found")
            assert remove.message == "Removed interface from queue"
            assert gone.message == "Unable to remove interface: Not there"
            assert static.message == "Member not dynamic"
    run(scenario)
    member_events = [(e.event, e.get("Paused"), e.get("PausedReason")) for e in events
                     if e.event.startswith("QueueMember") and e.get("Interface") == "PJSIP/agent1003"]
    assert member_events == [("QueueMemberAdded", "0", ""), ("QueueMemberPause", "1", "午休"),
                             ("QueueMemberPause", "0", ""), ("QueueMemberRemoved", "0", "")]
    sent = [a.message for a in emulator.emulator.actions if a.message.action == "QueuePause"]
    assert sent[0].get("Reason") == "午休" and sent[0].get("Paused") == "true"
    assert "Reason" not in sent[1] and "Queue" not in sent[0]


def test_originate_outcomes(emulator):
    async def scenario() -> None:
        client = make_client(emulator)
        async with running(client):
            answered = await client.originate("PJSIP/agent1001", context="survey", exten="s", priority=1,
                                              timeout_ms=2000, caller_id='"Survey" <4008001000>',
                                              variables={"CC_SURVEY_ID": "42"})
            busy = await client.originate("PJSIP/busy2001", context="survey", exten="s", priority=1, timeout_ms=2000)
            no_answer = await client.originate("PJSIP/agent1002", context="survey", exten="s", priority=1,
                                               timeout_ms=300)
            unknown = await client.originate("PJSIP/nosuch2999", context="survey", exten="s", priority=1)
            sync_unknown = await client.originate("PJSIP/nosuch2999", context="survey", exten="s", priority=1,
                                                  run_async=False)
            assert (answered.success, answered.reason) == (True, 4)
            assert answered.channel.startswith("PJSIP/agent1001-") and answered.uniqueid
            assert answered.event.get("CallerIDName") == "Survey"
            # Asterisk 22 reports a 486 as Reason 0, not 5.
            assert (busy.success, busy.reason, busy.channel, busy.uniqueid) == (False, 0, "PJSIP/busy2001", "<unknown>")
            assert (no_answer.success, no_answer.reason) == (False, 3)
            assert (unknown.success, unknown.reason) == (False, 0)
            assert sync_unknown.event is None and sync_unknown.accepted.message == "Originate failed"
            live = await client.core_show_channels()
            assert [e.get("Channel") for e in live.events] == [answered.channel]
            hangup = await client.hangup(answered.channel, cause=16)
            missing = await client.hangup("PJSIP/nosuch-00000000")
            assert hangup.message == "Channel Hungup" and missing.message == "No such channel"
            assert (await client.core_show_channels()).events == []
            unknown_action = await client.action("NoSuchAction")
            assert unknown_action.message == ("Invalid/unknown command: NoSuchAction. "
                                              "Use Action: ListCommands to show available commands.")
            version = await client.command("core show version")
            assert version.response.getall("Output")[0].startswith("Asterisk 22.10.1 built by")
    run(scenario)
    originate = next(a.message for a in emulator.emulator.actions if a.message.action == "Originate")
    assert originate.getall("Variable") == ["CC_SURVEY_ID=42"] and originate.get("Async") == "true"


def test_a_silent_server_is_detected_by_ping(emulator, caplog):
    caplog.set_level(logging.WARNING, logger="callcenter.ami.client")

    async def scenario() -> AMIClient:
        client = make_client(emulator, ping_interval_s=0.1, ping_timeout_s=0.2)
        async with running(client):
            emulator.emulator.stalled = True
            await until(lambda: client.stats.ping_timeouts >= 1)
            emulator.emulator.stalled = False
            await until(lambda: client.stats.logins >= 2)
            return client
    client = run(scenario)
    assert client.stats.disconnects >= 1
    assert any("no answer to Ping" in r.getMessage() for r in caplog.records)


def test_pending_actions_fail_when_the_connection_drops(emulator):
    async def scenario() -> None:
        client = make_client(emulator)
        async with running(client):
            emulator.emulator.stalled = True
            pending = asyncio.ensure_future(client.queue_status())
            await asyncio.sleep(0.1)
            await asyncio.to_thread(emulator.drop_connections)
            with pytest.raises(AMIConnectionError):
                await asyncio.wait_for(pending, 5)
            emulator.emulator.stalled = False
            assert await client.wait_connected(10)
            assert (await client.ping()).success
    run(scenario)


def test_not_connected_is_an_error_not_a_hang(emulator):
    async def scenario() -> None:
        client = make_client(emulator)
        with pytest.raises(AMIConnectionError):
            await client.ping()
    run(scenario)


def test_malformed_messages_are_skipped_and_reading_goes_on(emulator, caplog):
    events: list[Message] = []
    caplog.set_level(logging.WARNING, logger="callcenter.ami.client")

    async def scenario() -> AMIClient:
        client = make_client(emulator, on_event=events.append)
        async with running(client):
            garbage = (b"Event: QueueMemberPause\r\nnot a header line\r\nInterface: PJSIP/x\r\n\r\n"
                       b"no event and no response\r\n\r\n"
                       b"Event: QueueMemberPause\r\nInterface: PJSIP/agent1001\r\n"
                       b"PausedReason: \xe5\x8d\x88\xe4\xbc\x91\r\n\r\n")

            async def send() -> None:
                for session in emulator.emulator.sessions:
                    session.write(garbage)
            await asyncio.to_thread(emulator.call, send)
            await client.ping()
            return client
    client = run(scenario)
    pauses = [e for e in events if e.event == "QueueMemberPause"]
    assert [(e.get("Interface"), e.get("PausedReason")) for e in pauses] == [("PJSIP/agent1001", "午休")]
    assert client.stats.malformed == 2
    assert sum("malformed message skipped" in r.getMessage() for r in caplog.records) == 2


def test_shutdown_is_logged_and_the_client_comes_back(emulator, caplog):
    caplog.set_level(logging.WARNING, logger="callcenter.ami.client")
    seen: list[str] = []

    async def scenario() -> None:
        client = make_client(emulator, on_event=lambda m: seen.append(m.event))
        async with running(client):
            await asyncio.to_thread(emulator.replay, transcript("3e1_restart_idle"), down_s=0.2)
            assert await client.wait_connected(10)
            await client.ping()
            assert client.stats.logins == 2
    run(scenario)
    assert seen.count("Shutdown") == 1 and seen[-1] == "FullyBooted"
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "Asterisk is shutting down (Shutdown: Cleanly, Restart: True)" in text
    assert "after Shutdown (Cleanly, restart=True)" in text
