"""Scheduler jobs (APScheduler 3) and the scheduler that runs them.

Job functions are referenced as ``"callcenter.scheduler.jobs:<name>"`` text and take no
arguments (or picklable ones), so any job store can hold them. What a job needs at
run time — the settings and the event bus — is handed over once by
``make_scheduler`` (``configure``); a job run outside a scheduler falls back to
``get_settings()`` and a bus of its own.

APScheduler 3 has no lock between processes: exactly ONE scheduler runs per database
(``callcenter serve`` on a single machine, or ``callcenter scheduler`` beside web
workers that do not start one). ``scheduler.standby`` holds the lock and keeps a second
copy standing by; ``single_instance_lock`` is the one-shot form (``scheduler --once``).
The jobs are written so that a second copy would do no harm anyway (the escalation
sweep's update is conditional on the level it read).

Other areas add their periodic jobs to ``SCHEDULE``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler

from callcenter.bus import make_bus
from callcenter.bus.core import EventBus
from callcenter.config import Settings, get_settings
from callcenter.db import engine_for, session_scope, utcnow
from callcenter.scheduler.leadership import Leadership
from callcenter.services.reports import kept
from callcenter.services.surveys import dispatch as survey_dispatch_service
from callcenter.services.surveys import recovery
from callcenter.services.tickets import escalation, notifications

log = logging.getLogger(__name__)

_runtime: dict[str, Any] = {"settings": None, "bus": None, "dialer": None, "leadership": None}
_runtime_lock = threading.Lock()


def configure(settings: Settings | None, bus: EventBus | None = None, *, dialer: Any = None,
              leadership: Any = None) -> None:
    """Give the jobs of this process their settings and bus (the web panel's bus when
    the scheduler runs inside ``callcenter serve``, so consoles see notifications live).
    None: fall back to ``get_settings()`` and a bus of the jobs' own. ``dialer`` (an
    ``ami.survey_dialer.SurveyDialer``, handed over by the CLI: the scheduler does not
    import the AMI side) places survey calls; without one no survey is dialled here.
    ``leadership`` (``scheduler.leadership.Leadership``) fences the survey claims."""
    with _runtime_lock:
        _runtime["settings"] = settings
        _runtime["bus"] = bus
        _runtime["dialer"] = dialer
        _runtime["leadership"] = leadership


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


def recordings_purge() -> int:
    """Delete expired recordings (retention), never one under review or appeal."""
    from callcenter.services.qa import recordings

    settings, _ = _context()
    with session_scope(settings.database_url) as session:
        report = recordings.purge(session, settings)
    log.info("%s", report.summary())
    return len(report.files)


def qa_draw() -> int:
    """Draw every active QA plan's sample of the period that just ended, once."""
    from callcenter.services.qa import draws
    from callcenter.timeutil import to_local

    settings, _ = _context()
    today = to_local(dt.datetime.now(dt.UTC).replace(tzinfo=None), settings.timezone).date()
    with session_scope(settings.database_url) as session:
        made = draws.draw_due(session, settings, today)
    return len(made)


def survey_dispatch() -> int:
    """Claim the survey calls due in the next tick (attempts committed first), then hand
    them to the dialer. A process without a dialer or without the lock dials nothing."""
    settings, _bus = _context()
    with _runtime_lock:
        dialer, leadership = _runtime["dialer"], _runtime["leadership"]
    if dialer is None:
        return 0
    if leadership is not None and not leadership.check():
        return 0
    scope = leadership.session() if leadership is not None else session_scope(settings.database_url)
    with scope as session:
        claims = survey_dispatch_service.claim_due(session, settings, utcnow())
    dialer.submit(claims)
    return len(claims)


def survey_recover() -> dict:
    """Settle survey attempts left open by a crash, from what Asterisk shows."""
    settings, _bus = _context()
    with _runtime_lock:
        dialer, leadership = _runtime["dialer"], _runtime["leadership"]
    if dialer is None or (leadership is not None and not leadership.check()):
        return {}
    channels = dialer.live_channels()
    scope = leadership.session() if leadership is not None else session_scope(settings.database_url)
    with scope as session:
        return recovery.recover(session, settings, now=utcnow(), live_channels=channels)


def daily_complaint_summary() -> int:
    """Keep the complaint summary of each finished day (services/reports/kept.py)."""
    settings, _ = _context()
    with session_scope(settings.database_url) as session:
        return len(kept.keep_daily_complaints(session, settings))


def call_stats_refresh() -> int:
    """Recompute the report rollup's changed hours (services/reports/rollup.py)."""
    from callcenter.services.reports import rollup
    from callcenter.services.reports.measures import KpiRules

    settings, _ = _context()
    with session_scope(settings.database_url) as session:
        return rollup.refresh(session, KpiRules.from_settings(settings))


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
    ScheduledJob("recordings_purge", "callcenter.scheduler.jobs:recordings_purge",
                 lambda s: s.recordings_purge_interval_s),
    ScheduledJob("qa_draw", "callcenter.scheduler.jobs:qa_draw", lambda s: s.qa_draw_interval_s),
    ScheduledJob("survey_dispatch", "callcenter.scheduler.jobs:survey_dispatch", lambda s: s.survey_dispatch_s),
    ScheduledJob("survey_recover", "callcenter.scheduler.jobs:survey_recover",
                 lambda s: max(5.0, s.survey_attempt_stale_s / 3)),
    ScheduledJob("daily_complaint_summary", "callcenter.scheduler.jobs:daily_complaint_summary",
                 lambda s: s.report_keep_interval_s),
    ScheduledJob("call_stats_refresh", "callcenter.scheduler.jobs:call_stats_refresh",
                 lambda s: s.report_rollup_interval_s),
    ScheduledJob("speech_transcribe", "callcenter.scheduler.jobs:speech_transcribe",
                 lambda s: s.speech_transcribe_interval_s),
]


def make_scheduler(settings: Settings, bus: EventBus | None = None, *, dialer: Any = None,
                   leadership: Any = None, persistent: bool = False) -> BackgroundScheduler:
    """A BackgroundScheduler with every job in SCHEDULE; the caller starts it.
    ``persistent``: the jobs live in the project's database (APScheduler's SQLAlchemy job
    store, table ``apscheduler_jobs``), so a standby that takes over finds them."""
    configure(settings, bus, dialer=dialer, leadership=leadership)
    jobstores = {}
    if persistent:
        from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore

        # The project's engine: its SQLite busy timeout and pool settings apply here too.
        jobstores["default"] = SQLAlchemyJobStore(engine=engine_for(settings.database_url))
    scheduler = BackgroundScheduler(
        timezone=settings.timezone, jobstores=jobstores,
        # A sweep that overran or a process that slept runs once, not once per missed tick.
        # (The survey backlog after downtime is paced by the dispatcher, never a flood.)
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 300},
    )
    for job in SCHEDULE:
        scheduler.add_job(job.func, trigger="interval", seconds=job.seconds(settings), id=job.id,
                          name=job.id, replace_existing=True,
                          next_run_time=dt.datetime.now(scheduler.timezone))
    return scheduler


class SchedulerAlreadyRunning(RuntimeError):
    pass


@contextlib.contextmanager
def single_instance_lock(settings: Settings) -> Iterator[None]:
    """Hold the scheduler lock for a one-shot run (``scheduler --once``): the lock the
    running scheduler holds (``scheduler.leadership``: a PostgreSQL advisory lock, or an
    flock beside the SQLite file). Raises SchedulerAlreadyRunning when another process
    holds it."""
    leadership = Leadership(settings)
    if not leadership.try_acquire():
        raise SchedulerAlreadyRunning("another scheduler process holds the scheduler lock of this database")
    try:
        yield
    finally:
        leadership.release()
