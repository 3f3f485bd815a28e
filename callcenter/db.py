"""Database engine and sessions (SQLAlchemy 2.x), SQLite by default, PostgreSQL at scale.

Conventions every module follows:
- timestamps are stored as naive UTC (``utcnow()``); business rules that depend on the
  wall clock (hours, holidays, deadlines) convert with ``callcenter.timeutil``;
- a service function takes a ``Session`` and never commits on its caller's behalf
  unless its name says so; ``session_scope()`` is the unit of work for callers
  (AGI handlers, CLI commands, web views, scheduler jobs).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import logging
import sqlite3
import threading
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker


def utcnow() -> dt.datetime:
    """Naive UTC now: the one representation stored in every DateTime column."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


# SQLite durability (WAL, synchronous=NORMAL): a commit appends to the WAL without
# fsync, so it survives any crash of the application; a power cut or kernel crash may
# lose the transactions committed since the WAL was last synced, which happens at every
# checkpoint (the database itself always stays consistent). Checkpoints run when a
# committing connection finds the WAL past ``wal_autocheckpoint`` pages (SQLite's
# default 1000, ~4 MB) -- inside that commit. A process that must not pay for them on
# its hot path (the FastAGI server) raises its own connections' threshold to a safety
# bound and runs a WalCheckpointer instead; everyone else keeps the default.
# The WAL file is cut back to this size whenever it restarts after a checkpoint, so one
# burst does not leave a large file behind.
JOURNAL_SIZE_LIMIT = 64 * 1024 * 1024


def _sqlite_pragmas(dbapi_connection, _record, wal_autocheckpoint: int | None = None) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets the web panel read while the AGI server writes; NORMAL sync is
    # durable across application crashes and costs no fsync per commit.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute(f"PRAGMA journal_size_limit={JOURNAL_SIZE_LIMIT}")
    if wal_autocheckpoint is not None:
        cursor.execute(f"PRAGMA wal_autocheckpoint={int(wal_autocheckpoint)}")
    cursor.close()


def make_engine(url: str, *, wal_autocheckpoint: int | None = None, **kwargs) -> Engine:
    """An engine with the project's connection settings. ``wal_autocheckpoint``
    (SQLite only): this engine's connections checkpoint only past that many WAL pages
    (see WalCheckpointer)."""
    if url.startswith("sqlite"):
        kwargs.setdefault("connect_args", {"check_same_thread": False, "timeout": 5})
        engine = create_engine(url, **kwargs)
        event.listen(engine, "connect", functools.partial(_sqlite_pragmas, wal_autocheckpoint=wal_autocheckpoint))
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    # A PostgreSQL that is down must fail fast: callers have a time budget.
    kwargs.setdefault("connect_args", {"connect_timeout": 3})
    return create_engine(url, **kwargs)


@lru_cache(maxsize=8)
def engine_for(url: str) -> Engine:
    """One engine (one pool) per database URL per process."""
    return make_engine(url)


@lru_cache(maxsize=8)
def _factory(url: str) -> sessionmaker[Session]:
    return sessionmaker(bind=engine_for(url), expire_on_commit=False)


def session_factory(url: str | None = None) -> sessionmaker[Session]:
    if url is None:
        from callcenter.config import get_settings

        url = get_settings().database_url
    return _factory(url)


@contextlib.contextmanager
def session_scope(url: str | None = None) -> Iterator[Session]:
    """A unit of work: commit on success, roll back on any exception."""
    with _scope(session_factory(url)()) as session:
        yield session


@lru_cache(maxsize=8)
def _factory_on(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextlib.contextmanager
def session_scope_on(engine: Engine) -> Iterator[Session]:
    """session_scope on a given engine (a process part with a pool of its own)."""
    with _scope(_factory_on(engine)()) as session:
        yield session


@contextlib.contextmanager
def session_scope_from(factory: sessionmaker[Session]) -> Iterator[Session]:
    """session_scope on a session factory handed in (a process part given its own, e.g. a test's)."""
    with _scope(factory()) as session:
        yield session


@contextlib.contextmanager
def _scope(session: Session) -> Iterator[Session]:
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


# --- statements run straight on the driver ------------------------------------------------

class DriverStatement:
    """A Core statement compiled once per dialect and run on the DB-API cursor itself.

    Why: on the FastAGI hot path SQLAlchemy's per-execution machinery (execution
    context, parameter processing, result objects) cost more than the indexed SQLite
    queries it ran. Everything that decides what reaches the database is still
    SQLAlchemy's: the SQL text (``construct_expanded_state``, so ``IN`` lists and
    literal values are rendered as usual), the order of the parameters and their bind
    processors (DateTime → SQLite text, Enum → value, JSON → text), and the selected
    columns' result processors on the way back. A driver error is raised as
    SQLAlchemy's wrapped exception (``sqlalchemy.exc.OperationalError`` ...), and a
    disconnect invalidates the Connection, as ``Connection.execute`` does.

    Not run: SQLAlchemy's cursor events and statement logging (``echo``). The
    statement runs in the Connection's transaction (begun here if none is).
    ``params`` must name the same keys at every execution (the compiled form is
    cached per dialect and key set, like SQLAlchemy's own cache).
    """

    __slots__ = ("_build", "_compiled", "_statement")

    def __init__(self, build) -> None:
        self._build = build           # () -> the Core statement, built on first use
        self._statement = None
        self._compiled: dict[tuple, _DriverForm] = {}

    def rows(self, conn, params: dict) -> list[tuple]:
        """Every row, as tuples of processed values."""
        form, cursor = self._run(conn, params)
        try:
            rows = cursor.fetchall()
        finally:
            cursor.close()
        return form.process(rows)

    def first(self, conn, params: dict) -> tuple | None:
        """The first row (processed), or None; the rest is discarded."""
        form, cursor = self._run(conn, params)
        try:
            row = cursor.fetchone()
        finally:
            cursor.close()
        return None if row is None else form.process((row,))[0]

    def many(self, conn, params_list: list[dict]) -> None:
        """Run the statement (no result rows) once per parameter set, in order, with the
        driver's executemany: one call for a batch of writes. Every set names the same keys."""
        if not params_list:
            return
        form = self._form(conn, params_list[0])
        if not conn.in_transaction():
            conn.begin()
        dbapi_connection = conn.connection.dbapi_connection
        cursor = dbapi_connection.cursor()
        arguments = [form.arguments(params) for params in params_list]
        try:
            cursor.executemany(form.sql, arguments)
        except conn.dialect.loaded_dbapi.Error as exc:
            _raise_wrapped(conn, dbapi_connection, cursor, form.sql, arguments[:1], exc)
        finally:
            cursor.close()

    def _form(self, conn, params: dict) -> _DriverForm:
        dialect = conn.dialect
        key = (dialect, tuple(params))
        form = self._compiled.get(key)
        if form is None:
            if self._statement is None:
                self._statement = self._build()
            form = self._compiled[key] = _DriverForm(self._statement, dialect, params)
        return form

    def _run(self, conn, params: dict):
        dialect = conn.dialect
        form = self._form(conn, params)
        if not conn.in_transaction():
            conn.begin()
        dbapi_connection = conn.connection.dbapi_connection
        cursor = dbapi_connection.cursor()
        arguments = form.arguments(params)
        try:
            cursor.execute(form.sql, arguments)
        except dialect.loaded_dbapi.Error as exc:
            cursor.close()
            _raise_wrapped(conn, dbapi_connection, cursor, form.sql, arguments, exc)
        return form, cursor


class _DriverForm:
    """One statement compiled for one dialect and one set of parameter names."""

    __slots__ = ("_constants", "_names", "_processors", "_results", "positional", "sql")

    def __init__(self, statement, dialect, params: dict) -> None:
        compiled = statement.compile(dialect=dialect, column_keys=list(params))
        if compiled.escaped_bind_names:
            raise ValueError(f"DriverStatement: escaped parameter names {compiled.escaped_bind_names}")
        expanded = compiled.construct_expanded_state(params)
        self.sql = expanded.statement
        self.positional = expanded.positiontup is not None
        names = list(expanded.positiontup) if self.positional else list(expanded.parameters)
        impl = {name: bind.type.dialect_impl(dialect) for name, bind in compiled.binds.items()}
        processors = {}
        for name in names:
            if name in expanded.processors:
                processors[name] = expanded.processors[name]
            elif name in impl:
                processors[name] = impl[name].bind_processor(dialect)
        # Values the statement carries itself (literals, IN lists) are processed once.
        self._constants = {name: _apply(processors.get(name), expanded.parameters[name])
                           for name in names if name not in params}
        self._names = names
        self._processors = [processors.get(name) if name in params else None for name in names]
        columns = getattr(statement, "selected_columns", None)
        if columns is None:
            columns = statement.exported_columns          # INSERT ... RETURNING
        results = [column.type.dialect_impl(dialect).result_processor(dialect, None) for column in columns]
        self._results = results if any(results) else None

    def arguments(self, params: dict):
        constants = self._constants
        values = [constants[name] if name in constants else
                  (params[name] if processor is None else _apply(processor, params[name]))
                  for name, processor in zip(self._names, self._processors)]
        return tuple(values) if self.positional else dict(zip(self._names, values))

    def process(self, rows) -> list[tuple]:
        results = self._results
        if results is None:
            return [tuple(row) for row in rows]
        return [tuple(value if fn is None else fn(value) for fn, value in zip(results, row)) for row in rows]


def _apply(processor, value):
    # Processors take None themselves (JSON writes it as 'null', most pass it through).
    return value if processor is None else processor(value)


def _raise_wrapped(conn, dbapi_connection, cursor, sql: str, arguments, exc: Exception):
    from sqlalchemy.exc import DBAPIError

    dialect = conn.dialect
    disconnect = dialect.is_disconnect(exc, dbapi_connection, cursor)
    if disconnect:
        conn.invalidate(exc)
    raise DBAPIError.instance(sql, arguments, exc, dialect.loaded_dbapi.Error,
                              connection_invalidated=disconnect, dialect=dialect) from exc


# --- SQLite WAL checkpoints off the hot path ------------------------------------------------

log = logging.getLogger(__name__)


class WalCheckpointer:
    """Checkpoints a SQLite database's WAL from a thread of its own.

    Every ``interval_s``: ``PRAGMA wal_checkpoint(PASSIVE)`` on a private connection
    (copies committed pages into the database without waiting for, or blocking,
    readers and writers). The FastAGI server's connections then checkpoint only past a
    safety bound (``SAFETY_PAGES``), so a call never runs a checkpoint in its commit,
    and the WAL stays bounded even if this thread stalls. When a pass copied the whole
    WAL and the file has grown past JOURNAL_SIZE_LIMIT, a TRUNCATE checkpoint that
    refuses to wait (busy_timeout 0) gives the space back.

    Other processes (web, AMI) keep SQLite's automatic checkpoints on their own
    connections. Only the WAL, never the database, can lag behind: a reader that holds
    an old snapshot (a long report) keeps a PASSIVE pass from finishing, as it would
    keep an automatic one; the next pass after it ends catches up.
    """

    SAFETY_PAGES = 16384          # 64 MB of 4 kB pages: only if this thread falls behind

    def __init__(self, database: str | Path, interval_s: float = 0.2) -> None:
        self.path = str(database)
        self.interval_s = interval_s
        self.passes = 0
        self.truncations = 0
        self.incomplete = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sqlite-checkpointer", daemon=True)

    def start(self) -> WalCheckpointer:
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        connection = None
        while not self._stop.wait(self.interval_s):
            try:
                if connection is None:
                    # isolation_level None: no implicit transaction around the PRAGMAs.
                    connection = sqlite3.connect(self.path, timeout=0, isolation_level=None,
                                                 check_same_thread=False)
                    connection.execute("PRAGMA busy_timeout=0")
                self.checkpoint(connection)
            except sqlite3.Error as exc:
                log.warning("WAL checkpoint of %s failed: %s", self.path, exc)
                if connection is not None:
                    connection.close()
                    connection = None
                self._stop.wait(1.0)
        if connection is not None:
            connection.close()

    def checkpoint(self, connection: sqlite3.Connection) -> tuple[int, int, int]:
        """One pass; returns SQLite's (busy, WAL frames, frames checkpointed)."""
        busy, frames, done = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        self.passes += 1
        if frames > done:
            self.incomplete += 1
        elif frames >= 0 and _size(self.path + "-wal") > JOURNAL_SIZE_LIMIT:
            truncated = connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            self.truncations += truncated[0] == 0
        return busy, frames, done


def _size(path: str) -> int:
    try:
        return Path(path).stat().st_size
    except OSError:
        return 0


def sqlite_path(url: str) -> str | None:
    """The file of a SQLite URL (None for other databases and in-memory SQLite)."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return parsed.database


