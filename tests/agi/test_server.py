"""The server's failure policy, timeouts, hostile peers and lifecycle, over real sockets."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from callcenter.agi.channel import AGIHangup
from callcenter.agi.process import freeze_startup_objects, loop_factory, run_loop, standard_event_loop, start_in_thread
from callcenter.agi.registry import Registry
from callcenter.agi.server import loop_name
from callcenter.config import Settings

from . import peers
from .conftest import agi_settings, running_server, settle

FALLBACK = {"CC_ROUTE": "queue", "CC_QUEUE": "general_q", "CC_ROUTE_REASON": "fallback"}


def run(coro):
    return asyncio.run(coro)


def test_handler_error_sets_fallback_and_logs_uniqueid(caplog):
    registry = Registry()

    @registry.route("route_call", fallback=FALLBACK)
    async def broken(channel, ctx):
        await channel.get_variable("CALLERID(num)")
        raise RuntimeError("database exploded")

    async def scenario():
        async with running_server(registry) as server:
            result = await peers.call(server.port, peers.header(uniqueid="1795344402.7"))
            await settle(server)
            return result, dict(server.stats)

    with caplog.at_level(logging.INFO, logger="callcenter.agi"):
        result, stats = run(scenario())
    assert result.variables() == FALLBACK and result.closed_by_server
    assert stats == {"sessions": 1, "fallback": 1}
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "[1795344402.7]" in errors[0].getMessage()
    assert "database exploded" in caplog.text


def test_run_db_over_budget_gets_the_settings_fallback():
    registry = Registry()

    @registry.route("route_call", fallback=lambda settings: {"CC_QUEUE": settings.default_queue})
    async def slow(channel, ctx):
        await ctx.run_db(time.sleep, 0.5)
        await channel.set_variable("CC_QUEUE", "never")

    async def scenario():
        settings = agi_settings(agi_route_budget_s=0.05, default_queue="duty_q")
        async with running_server(registry, settings) as server:
            result = await peers.call(server.port)
            return result, dict(server.stats)

    result, stats = run(scenario())
    assert result.variables() == {"CC_QUEUE": "duty_q"}
    assert stats["fallback"] == 1


def test_whole_route_budget_cancels_a_command_in_flight_and_its_late_reply_is_discarded():
    registry = Registry()
    fallback_saw = []

    async def fallback(channel, ctx):
        reply = await channel.command("SET VARIABLE", "CC_ROUTE", "queue")
        fallback_saw.append(reply.raw)

    @registry.route("route_call", fallback=fallback, budget_s=0.1)
    async def stuck(channel, ctx):
        await channel.get_variable("SLOW")

    async def scenario():
        async with running_server(registry) as server:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(peers.header())
            first = await reader.readline()
            await asyncio.sleep(0.3)                          # past the route's budget
            writer.write(b"200 result=1 (late)\n")
            second = await reader.readline()
            writer.write(b"200 result=1\n")
            eof = await reader.read()
            writer.close()
            await settle(server)
            return first, second, eof, dict(server.stats)

    first, second, eof, stats = run(scenario())
    assert first == b"GET VARIABLE SLOW\n" and second == b"SET VARIABLE CC_ROUTE queue\n" and eof == b""
    assert fallback_saw == ["200 result=1"]
    assert stats["fallback"] == 1


def test_hangup_while_handler_is_in_the_database_is_seen_as_agihangup(caplog):
    registry = Registry()
    seen = []

    @registry.route("route_call", fallback=FALLBACK)
    async def route(channel, ctx):
        await channel.get_variable("CALLERID(num)")
        await ctx.run_db(time.sleep, 0.2)
        try:
            await channel.set_variable("CC_ROUTE", "vip")
        except AGIHangup:
            seen.append("hangup")      # a real handler records the call as hung up here
            raise

    async def scenario():
        async with running_server(registry) as server:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(peers.header())
            await reader.readline()
            writer.write(b"200 result=1 (13800138000)\n")
            await asyncio.sleep(0.05)
            writer.write(b"HANGUP\n")                          # unsolicited, while idle
            rest = await reader.read()
            writer.close()
            await settle(server)
            return rest, dict(server.stats)

    with caplog.at_level(logging.INFO, logger="callcenter.agi"):
        rest, stats = run(scenario())
    assert rest == b"" and seen == ["hangup"]      # nothing sent after the hangup, no fallback
    assert stats == {"sessions": 1, "hangup": 1}
    assert any(r.levelno == logging.INFO and "hung up" in r.getMessage() for r in caplog.records)
    assert not any(r.levelno >= logging.WARNING for r in caplog.records)


def test_unknown_route_is_logged_and_the_session_ends(caplog):
    registry = Registry()

    @registry.route("route_call")
    async def route(channel, ctx):
        pass

    async def scenario():
        async with running_server(registry) as server:
            result = await peers.call(server.port, peers.header("nope?x=1"))
            await settle(server)
            return result, dict(server.stats)

    result, stats = run(scenario())
    assert result.commands == [] and result.closed_by_server
    assert stats == {"sessions": 1, "no_route": 1}
    assert "no AGI route named 'nope' (known: route_call)" in caplog.text


def test_plain_def_handlers_are_refused_at_registration():
    with pytest.raises(TypeError):
        Registry().route("x")(lambda channel, ctx: None)


def test_stalled_peers_time_out_and_later_calls_are_served():
    registry = Registry()

    @registry.route("route_call")
    async def route(channel, ctx):
        await channel.set_variable("CC_ROUTE", "vip")

    async def scenario():
        settings = agi_settings(agi_header_timeout_s=0.2, agi_command_timeout_s=0.3)
        async with running_server(registry, settings) as server:
            half_r, half_w = await asyncio.open_connection("127.0.0.1", server.port)
            half_w.write(peers.header()[:100])                # half a header, then silence
            mute_r, mute_w = await asyncio.open_connection("127.0.0.1", server.port)
            mute_w.write(peers.header())                      # a header, then no replies
            assert await mute_r.readline() == b"SET VARIABLE CC_ROUTE vip\n"
            eofs = (await asyncio.wait_for(half_r.read(), 3), await asyncio.wait_for(mute_r.read(), 3))
            later = await peers.call(server.port)
            for w in (half_w, mute_w):
                w.close()
            await settle(server)
            return eofs, later, dict(server.stats), server.active_sessions

    eofs, later, stats, active = run(scenario())
    assert eofs == (b"", b"")
    assert later.variables() == {"CC_ROUTE": "vip"}
    assert stats["header_timeouts"] == 1 and stats["command_timeouts"] == 1
    assert stats["hangup"] == 1 and stats["completed"] == 1 and active == 0


def test_health_checks_and_port_scans_cost_nothing_and_disturb_nothing():
    registry = Registry()

    @registry.route("route_call")
    async def route(channel, ctx):
        await channel.set_variable("CC_ROUTE", "vip")

    async def scenario():
        async with running_server(registry) as server:
            for i in range(200):
                reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
                if i % 3 == 1:
                    writer.write(peers.header()[: i % 400])   # dies inside the header
                elif i % 3 == 2:
                    writer.transport.abort()                  # RST instead of FIN
                    continue
                writer.close()
            await settle(server)
            tasks = len(asyncio.all_tasks())
            results = await asyncio.gather(*(peers.call(server.port) for _ in range(20)))
            await settle(server)
            return results, dict(server.stats), tasks, server.active_sessions

    results, stats, tasks, active = run(scenario())
    assert all(r.variables() == {"CC_ROUTE": "vip"} for r in results)
    assert stats["sessions"] == 20 and stats["completed"] == 20   # no task was ever made for a scan
    assert tasks == 1 and active == 0


def test_hostile_lines_are_capped():
    registry = Registry()

    @registry.route("route_call")
    async def route(channel, ctx):
        await channel.get_variable("X")

    async def scenario():
        async with running_server(registry) as server:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(b"agi_network: yes\nagi_calleridname: " + b"A" * 40000)   # no newline, ever
            first = await asyncio.wait_for(reader.read(), 3)
            writer.close()
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(peers.header())
            await reader.readline()
            writer.write(b"junk\n" * 300)                       # never a reply
            second = await asyncio.wait_for(reader.read(), 3)
            writer.close()
            await settle(server)
            return first, second, dict(server.stats)

    first, second, stats = run(scenario())
    assert first == b"" and second == b""
    assert stats["protocol_errors"] == 2 and stats["hangup"] == 1


def test_graceful_stop_lets_calls_in_progress_finish():
    registry = Registry()

    @registry.route("route_call")
    async def route(channel, ctx):
        await asyncio.sleep(0.2)
        await channel.set_variable("CC_ROUTE", "vip")

    async def scenario():
        async with running_server(registry) as server:
            call = asyncio.ensure_future(peers.call(server.port))
            await asyncio.sleep(0.05)
            await server.stop(grace_s=2.0)
            result = await call
            try:
                await asyncio.open_connection("127.0.0.1", server.port)
                refused = False
            except OSError:
                refused = True
            return result, refused

    result, refused = run(scenario())
    assert result.variables() == {"CC_ROUTE": "vip"} and refused


def test_start_in_thread_serves_and_stops(event_loop_kind):
    registry = Registry()

    @registry.route("route_call")
    async def route(channel, ctx):
        value = await ctx.run_db(lambda: "from-db")
        await channel.set_variable("CC_ROUTE", value)

    before = {t.name for t in __import__("threading").enumerate()}
    handle = start_in_thread(agi_settings(), registry, host="127.0.0.1", port=0)
    try:
        result = asyncio.run(peers.call(handle.port))
        with pytest.raises(OSError):                          # the port is really taken
            start_in_thread(agi_settings(), registry, host="127.0.0.1", port=handle.port)
    finally:
        handle.stop()
    assert result.variables() == {"CC_ROUTE": "from-db"}
    assert loop_name(handle.server.loop) == event_loop_kind     # agi_event_loop from the environment
    assert not handle.thread.is_alive()
    assert {t.name for t in __import__("threading").enumerate()} <= before
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)   # as the server binds
        s.bind(("127.0.0.1", handle.port))
        s.listen()                                            # no listener left on the port


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_event_loop_follows_the_setting_and_falls_back_without_uvloop(monkeypatch):
    uvloop = pytest.importorskip("uvloop")
    assert loop_factory(agi_settings(agi_event_loop="auto")) is uvloop.new_event_loop
    assert loop_factory(agi_settings(agi_event_loop="uvloop")) is uvloop.new_event_loop
    assert loop_factory(agi_settings(agi_event_loop="asyncio")) is standard_event_loop
    assert run_loop(_running_loop_name, agi_settings(agi_event_loop="auto")) == "uvloop"
    assert run_loop(_running_loop_name, agi_settings(agi_event_loop="asyncio")) == "asyncio"
    monkeypatch.setitem(sys.modules, "uvloop", None)           # as if it were not installed
    assert loop_factory(agi_settings(agi_event_loop="auto")) is standard_event_loop
    with pytest.raises(ImportError):
        loop_factory(agi_settings(agi_event_loop="uvloop"))   # asked for by name: no silent fallback


async def _running_loop_name() -> str:
    return loop_name(asyncio.get_running_loop())


def test_cli_agi_serves_until_sigterm(tmp_path, event_loop_kind):
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-c", "from callcenter.cli import main; main()", "agi", "--host", "127.0.0.1",
                             "--port", str(port)], cwd=tmp_path, stderr=subprocess.PIPE,
                            env=dict(os.environ, CALLCENTER_DATABASE_URL=f"sqlite:///{tmp_path}/cc.db"))
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
                time.sleep(0.05)
        result = asyncio.run(peers.call(port, peers.header("no_such_route")))
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(20)
    finally:
        if proc.poll() is None:
            proc.kill()
    stderr = proc.stderr.read().decode()
    assert result.closed_by_server and code == 0
    assert "FastAGI listening on 127.0.0.1:%d" % port in stderr
    assert f"event loop {event_loop_kind}," in stderr
    assert "start-up objects left out of garbage collection" in stderr
    assert "no AGI route named 'no_such_route'" in stderr and "stopped" in stderr


def test_saturated_database_sheds_at_once_instead_of_queueing_past_the_budget():
    from concurrent.futures import ThreadPoolExecutor

    from callcenter.agi.dbwork import RouteBudgetExceeded, executor_runner

    executor = ThreadPoolExecutor(1)
    runner = executor_runner(executor, budget_s=0.8, workers=1)
    ran = []

    def work(tag):
        time.sleep(0.3)
        ran.append(tag)
        return tag

    async def scenario():
        assert await runner(work, ("learn",), {}) == "learn"          # ~0.3 s per piece of work
        busy = asyncio.ensure_future(runner(work, ("first",), {}))
        await asyncio.sleep(0.01)
        queued = asyncio.ensure_future(runner(work, ("second",), {}))  # 2 x 0.3 s: fits in 0.8 s
        await asyncio.sleep(0.01)
        with pytest.raises(RouteBudgetExceeded, match="database saturated"):
            await runner(work, ("third",), {})                         # 3 x 0.3 s + own: shed
        assert await busy == "first" and await queued == "second"
        assert await runner(work, ("later",), {}) == "later"           # idle again: served

    try:
        run(scenario())
    finally:
        executor.shutdown()
    assert ran == ["learn", "first", "second", "later"]


def test_a_lagging_event_loop_sheds_database_work_until_it_recovers():
    registry = Registry()

    @registry.route("route_call", fallback={"CC_ROUTE": "fallback"})
    async def route(channel, ctx):
        if channel.request.args[0] == "block":
            time.sleep(0.6)                      # something hogs the event loop
        await channel.set_variable("CC_ROUTE", await ctx.run_db(str, "db"))

    async def scenario():
        # The production threshold (tests run with a laxer one, see tests/conftest.py).
        threshold = Settings.model_fields["agi_overload_lag_s"].default
        async with running_server(registry, agi_settings(agi_overload_lag_s=threshold)) as server:
            assert server.overload_lag_s == 0.25
            blocker = asyncio.ensure_future(peers.call(server.port, peers.header().replace(b"arg1", b"block")))
            await asyncio.sleep(0.1)             # the server is inside the blocking handler now
            during = await peers.call(server.port)
            await blocker
            await asyncio.sleep(0.5)             # a few probes on time: recovered
            after = await peers.call(server.port)
            return during, after, dict(server.stats)

    during, after, stats = run(scenario())
    assert during.variables() == {"CC_ROUTE": "fallback"}
    assert after.variables() == {"CC_ROUTE": "db"}
    assert stats["overload_probes"] >= 1


@pytest.mark.parametrize("chunking", ["whole", "bytes", "crlf-bytes"])
def test_lines_are_read_the_same_however_the_bytes_are_cut(chunking):
    """The server decodes every complete line of a chunk at once: a header, replies and
    the HANGUP cut anywhere (inside a UTF-8 character too), or ended by CRLF, read as
    when they arrive line by line."""
    registry = Registry()
    seen = {}

    @registry.route("route_call")
    async def route(channel, ctx):
        seen["env"] = dict(channel.request.env)
        seen["value"] = await channel.get_variable("CALLERID(name)")
        seen["set"] = (await channel.command("SET VARIABLE", "CC_ROUTE", "queue")).result
        seen["hangup"] = await channel._wait_hangup(5.0)

    head = peers.header(calleridname="张三 O'Brien", uniqueid="1795344402.9")
    replies = ["200 result=1 (李四\\ test)\n", "200 result=1\n", "HANGUP\n"]
    if chunking == "crlf-bytes":
        head = head.replace(b"\n", b"\r\n")
        replies = [r.replace("\n", "\r\n") for r in replies]

    async def send(writer, data: bytes):
        if chunking == "whole":
            writer.write(data)
        else:
            for i in range(len(data)):          # one byte per write: cuts inside every line
                writer.write(data[i:i + 1])
                await writer.drain()
                if i % 7 == 0:
                    await asyncio.sleep(0)

    async def scenario():
        async with running_server(registry) as server:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            await send(writer, head)
            commands = []
            for reply in replies[:2]:
                commands.append(await asyncio.wait_for(reader.readline(), 5))
                await send(writer, reply.encode("utf-8"))
            await send(writer, replies[2].encode("utf-8"))
            end = await asyncio.wait_for(reader.read(), 5)
            writer.close()
            await settle(server)
            return commands, end, dict(server.stats)

    commands, end, stats = run(scenario())
    expected_env = {k: v for k, v in (line.split(": ", 1) if ": " in line else (line.rstrip(":"), "")
                                       for line in peers.header(calleridname="张三 O'Brien",
                                                                uniqueid="1795344402.9").decode().split("\n")
                                       if line)}
    assert seen["env"] == {k.removeprefix("agi_"): v for k, v in expected_env.items()}
    assert seen["value"] == "李四\\ test" and seen["set"] == "1" and seen["hangup"] is True
    assert commands == [b"GET VARIABLE CALLERID(name)\n", b"SET VARIABLE CC_ROUTE queue\n"]
    assert end == b"" and stats.get("completed") == 1 and not stats.get("protocol_errors")


def test_startup_objects_are_frozen_and_later_garbage_is_still_collected():
    import gc

    try:
        frozen = freeze_startup_objects()
        assert frozen > 0 and gc.get_freeze_count() >= frozen

        class Cycle:
            pass

        made = Cycle()
        made.me = made                          # garbage only a collection can free
        ref = __import__("weakref").ref(made)
        del made
        gc.collect()
        assert ref() is None
    finally:
        gc.unfreeze()
