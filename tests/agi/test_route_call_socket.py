"""The real route_call over the real FastAGI socket (and through the per-call script),
against a database seeded with the example lines and a VIP customer. Runs on SQLite
and on PostgreSQL. The decision itself (hours, holidays, priorities) is the routing
area's to test; here: what reaches Asterisk is exactly what was recorded, every call
gets a row, a hangup mid-route is recorded as such, a dead database still routes."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from callcenter.agi import variables as V
from callcenter.agi.handlers import default_registry
from callcenter.db import session_scope
from callcenter.models import Call, CallStatus
from callcenter.services.people import customers
from callcenter.services.setup import defaults

from . import peers
from .asterisk_args import command_argv
from .conftest import running_server, settle
from .transcripts import load

ROOT = Path(__file__).resolve().parents[2]
VIP_LINE = "4008002000"


@pytest.fixture
def seeded(settings):
    with session_scope(settings.database_url) as session:
        defaults.setup_defaults(session)
        customer = customers.create_customer(session, name="张三", numbers=["13800138000"], tier="vip")
        customer_id = customer.id
    return settings, customer_id


def vip_header(uniqueid: str, linkedid: str, callerid: str = "13800138000") -> bytes:
    head = peers.header("route_call", uniqueid=uniqueid, dnid=VIP_LINE, extension=VIP_LINE, callerid=callerid)
    return head.replace(b"agi_arg_1: arg1\nagi_arg_2: arg2\n", f"agi_arg_1: {linkedid}\n".encode())


def call_row(settings, uniqueid: str) -> Call:
    with session_scope(settings.database_url) as session:
        return session.scalars(select(Call).where(Call.uniqueid == uniqueid)).one()


def assert_variables_match_row(variables: dict, row: Call) -> None:
    assert variables[V.QUEUE] == row.queue
    assert variables[V.QUEUE_PRIO] == str(row.priority)
    assert variables[V.ROUTE_REASON] == row.route_reason
    # The row is written behind the route: the call's key on the channel is its pop key.
    assert V.CALL_ID not in variables
    assert variables[V.POP_KEY] == row.screen_pop_key and row.screen_pop_key


def test_route_call_over_the_socket_routes_a_vip_and_records_the_call(seeded):
    settings, customer_id = seeded

    async def scenario():
        async with running_server(default_registry(), settings) as server:
            result = await peers.call(server.port, vip_header("1795344550.26", "1795344550.25"))
            await settle(server)
            return result, dict(server.stats)

    result, stats = asyncio.run(scenario())
    variables = result.variables()
    assert set(V.ROUTE_VARIABLES) <= set(variables)
    assert variables[V.CUSTOMER_ID] == str(customer_id) and variables[V.TIER] == "vip"
    assert variables[V.LINE_KIND] == "vip" and variables[V.ROUTE_REASON] != "fallback"
    row = call_row(settings, "1795344550.26")
    assert row.linkedid == "1795344550.25" and row.customer_id == customer_id
    assert row.dialled_number == VIP_LINE and row.status != CallStatus.ROUTING
    assert_variables_match_row(variables, row)
    assert result.closed_by_server and stats == {"sessions": 1, "completed": 1}


def test_route_call_caller_hangs_up_before_the_route_is_sent(seeded):
    settings, _ = seeded

    async def scenario():
        async with running_server(default_registry(), settings) as server:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(vip_header("1795344551.30", "1795344551.30") + b"HANGUP\n")
            sent = await asyncio.wait_for(reader.read(), 10)
            writer.close()
            await settle(server)
            return sent

    sent = asyncio.run(scenario())
    assert sent == b""                                  # nothing after the hangup
    row = call_row(settings, "1795344551.30")
    assert row.status == CallStatus.HUNG_UP


def test_route_call_with_the_database_down_still_routes(seeded, tmp_path):
    settings, _ = seeded
    broken = settings.model_copy(update={"database_url": f"sqlite:///{tmp_path}/missing-dir/x.db"})

    async def scenario():
        async with running_server(default_registry(), broken) as server:
            return await peers.call(server.port, vip_header("1795344552.31", "1795344552.31"))

    variables = asyncio.run(scenario()).variables()
    assert variables[V.ROUTE_REASON] == "fallback" and variables[V.ROUTE] == "queue"
    assert variables[V.QUEUE]                            # a queue the dialplan can use


def test_route_call_through_the_per_call_script_matches_fastagi(seeded):
    settings, customer_id = seeded
    classic = load("agi", "2a_classic_agi_tour").header
    classic = classic.replace(b"agi_dnid: 4008001010", f"agi_dnid: {VIP_LINE}".encode())
    classic = classic.replace(b"agi_extension: 4008001010", f"agi_extension: {VIP_LINE}".encode())
    classic = classic.replace(b"agi_arg_1: arg1\nagi_arg_2: arg 2\n", b"agi_arg_1: 1795344528.21\n")

    async def scenario():
        env = dict(os.environ, CALLCENTER_DATABASE_URL=settings.database_url)
        proc = await asyncio.create_subprocess_exec(
            sys.executable, str(ROOT / "agi_scripts" / "route_call.py"), stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env, cwd=str(ROOT))
        proc.stdin.write(classic)
        sent = b""
        while line := await asyncio.wait_for(proc.stdout.readline(), 30):
            sent += line
            proc.stdin.write(peers.default_reply(command_argv(line)[0]))
        stderr = (await proc.stderr.read()).decode()
        return sent, await proc.wait(), stderr

    sent, code, stderr = asyncio.run(scenario())
    assert code == 0 and "Traceback" not in stderr and "13800138000" not in stderr
    variables = {a[2].decode(): a[3].decode() for a in command_argv(sent) if a[:2] == [b"SET", b"VARIABLE"]}
    assert variables[V.CUSTOMER_ID] == str(customer_id) and variables[V.TIER] == "vip"
    row = call_row(settings, "1795344528.22")
    assert row.linkedid == "1795344528.21"
    assert_variables_match_row(variables, row)


# --- a caller name that ends the header ----------------------------------------------------

ORDINARY_LINE = "4008001000"
FORGED_NAME = "Evil\nagi_extension: 4008002000\nagi_arg_1: X\n\n"


def forged_header(uniqueid: str) -> tuple[bytes, bytes]:
    """An ordinary-line call whose caller name carries ``\\n...\\n\\n`` (Asterisk writes names
    raw): the bytes up to the forged empty line, and the rest of the real header."""
    head = peers.header("route_call", uniqueid=uniqueid, dnid=ORDINARY_LINE, extension=ORDINARY_LINE,
                        callerid="13900000000")
    head = head.replace(b"agi_arg_1: arg1\nagi_arg_2: arg2\n", f"agi_arg_1: {uniqueid}\n".encode())
    before, _, after = head.partition(b"agi_calleridname: ")
    name_line, _, rest = after.partition(b"\n")
    first = before + b"agi_calleridname: " + FORGED_NAME.encode()
    return first, rest


@pytest.mark.parametrize("pause_s", [0.0, 0.02], ids=["one-read", "rest-later"])
def test_a_caller_name_cannot_end_the_header_and_forge_it(seeded, pause_s, caplog):
    settings, _ = seeded
    first, rest = forged_header("1795344560.1")

    async def scenario():
        async with running_server(default_registry(), settings) as server:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(first if pause_s else first + rest)
            if pause_s:
                await writer.drain()
                await asyncio.sleep(pause_s)
                writer.write(rest)
            commands = []
            while line := await asyncio.wait_for(reader.readline(), 5):
                commands.append(line)
                writer.write(b"200 result=1\n")
            writer.write(b"HANGUP\n")
            writer.close()
            await settle(server)
            return commands

    commands = asyncio.run(scenario())
    sent = {c.split(b" ")[2].decode(): c.split(b" ", 3)[3].strip().decode() for c in commands
            if c.startswith(b"SET VARIABLE")}
    assert sent[V.ROUTE_REASON] != "vip_line" and sent[V.QUEUE] != "vip" and sent[V.QUEUE_PRIO] != "10"
    row = call_row(settings, "1795344560.1")
    assert row.linkedid == "1795344560.1"                # not the forged agi_arg_1
    assert row.route_reason != "vip_line" and row.queue == sent[V.QUEUE]
    assert any("forged" in r.getMessage() or "anomalies" in r.getMessage() for r in caplog.records)


def test_a_peer_without_thread_id_is_served_after_a_short_wait(seeded):
    """A header that ends without agi_threadid (not Asterisk, an old version) is taken
    as complete once nothing more comes."""
    settings, _ = seeded
    head = vip_header("1795344561.1", "1795344561.1")
    head = b"\n".join(line for line in head.split(b"\n") if not line.startswith(b"agi_threadid"))

    async def scenario():
        async with running_server(default_registry(), settings) as server:
            result = await peers.call(server.port, head)
            await settle(server)
            return result

    variables = asyncio.run(scenario()).variables()
    assert variables[V.LINE_KIND] == "vip" and variables[V.ROUTE_REASON] != "fallback"
    assert variables[V.ROUTE_DONE] == "1"
