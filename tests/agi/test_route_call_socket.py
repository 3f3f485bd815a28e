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
    assert variables[V.CALL_ID] == str(row.id)
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
