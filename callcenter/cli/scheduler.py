"""``callcenter scheduler``: the periodic jobs (escalation sweep ...) in a process of their own."""

from __future__ import annotations

import logging
import signal
import threading

import click

from callcenter.cli import crash
from callcenter.config import get_settings

log = logging.getLogger(__name__)


@click.command("scheduler")
@click.option("--once", is_flag=True, help="Run every job once now and exit (for cron or a check).")
@click.option("--no-dial", is_flag=True, help="Do not connect to AMI: no survey call is placed.")
def scheduler_command(once: bool, no_dial: bool) -> None:
    """Run the scheduled jobs (escalation sweep, survey calls). Exactly one scheduler runs
    per database: a second copy stands by and takes over when the first dies."""
    crash.enable_crash_traces()   # first: a crash from here on leaves a trace
    from callcenter.scheduler import jobs

    settings = get_settings()
    if once:
        try:
            with jobs.single_instance_lock(settings):
                jobs.configure(settings)
                escalated = jobs.escalation_sweep()
                click.echo(f"escalation sweep: {escalated} ticket(s) escalated")
                return
        except jobs.SchedulerAlreadyRunning as exc:
            raise click.ClickException(str(exc)) from exc
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    _lead_or_stand_by(settings, stop, dial=not no_dial)
    click.echo("scheduler stopped")


def _lead_or_stand_by(settings, stop: threading.Event, *, dial: bool) -> None:
    """Wait for the lock, run the jobs while it holds, and wait again when it is lost."""
    from callcenter.ami.survey_dialer import SurveyDialer
    from callcenter.scheduler import jobs
    from callcenter.scheduler.leadership import Leadership

    leadership = Leadership(settings)
    while not stop.is_set():
        if not leadership.wait(stop):
            return
        click.echo("scheduler: lock taken", err=True)
        dialer = SurveyDialer(settings, fence=leadership.check).start() if dial else None
        scheduler = jobs.make_scheduler(settings, dialer=dialer, leadership=leadership, persistent=True)
        scheduler.start()
        click.echo(f"scheduler running: {', '.join(job.id for job in scheduler.get_jobs())} (Ctrl-C stops)",
                   err=True)
        while not stop.is_set() and leadership.check():
            stop.wait(settings.scheduler_lock_check_s)
        scheduler.shutdown(wait=False)
        jobs.configure(settings)          # the jobs of a process without the lock dial nothing
        if dialer is not None:
            dialer.stop()
        leadership.release()
        if not stop.is_set():
            log.error("scheduler lock lost: jobs stopped; standing by")
            stop.wait(2.0)      # a healthy standby takes over first; this one waits its turn


COMMANDS = [scheduler_command]
