"""Writes behind the route: routing never waits on a write, and a row that cannot be
written now is written later.

route_call sends its decision to Asterisk first and hands the calls row to the
recorder; after_hours hands it the callback task when the database refuses it at once.
The recorder's thread applies records in arrival order, a batch per transaction. When
the database refuses a batch (write-locked past its busy timeout, read-only, down), the
batch goes to a journal file (JSON lines, fsync'd), and so does every later record
until the journal has been replayed in full, so the order of one call's records (its
route before its hangup) always holds. The journal is replayed every ``retry_s``.

Records are idempotent: a calls record is an upsert keyed on the channel's uniqueid, a
callback record files "the one callback task of this call". A batch replayed again (a
crash between its commit and the journal's truncation) changes nothing: none lost, none
twice. A connection that failed is invalidated, never reused: SQLite keeps a connection
that was opened while the file was read-only read-only for its lifetime.

Journal files live in ``settings.journal_dir``, one per process (``calls-<pid>.jsonl``),
each locked (flock) by its process while it runs. A recorder that starts adopts the
files of processes that are gone (a crash, a per-call script) and replays them too.
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import json
import logging
import os
import threading
import time
from collections import Counter, deque
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any, Protocol

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from callcenter.config import Settings
from callcenter.db import session_scope_on
from callcenter.services.calls import routing
from callcenter.services.calls.after_hours import CallbackRecord
from callcenter.services.calls.routing import CallRecord

log = logging.getLogger("callcenter.agi.recorder")

# How records name their kind in a journal line (an explicit list, not a registry).
KINDS: dict[str, Any] = {"call": CallRecord, "callback": CallbackRecord}
JOURNAL_GLOB = "calls-*.jsonl"


class Record(Protocol):
    kind: str

    def to_json(self) -> dict[str, Any]: ...

    def apply(self, session, settings: Settings) -> None: ...


def encode(record: Record) -> str:
    return json.dumps({"kind": record.kind, **record.to_json()}, ensure_ascii=False, separators=(",", ":"))


def decode(line: str) -> Record:
    data = json.loads(line)
    return KINDS[data.pop("kind")].from_json(data)


def apply_records(engine: Engine, settings: Settings, records: Iterable[Record]) -> None:
    """One transaction for the lot, in order; consecutive calls rows are written together
    (``routing.write_call_records``)."""
    records = list(records)
    if all(record.kind == "call" for record in records):
        with engine.begin() as connection:       # no ORM session for the common case
            routing.write_call_records(connection, records)
        return
    with session_scope_on(engine) as session:
        for kind, run in itertools.groupby(records, key=lambda r: r.kind):
            if kind == "call":
                routing.write_call_records(session, list(run))
            else:
                for record in run:
                    record.apply(session, settings)


class Journal:
    """One process's journal file, locked while the process holds it."""

    def __init__(self, path: Path, handle: IO[str]) -> None:
        self.path = path
        self._handle = handle

    @classmethod
    def own(cls, directory: Path) -> Journal:
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"calls-{os.getpid()}.jsonl"
        handle = open(path, "a+", encoding="utf-8")
        fcntl.flock(handle, fcntl.LOCK_EX)
        return cls(path, handle)

    @classmethod
    def adopt(cls, path: Path) -> Journal | None:
        """A file whose process is gone (its lock is free), else None."""
        try:
            handle = open(path, "a+", encoding="utf-8")
        except OSError:
            return None
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return None
        return cls(path, handle)

    def append(self, records: Iterable[Record]) -> int:
        lines = [encode(r) + "\n" for r in records]
        self._handle.seek(0, os.SEEK_END)
        self._handle.write("".join(lines))
        self._handle.flush()
        os.fsync(self._handle.fileno())
        return len(lines)

    def records(self) -> list[Record]:
        self._handle.seek(0)
        out = []
        for number, line in enumerate(self._handle.read().splitlines(), 1):
            if not line.strip():
                continue
            try:
                out.append(decode(line))
            except (ValueError, KeyError, TypeError) as exc:
                # A line cut by a crash mid-write: the rest of the journal still counts.
                log.error("journal %s line %d unreadable, skipped: %s", self.path, number, exc)
        return out

    def clear(self) -> None:
        self._handle.truncate(0)
        self._handle.flush()
        os.fsync(self._handle.fileno())

    def close(self, *, remove: bool = False) -> None:
        if remove:
            with contextlib.suppress(OSError):
                self.path.unlink()
        self._handle.close()


def journal_now(settings: Settings, records: list[Record]) -> None:
    """Keep records in this process's journal at once (a per-call script that could not
    write them): the next recorder to start adopts the file."""
    journal = Journal.own(Path(settings.journal_dir))
    try:
        journal.append(records)
    finally:
        journal.close()


class CallRecorder:
    """The writer thread of one FastAGI server process (see the module docstring)."""

    def __init__(self, engine: Engine, settings: Settings, *, batch: int = 200, retry_s: float = 1.0,
                 linger_s: float = 0.02) -> None:
        self.engine = engine
        self.settings = settings
        self.batch = batch
        self.retry_s = retry_s
        self.linger_s = linger_s
        self.stats: Counter[str] = Counter()
        self._queue: deque[Record] = deque()
        self._cond = threading.Condition()
        self._busy = False
        self._idle = False
        self._stopping = False
        self._journal: Journal | None = None        # ours, created on the first failure
        self._in_journal = 0                         # records waiting in ours
        self._adopted: list[Journal] = []
        self._next_retry = 0.0
        self._thread = threading.Thread(target=self._run, name="agi-recorder", daemon=True)

    # --- the route's side --------------------------------------------------------------
    def submit(self, record: Record) -> None:
        """Never blocks: the record is written behind the route. Only an idle writer is
        woken: one already collecting a batch takes this record along."""
        with self._cond:
            self._queue.append(record)
            if self._idle:
                self._cond.notify()

    def start(self) -> CallRecorder:
        self._adopt_orphans()
        self._thread.start()
        return self

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def flush(self, timeout: float = 10.0) -> bool:
        """True once everything submitted so far is in the database (journal empty)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._queue or self._busy or self._pending_journals():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._next_retry = 0.0
                self._cond.notify_all()
                self._cond.wait(min(remaining, 0.05))
        return True

    def stop(self, timeout: float = 5.0) -> None:
        """Write (or journal) what is queued, then stop; a journal left non-empty is
        replayed by the next recorder."""
        self.flush(min(timeout, 2.0))
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self._thread.join(timeout)
        with self._cond:
            left = list(self._queue)
            self._queue.clear()
        if left:
            self._to_journal(left)
        for journal in [self._journal, *self._adopted]:
            if journal is not None:
                journal.close(remove=not journal.records())

    # --- the writer thread ------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            with self._cond:
                self._idle = True
                while not self._queue and not self._stopping and not self._replay_due():
                    self._cond.wait(0.2)
                self._idle = False
                if self._stopping and not self._queue:
                    return
                lingering = self.linger_s and len(self._queue) < self.batch and not self._stopping
            if lingering:
                # Let the calls of the next few milliseconds join this one's transaction:
                # one commit for a burst costs the writer (and the GIL the event loop
                # needs) a fraction of one per call.
                time.sleep(self.linger_s)
            with self._cond:
                records = [self._queue.popleft() for _ in range(min(self.batch, len(self._queue)))]
                self._busy = True
            try:
                self._write(records)
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def _write(self, records: list[Record]) -> None:
        if self._pending_journals():
            if records:
                self._to_journal(records)            # keep the order behind what waits
            if self._replay_due():
                self._replay()
            return
        if not records:
            return
        try:
            apply_records(self.engine, self.settings, records)
            self.stats["written"] += len(records)
        except Exception as exc:  # noqa: BLE001 - any refusal: keep the records, retry later
            self._failed(exc, len(records))
            self._to_journal(records)

    def _replay(self) -> None:
        for journal in [*self._adopted, self._journal]:
            if journal is None:
                continue
            records = journal.records()
            try:
                for start in range(0, len(records), self.batch):
                    apply_records(self.engine, self.settings, records[start:start + self.batch])
            except Exception as exc:  # noqa: BLE001 - still refused: try again later
                self._failed(exc, len(records))
                return
            self.stats["replayed"] += len(records)
            if records:
                log.warning("journal %s: %d record(s) written to the database after all", journal.path,
                            len(records))
            journal.clear()
            if journal is self._journal:
                self._in_journal = 0
            else:
                self._adopted.remove(journal)
                journal.close(remove=True)

    def _failed(self, exc: Exception, count: int) -> None:
        self.stats["failures"] += 1
        self._next_retry = time.monotonic() + self.retry_s
        # Never reuse what failed: a SQLite connection opened while the file was
        # read-only stays read-only, a PostgreSQL one may be half dead.
        self.engine.dispose()
        if self.stats["failures"] in (1, 10, 100) or self.stats["failures"] % 1000 == 0:
            reason = str(getattr(exc, "orig", None) or exc).splitlines()[0][:200]
            kind = "database refused" if isinstance(exc, DBAPIError) else "write failed"
            log.error("%s %d call record(s) (%s); kept in the journal, retrying every %.1f s",
                      kind, count, reason, self.retry_s)

    def _to_journal(self, records: list[Record]) -> None:
        if self._journal is None:
            self._journal = Journal.own(Path(self.settings.journal_dir))
        count = self._journal.append(records)
        self._in_journal += count
        self.stats["journaled"] += count

    def _pending_journals(self) -> bool:
        return bool(self._adopted) or self._in_journal > 0

    def _replay_due(self) -> bool:
        return self._pending_journals() and time.monotonic() >= self._next_retry

    def _adopt_orphans(self) -> None:
        directory = Path(self.settings.journal_dir)
        if not directory.is_dir():
            return
        for path in sorted(directory.glob(JOURNAL_GLOB)):
            journal = Journal.adopt(path)
            if journal is None:
                continue                              # a running process holds it
            if path.name == f"calls-{os.getpid()}.jsonl":
                # This process's own file (written before the recorder ran): ours again.
                self._journal, self._in_journal = journal, len(journal.records())
                continue
            log.warning("adopting journal %s left by a process that is gone", path)
            self._adopted.append(journal)
