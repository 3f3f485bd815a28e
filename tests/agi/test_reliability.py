"""1,200 sessions of every kind of trouble against one server: random hangups at every
protocol step, EOF and resets, malformed, truncated and fragmented lines, garbage,
half headers, stalled peers, invalid UTF-8. The server must keep serving, leak no
task, socket, file descriptor or thread, and every session that reached its end must
have produced a route (the route's own variables, or its fallback's)."""

from __future__ import annotations

import asyncio
import gc
import os
import random
import threading
from collections import Counter

from callcenter.agi.registry import Registry

from . import peers
from .asterisk_args import parse_args
from .conftest import agi_settings, running_server, settle

SESSIONS = 1200
CONCURRENCY = 100
COMMANDS = 4            # GET VARIABLE, then three SET VARIABLEs
ROUTED = {"CC_ROUTE": "vip", "CC_QUEUE": "vip"}
FALLBACK = {"CC_ROUTE": "queue", "CC_QUEUE": "general_q"}
# Kinds whose peer answers everything correctly in the end: they must end with a route.
MUST_ROUTE = {"normal", "junk_lines", "usage_520", "fragmented", "multiline_value", "hangup_after_last"}
KINDS = ["normal", "junk_lines", "usage_520", "fragmented", "multiline_value", "hangup_after_last",
         "hangup_line", "eof", "reset", "truncated_reply", "garbage_header", "half_header",
         "stall_header", "stall_reply", "long_line", "bad_utf8_header"]


def registry() -> Registry:
    reg = Registry()

    @reg.route("route_call", fallback=FALLBACK)
    async def route_call(channel, ctx):
        await channel.get_variable("CALLERID(num)")
        queue = await ctx.run_db(str, "vip")
        await channel.set_variable("CC_ROUTE", queue)
        await channel.set_variable("CC_QUEUE", queue)
        await channel.set_variable("CC_NAME", channel.request.get("calleridname"))

    return reg


def reply_for(argv: list[bytes], kind: str) -> bytes:
    if kind == "usage_520" and argv[:3] == [b"SET", b"VARIABLE", b"CC_ROUTE"] and argv[3] == b"vip":
        return (b"520-Invalid command syntax.  Proper usage follows:\nSets a variable to the current channel.\n"
                b"520 End of proper usage.\n")
    if kind == "multiline_value" and argv[:2] == [b"GET", b"VARIABLE"]:
        return b"200 result=1 (Evil\nagi_injected: yes)\n"
    if kind == "junk_lines":
        return b"\xff\xfe garbage\n\nnot a reply\n" + peers.default_reply(argv)
    return peers.default_reply(argv)


async def session(port: int, kind: str, rng: random.Random) -> tuple[str, dict, bool]:
    """Returns (kind, variables received, whether the server closed the session)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = peers.header()
    variables: dict[str, str] = {}
    closed_by_server = False
    try:
        if kind == "garbage_header":
            writer.write(bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 300))))
            return kind, variables, False
        if kind == "half_header":
            writer.write(head[: rng.randint(0, len(head) - 2)])
            return kind, variables, False
        if kind == "stall_header":
            writer.write(head[: rng.randint(0, len(head) - 2)])
            await asyncio.wait_for(reader.read(), 5)                 # the server gives up first
            return kind, variables, True
        if kind == "long_line":
            writer.write(head[:200] + b"x" * 20000)
            await asyncio.wait_for(reader.read(), 5)
            return kind, variables, True
        if kind == "bad_utf8_header":
            head = head.replace(b"agi_calleridname: Test Caller", b"agi_calleridname: \xe5\xbc\xa0\xff\"\\\x00\r")
        writer.write(head)
        step = rng.randint(0, COMMANDS - 1)
        received = 0
        while True:
            line = await asyncio.wait_for(reader.readline(), 5)
            if not line:
                closed_by_server = True
                writer.write(b"HANGUP\n")
                break
            argv = parse_args(line.rstrip(b"\n"))
            if len(argv) == 4 and argv[:2] == [b"SET", b"VARIABLE"]:
                variables[argv[2].decode()] = argv[3].decode()
            received += 1
            if received - 1 == step:
                if kind == "stall_reply":
                    closed_by_server = await asyncio.wait_for(reader.read(), 5) == b""
                    break
                if kind in ("eof", "reset"):
                    if kind == "reset":
                        writer.transport.abort()
                    break
                if kind == "truncated_reply":
                    writer.write(b"200 resu")
                    break
                if kind == "hangup_line":
                    writer.write(b"HANGUP\n")
            answer = reply_for(argv, kind)
            if kind == "fragmented":
                for i in range(len(answer)):
                    writer.write(answer[i:i + 1])
                    await writer.drain()
            else:
                writer.write(answer)
            if kind == "hangup_after_last" and received == COMMANDS:
                writer.write(b"HANGUP\n")
    except (ConnectionError, TimeoutError):
        pass
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except ConnectionError:
            pass
    return kind, variables, closed_by_server


def test_reliability_under_random_faults():
    gc.collect()        # what earlier tests left for the collector must not close mid-test
    fds_before = len(os.listdir("/proc/self/fd"))
    threads_before = threading.active_count()
    rng = random.Random(20261122)
    kinds = [KINDS[i % len(KINDS)] for i in range(SESSIONS)]
    rng.shuffle(kinds)

    async def scenario():
        settings = agi_settings(agi_header_timeout_s=0.3, agi_command_timeout_s=0.3, agi_route_budget_s=1.0)
        async with running_server(registry(), settings) as server:
            gate = asyncio.Semaphore(CONCURRENCY)

            async def one(kind, seed):
                async with gate:
                    return await session(server.port, kind, random.Random(seed))

            results = await asyncio.gather(*(one(k, rng.random()) for k in kinds))
            final = await peers.call(server.port)                   # still serving
            await settle(server)
            tasks_left = len(asyncio.all_tasks()) - 1
            return results, final, dict(server.stats), server.active_sessions, tasks_left

    results, final, stats, active, tasks_left = asyncio.run(scenario())

    assert final.variables() == {**ROUTED, "CC_NAME": "Test Caller"}
    routed = Counter()
    for kind, variables, closed in results:
        if kind in MUST_ROUTE:
            assert closed, f"{kind}: the server never ended the session"
            expected = FALLBACK if kind == "usage_520" else ROUTED
            assert {k: variables.get(k) for k in expected} == expected, (kind, variables)
            routed[kind] += 1
    assert sum(routed.values()) == SESSIONS * len(MUST_ROUTE) // len(KINDS)
    # Every session the server started ended with a known outcome: nothing crashed.
    # (Random garbage may contain an empty line: a "header" naming no route.)
    outcomes = {k: v for k, v in stats.items() if k in ("completed", "fallback", "hangup", "no_route")}
    assert sum(outcomes.values()) == stats["sessions"]
    assert "crashed" not in stats and "failed" not in stats
    assert stats["header_timeouts"] == SESSIONS // len(KINDS)
    assert stats["command_timeouts"] == SESSIONS // len(KINDS)
    # Nothing leaked.
    assert active == 0 and tasks_left == 0
    assert len(os.listdir("/proc/self/fd")) == fds_before
    assert threading.active_count() == threads_before
