"""The one scheduler: a lock only one process per database holds, a standby that waits
for it, and a holder that notices at once when it has lost it.

PostgreSQL: a session advisory lock on a connection of its own. The lock lives exactly as
long as that backend: when PostgreSQL ends it (``pg_terminate_backend``, a restart, an
idle-connection killer) the lock is gone and a standby takes it. So the holder does its
survey claims ON that connection (``session()``): a holder whose backend was ended cannot
write an attempt, and an attempt is written before every dial — it cannot dial. ``check()``
(a round trip on the same connection) is asked before each Originate and every second by
the watchdog, which then stops the jobs and goes back to waiting.

SQLite: an flock on ``<database>.scheduler.lock`` beside the file (released by the kernel
when the process dies, ``kill -9`` included).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.orm import Session

from callcenter.config import Settings
from callcenter.db import session_scope

log = logging.getLogger(__name__)

# "callcenter scheduler" in ASCII, truncated.
PG_LOCK_KEY = 0x63_61_6C_6C_73_63_68


class Leadership:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        url = make_url(settings.database_url)
        self.backend = url.get_backend_name()
        self._conn: Connection | None = None
        self._engine = None
        self._handle = None
        self._guard = threading.Lock()          # one user of the lock connection at a time
        self.lost = threading.Event()
        if self.backend == "sqlite" and url.database and url.database != ":memory:":
            self.lock_path: Path | None = Path(url.database).with_suffix(
                Path(url.database).suffix + ".scheduler.lock")
        else:
            self.lock_path = None

    # --- taking and giving up ---------------------------------------------------------
    def try_acquire(self) -> bool:
        if self.backend == "postgresql":
            return self._try_pg()
        if self.lock_path is not None:
            handle = open(self.lock_path, "a+")  # noqa: SIM115 - held until release()
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.close()
                return False
            self._handle = handle
        self.lost.clear()
        return True

    def _try_pg(self) -> bool:
        if self._engine is None:
            # Its own engine: this connection must never go back to a pool other code uses.
            self._engine = create_engine(self.settings.database_url, pool_size=1, max_overflow=0)
        conn = self._engine.connect()
        try:
            got = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": PG_LOCK_KEY}).scalar())
            conn.commit()
        except Exception:
            conn.invalidate()
            conn.close()
            raise
        if not got:
            conn.close()
            return False
        self._conn = conn
        self.lost.clear()
        return True

    def wait(self, stop: threading.Event, poll_s: float = 0.5,
             on_standby: Callable[[], None] | None = None) -> bool:
        """Standby: block until this process holds the lock (True) or ``stop`` is set.
        ``on_standby`` is called once, when the first try finds the lock taken."""
        announced = False
        while not stop.is_set():
            try:
                if self.try_acquire():
                    return True
            except Exception as exc:  # noqa: BLE001 - the database may be restarting: keep waiting
                log.warning("scheduler lock: %s", exc)
            if not announced:
                log.warning("another scheduler holds the lock; standing by to take over")
                announced = True
                if on_standby is not None:
                    on_standby()
            stop.wait(poll_s)
        return False

    def release(self) -> None:
        with self._guard:
            if self._conn is not None:
                with contextlib.suppress(Exception):
                    self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": PG_LOCK_KEY})
                    self._conn.commit()
                with contextlib.suppress(Exception):
                    self._conn.close()
                self._conn = None
            if self._handle is not None:
                with contextlib.suppress(OSError):
                    fcntl.flock(self._handle, fcntl.LOCK_UN)
                self._handle.close()
                self._handle = None
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    # --- holding ---------------------------------------------------------------------------
    def check(self) -> bool:
        """Is the lock still ours? (PostgreSQL: the lock's backend still answers.)"""
        if self.lost.is_set():
            return False
        if self.backend != "postgresql":
            return True
        with self._guard:
            if self._conn is None:
                return False
            try:
                self._conn.execute(text("SELECT 1")).scalar()
                self._conn.commit()
                return True
            except Exception as exc:  # noqa: BLE001 - any failure means the lock cannot be trusted
                log.error("scheduler lock lost (its database connection failed: %s); dispatching stops",
                          str(exc).splitlines()[0])
                self.lost.set()
                with contextlib.suppress(Exception):
                    self._conn.invalidate()
                return False

    @contextlib.contextmanager
    def session(self) -> Iterator[Session]:
        """A unit of work that can only commit while the lock is held (see module doc)."""
        if self.backend != "postgresql":
            with session_scope(self.settings.database_url) as session:
                yield session
            return
        with self._guard:
            if self._conn is None or self.lost.is_set():
                raise LockLost("the scheduler lock is not held")
            session = Session(bind=self._conn, expire_on_commit=False)
            try:
                yield session
                session.commit()
            except Exception:
                with contextlib.suppress(Exception):
                    session.rollback()
                raise
            finally:
                session.close()


class LockLost(RuntimeError):
    pass
