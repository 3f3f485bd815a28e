"""Calls rows written behind the route, through database trouble: a write lock held for
seconds, a database file that turned read-only and back, a server stopped with records
still refused. Every call is routed at once; afterwards every call has exactly one row
(0 lost, 0 twice). Real FastAGI server, real socket, real SQLite files."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import stat
import subprocess
import time

import pytest
from sqlalchemy import func, select

from callcenter.agi import variables as V
from callcenter.agi.handlers import default_registry
from callcenter.agi.recorder import CallRecorder
from callcenter.config import Settings
from callcenter.db import engine_for, make_engine, session_scope, utcnow
from callcenter.models import Call, CallStatus
from callcenter.services.people import customers
from callcenter.services.setup import defaults

from . import peers
from .conftest import running_server, settle

VIP_LINE = "4008002000"


@pytest.fixture
def seeded(sqlite_url, tmp_path):
    settings = Settings(database_url=sqlite_url, journal_dir=tmp_path / "journal")
    with session_scope(sqlite_url) as session:
        defaults.setup_defaults(session)
        customers.create_customer(session, name="张三", numbers=["13800138000"], tier="vip")
    return settings


def header(uniqueid: str) -> bytes:
    head = peers.header("route_call", uniqueid=uniqueid, dnid=VIP_LINE, extension=VIP_LINE, callerid="13800138000")
    return head.replace(b"agi_arg_1: arg1\nagi_arg_2: arg2\n", f"agi_arg_1: {uniqueid}\n".encode())


def row_counts(url: str) -> dict[str, int]:
    with session_scope(url) as session:
        return dict(session.execute(select(Call.uniqueid, func.count()).group_by(Call.uniqueid)).all())


async def calls(port: int, uniqueids: list[str]) -> list[peers.PeerResult]:
    return await asyncio.gather(*(peers.call(port, header(u)) for u in uniqueids))


def test_a_write_lock_held_for_seconds_loses_no_call_and_doubles_none(seeded):
    """150 calls while another connection holds SQLite's write lock for 12 s, longer than
    the writer's busy timeout: all routed at once, all recorded once the lock is gone."""
    path = seeded.database_url.removeprefix("sqlite:///")
    uniqueids = [f"1795344570.{n}" for n in range(150)]

    async def scenario():
        async with running_server(default_registry(), seeded) as server:
            blocker = sqlite3.connect(path, isolation_level=None)
            blocker.execute("BEGIN IMMEDIATE")
            loop = asyncio.get_running_loop()
            started = loop.time()
            results = await calls(server.port, uniqueids)
            routed_in = loop.time() - started
            await asyncio.sleep(12.0)            # the 12 s of the site's report: past the writer's 5 s busy timeout
            journaled = server.recorder.stats["journaled"]
            blocker.execute("COMMIT")
            blocker.close()
            await settle(server, timeout=30)
            return results, routed_in, journaled, dict(server.recorder.stats)

    results, routed_in, journaled, stats = asyncio.run(scenario())
    assert routed_in < 5.0, f"150 calls took {routed_in:.1f} s to route"
    assert all(r.variables()[V.ROUTE_DONE] == "1" and r.variables()[V.ROUTE_REASON] != "fallback"
               for r in results)
    assert journaled > 0 and stats["replayed"] >= journaled
    assert row_counts(seeded.database_url) == {u: 1 for u in uniqueids}     # 0 lost, 0 twice


@contextlib.contextmanager
def read_only(path: str):
    """The file cannot be written, even by root (chattr +i), until the block ends."""
    if os.geteuid() == 0:
        if subprocess.run(["chattr", "+i", path], capture_output=True).returncode != 0:
            pytest.skip("chattr +i is not possible on this filesystem")
        try:
            yield
        finally:
            subprocess.run(["chattr", "-i", path], check=True)
        return
    mode = os.stat(path).st_mode
    os.chmod(path, stat.S_IRUSR | stat.S_IRGRP)
    try:
        yield
    finally:
        os.chmod(path, mode)


def test_a_database_file_that_was_read_only_is_written_again(seeded):
    """SQLite keeps a connection that was opened on a read-only file read-only for good:
    the recorder never reuses a connection that failed, so the records it kept are
    written once the file is writable again."""
    url = seeded.database_url
    path = url.removeprefix("sqlite:///")
    engine_for(url).dispose()                       # no connection of this process holds the file
    engine = make_engine(url)
    recorder = CallRecorder(engine, seeded, retry_s=0.1).start()
    try:
        with read_only(path):
            for n in range(5):
                recorder.submit(call_record(f"1795344580.{n}"))
            assert wait_for(lambda: recorder.stats["failures"] > 0)
            assert not recorder.flush(0.5)          # refused while read-only: kept, not lost
        assert recorder.flush(10), dict(recorder.stats)
    finally:
        recorder.stop()
        engine.dispose()
    assert row_counts(url) == {f"1795344580.{n}": 1 for n in range(5)}


def call_record(uniqueid: str):
    from callcenter.services.calls.routing import CallRecord

    return CallRecord({"uniqueid": uniqueid, "linkedid": uniqueid, "channel": "PJSIP/x", "line_id": None,
                       "dialled_number": VIP_LINE, "caller_number": "13800138000", "caller_e164": "",
                       "caller_name": "", "customer_id": None, "ivr_path": [], "recording_file": "",
                       "started_at": utcnow(), "status": CallStatus.ROUTED, "queue": "vip", "priority": 10,
                       "route_reason": "vip_line", "category": "", "routed_at": utcnow(),
                       "screen_pop_key": f"k-{uniqueid}"}, ("queue",))


def wait_for(condition, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_records_left_in_a_journal_are_written_by_the_next_process(seeded):
    """A server stopped while the database still refused its records leaves them in its
    journal; the next recorder to start (any process) adopts the file and writes them."""
    path = seeded.database_url.removeprefix("sqlite:///")
    uniqueids = [f"1795344590.{n}" for n in range(10)]

    async def scenario():
        server_settings = seeded.model_copy(update={"agi_route_budget_s": 1.0})
        async with running_server(default_registry(), server_settings) as server:
            blocker = sqlite3.connect(path, isolation_level=None)
            blocker.execute("BEGIN IMMEDIATE")
            await calls(server.port, uniqueids)
        return blocker                            # the server has stopped; the lock is still held

    blocker = asyncio.run(scenario())
    blocker.execute("COMMIT")
    blocker.close()
    assert row_counts(seeded.database_url) == {}
    assert list(seeded.journal_dir.glob("calls-*.jsonl"))
    recorder = CallRecorder(engine_for(seeded.database_url), seeded).start()
    assert recorder.flush(20)
    recorder.stop()
    assert row_counts(seeded.database_url) == {u: 1 for u in uniqueids}
    assert not list(seeded.journal_dir.glob("calls-*.jsonl"))
