"""The one scheduler per database, in whichever process holds the lock: the jobs run while
this process holds it, and it stands by (ready to take over within a second) while
another does.

Both doors use it: ``callcenter scheduler`` in the foreground, ``callcenter serve`` in a
thread beside the panel and the FastAGI server. So a second ``serve`` on the same
database, or a ``serve`` beside a ``callcenter scheduler``, neither runs the jobs twice nor
refuses them for good: when the holder dies, the standby takes over.

The survey dialer (an AMI connection) belongs to the process side ``ami``; the assembly
hands in how to make one (``make_dialer``), fenced by the lock: a holder that lost its lock
sends no Originate.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler

from callcenter.bus.core import EventBus
from callcenter.config import Settings
from callcenter.scheduler import jobs
from callcenter.scheduler.leadership import Leadership

log = logging.getLogger(__name__)

# A holder that lost its lock waits this long before it competes again: a healthy standby
# takes over first.
LOST_LOCK_PAUSE_S = 2.0


class StandbyScheduler:
    """Run the periodic jobs while this process holds the scheduler lock; stand by otherwise.

    ``make_dialer(fence)``: a started survey dialer that asks ``fence()`` before each
    Originate (None: no survey call is placed from this process). ``announce``: where the
    lead/standby changes are told (the CLI prints them; the all-in-one logs them)."""

    def __init__(self, settings: Settings, bus: EventBus | None = None, *,
                 make_dialer: Callable[[Callable[[], bool]], Any] | None = None, persistent: bool = False,
                 announce: Callable[[str], None] = log.info) -> None:
        self.settings = settings
        self.bus = bus
        self.make_dialer = make_dialer
        self.persistent = persistent
        self.announce = announce
        self.scheduler: BackgroundScheduler | None = None     # set while this process leads
        self._stop = threading.Event()
        self._decided = threading.Event()    # the first attempt at the lock is over, either way
        self._thread: threading.Thread | None = None

    def describe(self) -> str:
        if self.scheduler is not None:
            return ", ".join(job.id for job in self.scheduler.get_jobs())
        return "standing by: another process runs the jobs on this database; takes over when it stops"

    # --- in a thread (callcenter serve) -----------------------------------------------------
    def start(self, decided_within_s: float = 10.0) -> StandbyScheduler:
        """Run in a thread of its own; returns once this process leads or stands by."""
        self._thread = threading.Thread(target=self.run, args=(self._stop,), name="scheduler-lead",
                                        daemon=False)
        self._thread.start()
        self._decided.wait(decided_within_s)
        return self

    def stop(self) -> None:
        """The jobs that are running finish, then the lock is given up."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    # --- in the foreground (callcenter scheduler) -------------------------------------------
    def run(self, stop: threading.Event) -> None:
        """Wait for the lock, run the jobs while it holds, and wait again when it is lost or
        the jobs could not start; until ``stop`` is set."""
        leadership = Leadership(self.settings)
        try:
            while not stop.is_set():
                if not leadership.wait(stop, on_standby=self._decided.set):
                    return
                self.announce("scheduler: lock taken")
                try:
                    self._lead(leadership, stop)
                except Exception:  # noqa: BLE001 - in `serve` nothing restarts this thread: try again
                    log.exception("scheduler failed to run its jobs; gave up the lock, standing by")
                    self._decided.set()
                else:
                    if not stop.is_set():
                        log.error("scheduler lock lost: jobs stopped; standing by")
                stop.wait(LOST_LOCK_PAUSE_S)
        finally:
            self._decided.set()
            leadership.release()

    def _lead(self, leadership: Leadership, stop: threading.Event) -> None:
        dialer = scheduler = None
        try:
            dialer = self.make_dialer(leadership.check) if self.make_dialer is not None else None
            scheduler = jobs.make_scheduler(self.settings, self.bus, dialer=dialer, leadership=leadership,
                                            persistent=self.persistent)
            scheduler.start()
            self.scheduler = scheduler
            self._decided.set()
            self.announce(f"scheduler running: {self.describe()}")
            while not stop.is_set() and leadership.check():
                stop.wait(self.settings.scheduler_lock_check_s)
        finally:
            self.scheduler = None
            if scheduler is not None and scheduler.running:
                # A graceful stop lets the running job finish; a lost lock stops at once (the
                # fence already keeps that job from dialling).
                scheduler.shutdown(wait=stop.is_set())
            jobs.configure(self.settings, self.bus)     # the jobs of a process without the lock dial nothing
            if dialer is not None:
                dialer.stop()
            leadership.release()
