"""Short SQLite transactions on the event-loop thread.

Why: the database threads share the GIL with the event loop, and the sqlite3 module
releases it around every step, fetch and commit. Under load each release is a
hand-off between two busy threads (futex wake-ups, the loop stalled until it gets the
GIL back): measured on route_call, ~800 µs of server CPU per call on top of ~550 µs of
real work, and half the throughput. A SQLite query on an indexed table costs tens of
microseconds and, in WAL mode, a read never waits for a lock: running it in place is
cheaper than any hand-off.

What may wait is a write: another process (the web panel importing customers) can
hold SQLite's write lock for a while. So this connection never waits: its
busy_timeout is 0, and a transaction that meets a lock is rolled back and handed to a
database thread (``InlineBusy``), which waits for the lock as before, under the
route's budget. Nothing is retried after a commit, and a function that runs here must
be a pure database transaction (no sleeping, no network): ``ctx.run_in_transaction``
functions are. PostgreSQL never runs here (its every query is a network round trip).
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import OperationalError

from callcenter.agi.dbwork import RouteBudgetExceeded

log = logging.getLogger(__name__)
T = TypeVar("T")


class InlineBusy(Exception):
    """The transaction met another connection's lock and was rolled back."""


class InlineTransactions:
    """One SQLite connection owned by the event-loop thread (see the module docstring)."""

    def __init__(self, engine: Engine, overloaded: Callable[[], bool] | None = None) -> None:
        self.engine = engine
        self.overloaded = overloaded
        self._connection: Connection | None = None
        self.ran = 0
        self.handed_off = 0

    def run(self, fn: Callable[..., T], args: tuple, kw: dict) -> T:
        """``fn(connection, *args, **kw)`` in one transaction, committed; raises
        InlineBusy (after rolling back) when it would have to wait for a lock.
        While the event loop is behind, database work is shed as in the threads."""
        if self.overloaded is not None and self.overloaded():
            raise RouteBudgetExceeded("server overloaded: event loop behind, database work shed")
        connection = self._connection or self._connect()
        try:
            with connection.begin():
                result = fn(connection, *args, **kw)
        except OperationalError as exc:
            if _is_busy(exc):
                self.handed_off += 1
                raise InlineBusy(str(exc.orig)) from exc
            self._drop_if_invalid()
            raise
        except BaseException:
            self._drop_if_invalid()
            raise
        self.ran += 1
        return result

    def _connect(self) -> Connection:
        connection = self.engine.connect()
        # Never wait on the event loop: a lock held elsewhere sends the work to a thread.
        connection.exec_driver_sql("PRAGMA busy_timeout=0")
        connection.commit()
        self._connection = connection
        return connection

    def _drop_if_invalid(self) -> None:
        if self._connection is not None and self._connection.invalidated:
            self.close()

    def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            # Not returned to the pool: its busy_timeout must not reach a thread.
            try:
                connection.invalidate()
                connection.close()
            except Exception:  # noqa: BLE001 - closing is best effort
                log.debug("closing the inline SQLite connection failed", exc_info=True)


def _is_busy(exc: OperationalError) -> bool:
    orig: Any = exc.orig
    code = getattr(orig, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
    return "locked" in str(orig) or "busy" in str(orig)
