"""Scheduler jobs (APScheduler 3) and the scheduler that runs them.

Job functions are referenced as ``"callcenter.scheduler.jobs:<name>"`` text and take no
arguments (or picklable ones), so any job store can hold them. What a job needs at
run time — the settings and the event bus — is handed over once by
``make_scheduler`` (``configure``); a job run outside a scheduler falls back to
``get_settings()`` and a bus of its own.

APScheduler 3 has no lock between processes: run exactly ONE scheduler per database
(``callcenter serve`` on a single machine, or ``callcenter scheduler`` beside web
workers that do not start one). ``single_instance_lock`` lets the scheduler command
refuse to start a second copy; the jobs are written so that a second copy would do
no harm anyway (the escalation sweep's update is conditional on the level it read).

Other areas add their periodic jobs to ``SCHEDULE``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import fcntl
import logging
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import text
from sqlalchemy.engine import make_url

from callcenter.bus import make_bus
from callcenter.bus.core import EventBus
from callcenter.config import Settings, get_settings
from callcenter.db import engine_for, session_scope
from callcenter.services.tickets import escalation, notifications

log = logging.getLogger(__name__)

_runtime: dict[str, Any] = {"settings": None, "bus": None}
_runtime_lock = threading.Lock()


def configure(settings: Settings | None, bus: EventBus | None = None) -> None:
    """Give the jobs of this process their settings and bus (the web panel's bus when
    the scheduler runs inside ``callcenter serve``, so consoles see notifications live).
    None: fall back to ``get_settings()`` and a bus of the jobs' own."""
    with _runtime_lock:
        _runtime["settings"] = settings
        _runtime["bus"] = bus


def _context() -> tuple[Settings, EventBus]:
    with _runtime_lock:
        if _runtime["settings"] is None:
            _runtime["settings"] = get_settings()
        if _runtime["bus"] is None:
            _runtime["bus"] = make_bus(_runtime["settings"])
        return _runtime["settings"], _runtime["bus"]


# --- jobs ---------------------------------------------------------------------------

def escalation_sweep() -> int:
    """Escalate overdue tickets one level, commit, then notify open consoles."""
    settings, bus = _context()
    with session_scope(settings.database_url) as session:
        escalated = escalation.sweep(session, settings)
    notifications.publish_outbox(session, bus)
    return len(escalated)


def speech_transcribe() -> int:
    """Transcribe and check the sampled calls waiting for it (services/speech/transcripts.py);
    nothing when no Vosk model is usable (the reason was logged once)."""
    from callcenter.services.speech.model import speech_model
    from callcenter.services.speech.transcripts import transcribe_pending

    settings, _ = _context()
    model = speech_model(settings)
    if model is None:
        return 0
    outcome = transcribe_pending(lambda: session_scope(settings.database_url), settings, model)
    return len(outcome.transcribed)


# --- the scheduler --------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class ScheduledJob:
    id: str
    func: str                                  # "module:function"
    seconds: Callable[[Settings], float]       # the interval, read from the settings


SCHEDULE: list[ScheduledJob] = [
    ScheduledJob("escalation_sweep", "callcenter.scheduler.jobs:escalation_sweep", lambda s: s.escalation_sweep_s),
    ScheduledJob("speech_transcribe", "callcenter.scheduler.jobs:speech_transcribe",
                 lambda s: s.speech_transcribe_interval_s),
]


def make_scheduler(settings: Settings, bus: EventBus | None = None) -> BackgroundScheduler:
    """A BackgroundScheduler with every job in SCHEDULE; the caller starts it."""
    configure(settings, bus)
    scheduler = BackgroundScheduler(
        timezone=settings.timezone,
        # A sweep that overran or a process that slept runs once, not once per missed tick.
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 300},
    )
    for job in SCHEDULE:
        scheduler.add_job(job.func, trigger="interval", seconds=job.seconds(settings), id=job.id,
                          name=job.id, replace_existing=True,
                          next_run_time=dt.datetime.now(scheduler.timezone))
    return scheduler


# A fixed key for pg_try_advisory_lock: "callcenter scheduler" in ASCII, truncated.
_PG_LOCK_KEY = 0x63_61_6C_6C_73_63_68


class SchedulerAlreadyRunning(RuntimeError):
    pass


@contextlib.contextmanager
def single_instance_lock(settings: Settings) -> Iterator[None]:
    """Hold a lock that only one scheduler per database can have.

    PostgreSQL: a session advisory lock (released when the process dies). SQLite: an
    flock on ``<database>.scheduler.lock`` next to the database file. Raises
    SchedulerAlreadyRunning when another process holds it."""
    url = make_url(settings.database_url)
    if url.get_backend_name() == "postgresql":
        with engine_for(settings.database_url).connect() as conn:
            if not conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": _PG_LOCK_KEY}).scalar():
                raise SchedulerAlreadyRunning("another scheduler process already runs on this PostgreSQL database")
            conn.commit()
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _PG_LOCK_KEY})
                conn.commit()
        return
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        path = Path(url.database).with_suffix(Path(url.database).suffix + ".scheduler.lock")
        with open(path, "a+") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError as exc:
                raise SchedulerAlreadyRunning(f"another scheduler process holds {path}") from exc
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
        return
    yield
