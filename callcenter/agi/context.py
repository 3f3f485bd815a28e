"""What a route handler gets besides the channel: the settings, a logger that names the
call, and the database (see ``callcenter.agi.registry`` for the handler contract)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import Engine

from callcenter.agi.dbwork import DbRunner, in_session, in_transaction
from callcenter.agi.inline import InlineBusy, InlineTransactions
from callcenter.agi.recorder import CallRecorder, Record, apply_records, journal_now
from callcenter.config import Settings
from callcenter.db import engine_for

T = TypeVar("T")
log = logging.getLogger("callcenter.agi")


class CallLog(logging.LoggerAdapter):
    """Prefixes every message with the call's uniqueid, so one grep finds a call."""

    def process(self, msg, kwargs):
        return f"[{self.extra['uniqueid']}] {msg}", kwargs


class AGIContext:
    """What a handler gets besides the channel (see the module docstring)."""

    __slots__ = ("settings", "log", "route", "_runner", "_engine", "_inline", "_recorder")

    def __init__(self, settings: Settings, uniqueid: str, runner: DbRunner, route: str = "",
                 engine: Engine | None = None, inline: InlineTransactions | None = None,
                 recorder: CallRecorder | None = None) -> None:
        self.settings = settings
        self.log = CallLog(log, {"uniqueid": uniqueid or "-"})
        self.route = route
        self._runner = runner
        self._engine = engine
        self._inline = inline
        self._recorder = recorder

    async def record(self, record: Record) -> None:
        """Write ``record`` behind the route (callcenter.agi.recorder): on the FastAGI
        server the recorder thread takes it and this returns at once; elsewhere (a
        per-call script, a test) it is written now, or kept in the journal when the
        database refuses it. Send the call's route before recording it."""
        if self._recorder is not None:
            self._recorder.submit(record)
            return
        try:
            await self.run_db(apply_records, self.engine, self.settings, [record])
        except Exception as exc:  # noqa: BLE001 - the record must not be lost
            self.log.warning("record not written now (%s); kept in the journal", str(exc).splitlines()[0][:160])
            journal_now(self.settings, [record])

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = engine_for(self.settings.database_url)
        return self._engine

    async def run_db(self, fn: Callable[..., T], /, *args: Any, **kw: Any) -> T:
        return await self._runner(fn, args, kw)

    async def run_in_session(self, fn: Callable[..., T], /, *args: Any, **kw: Any) -> T:
        """``fn(session, *args, **kw)`` in one unit of work (commit on success)."""
        return await self._runner(in_session, (self.engine, fn, args, kw), {})

    async def run_in_transaction(self, fn: Callable[..., T], /, *args: Any, **kw: Any) -> T:
        """``fn(connection, *args, **kw)`` in one transaction (commit on success).

        On the FastAGI server with SQLite it runs on the event-loop thread when it
        needs no lock held elsewhere (callcenter.agi.inline), else in a database thread.
        ``fn`` must be database work only, safe to run again after a rollback."""
        if self._inline is not None:
            try:
                return self._inline.run(fn, args, kw)
            except InlineBusy:
                pass                 # another connection writes: wait for it in a thread
        return await self._runner(in_transaction, (self.engine, fn, args, kw), {})
