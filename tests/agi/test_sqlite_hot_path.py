"""The FastAGI server on SQLite: its own engine and pool, route_call's reads on the
event-loop thread, its row written behind the route (never waiting on another
connection's write lock), and WAL checkpoints taken by a background thread instead of
the calls' commits. Real server, real socket, real SQLite files."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading

import pytest
from pydantic import ValidationError
from sqlalchemy import select

from callcenter.agi import server as agi_server
from callcenter.agi import variables as V
from callcenter.agi.handlers import default_registry
from callcenter.config import Settings
from callcenter.db import JOURNAL_SIZE_LIMIT, WalCheckpointer, session_scope
from callcenter.models import Call
from callcenter.services.people import customers
from callcenter.services.setup import defaults

from . import peers
from .conftest import running_server, settle

VIP_LINE = "4008002000"


@pytest.fixture
def seeded(sqlite_url, tmp_path):
    settings = Settings(database_url=sqlite_url, agi_route_budget_s=10.0)
    with session_scope(sqlite_url) as session:
        defaults.setup_defaults(session)
        customers.create_customer(session, name="张三", numbers=["13800138000"], tier="vip")
    return settings


def vip_header(uniqueid: str) -> bytes:
    head = peers.header("route_call", uniqueid=uniqueid, dnid=VIP_LINE, extension=VIP_LINE, callerid="13800138000")
    return head.replace(b"agi_arg_1: arg1\nagi_arg_2: arg2\n", f"agi_arg_1: {uniqueid}\n".encode())


def rows(url: str) -> dict[str, Call]:
    with session_scope(url) as session:
        return {c.uniqueid: c for c in session.scalars(select(Call))}


def test_database_threads_follow_the_engine_unless_configured(monkeypatch):
    assert Settings().agi_db_threads == 0
    assert agi_server.db_threads(Settings(database_url="sqlite:///x.db")) == agi_server.SQLITE_DB_THREADS
    assert agi_server.db_threads(Settings(database_url="postgresql+psycopg://u@h/db")) == \
        agi_server.POSTGRES_DB_THREADS
    # 0 written out means the same as the default: per engine.
    assert agi_server.db_threads(Settings(database_url="sqlite:///x.db", agi_db_threads=0)) == \
        agi_server.SQLITE_DB_THREADS
    assert agi_server.db_threads(Settings(database_url="sqlite:///x.db", agi_db_threads=5)) == 5
    monkeypatch.setenv("CALLCENTER_AGI_DB_THREADS", "3")
    assert agi_server.db_threads(Settings(database_url="postgresql+psycopg://u@h/db")) == 3
    with pytest.raises(ValidationError, match="agi_db_threads"):
        Settings(agi_db_threads=-1)


def test_the_server_pool_holds_one_connection_per_database_thread(seeded):
    server = agi_server.FastAGIServer(seeded, default_registry(), host="127.0.0.1", port=0)
    try:
        assert server.engine.pool.size() == server.db_threads == agi_server.SQLITE_DB_THREADS
        assert server.inline is not None
    finally:
        server._release_database()


def test_route_call_never_waits_while_another_process_holds_the_write_lock(seeded):
    """Routing reads on the loop (WAL readers never wait) and writes the row behind the
    route: a call routed while the web panel or an import holds SQLite's write lock gets
    its route at once, and its row once the lock is gone."""
    url = seeded.database_url
    path = url.removeprefix("sqlite:///")

    async def scenario():
        async with running_server(default_registry(), seeded) as server:
            free = await peers.call(server.port, vip_header("1795344550.1"))
            await settle(server)
            blocker = sqlite3.connect(path, isolation_level=None)
            blocker.execute("BEGIN IMMEDIATE")        # another connection holds the write lock
            started = asyncio.get_running_loop().time()
            blocked = await peers.call(server.port, vip_header("1795344550.2"))
            routed_in = asyncio.get_running_loop().time() - started
            assert "1795344550.2" not in rows(url)    # not written yet: the lock is held
            blocker.execute("COMMIT")
            blocker.close()
            await settle(server, timeout=15.0)
            return free, blocked, routed_in, server.inline.ran, server.inline.handed_off

    free, blocked, routed_in, ran, handed_off = asyncio.run(scenario())
    assert routed_in < 1.0, f"routing waited {routed_in:.2f} s on the write lock"
    recorded = rows(url)
    for uniqueid, result in (("1795344550.1", free), ("1795344550.2", blocked)):
        variables = result.variables()
        assert variables[V.POP_KEY] == recorded[uniqueid].screen_pop_key
        assert variables[V.QUEUE] == "vip" and variables[V.ROUTE_DONE] == "1"
    assert (ran, handed_off) == (2, 0) and len(recorded) == 2   # exactly one row per uniqueid


def _wal_frames(path: str) -> int:
    with sqlite3.connect(path) as con:
        return con.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()[1]


def test_server_connections_leave_checkpoints_to_the_checkpointer(seeded):
    """The server's own connections do not checkpoint at SQLite's default 1000 pages;
    a checkpointer pass copies the whole WAL into the database."""
    server = agi_server.FastAGIServer(seeded, default_registry(), host="127.0.0.1", port=0)
    path = seeded.database_url.removeprefix("sqlite:///")
    try:
        with server.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == WalCheckpointer.SAFETY_PAGES
            assert conn.exec_driver_sql("PRAGMA journal_size_limit").scalar() == JOURNAL_SIZE_LIMIT
            conn.exec_driver_sql("CREATE TABLE filler (x BLOB)")
            for _ in range(60):                          # ~1,500 pages: past SQLite's default threshold
                conn.exec_driver_sql("INSERT INTO filler VALUES (zeroblob(100000))")
                conn.commit()
        # Nothing was checkpointed by the writers: the WAL kept every frame since it began.
        assert os.path.getsize(path + "-wal") > 1000 * 4096
        checkpointer = server._checkpointer
        with sqlite3.connect(path, isolation_level=None) as con:
            busy, wal, copied = checkpointer.checkpoint(con)
        assert wal > 1000 and busy == 0 and wal == copied and checkpointer.incomplete == 0
    finally:
        server._release_database()


def test_checkpointer_thread_truncates_a_wal_grown_past_the_limit(sqlite_url, monkeypatch):
    path = sqlite_url.removeprefix("sqlite:///")
    monkeypatch.setattr("callcenter.db.JOURNAL_SIZE_LIMIT", 64 * 1024)
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("PRAGMA journal_mode=WAL")
    writer.execute("PRAGMA wal_autocheckpoint=0")
    writer.execute("CREATE TABLE filler (x BLOB)")
    for _ in range(10):
        writer.execute("INSERT INTO filler VALUES (zeroblob(50000))")
    checkpointer = WalCheckpointer(path, interval_s=0.01).start()
    try:
        done = threading.Event()
        for _ in range(2000):                            # until a pass has truncated the WAL
            if checkpointer.truncations:
                done.set()
                break
            done.wait(0.01)
    finally:
        checkpointer.stop()
        writer.close()
    assert done.is_set() and checkpointer.passes >= 1
    with sqlite3.connect(path) as con:
        assert con.execute("SELECT count(*) FROM filler").fetchone()[0] == 10
    assert _wal_frames(path) == 0
