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
def scheduler_command(once: bool) -> None:
    """Run the scheduled jobs. Exactly one scheduler may run per database: a second
    copy refuses to start."""
    crash.enable_crash_traces()   # first: a crash from here on leaves a trace
    from callcenter.scheduler import jobs

    settings = get_settings()
    try:
        with jobs.single_instance_lock(settings):
            if once:
                jobs.configure(settings)
                escalated = jobs.escalation_sweep()
                click.echo(f"escalation sweep: {escalated} ticket(s) escalated")
                return
            _run_until_stopped(jobs.make_scheduler(settings))
    except jobs.SchedulerAlreadyRunning as exc:
        raise click.ClickException(str(exc)) from exc


def _run_until_stopped(scheduler) -> None:
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    scheduler.start()
    click.echo(f"scheduler running: {', '.join(job.id for job in scheduler.get_jobs())} (Ctrl-C stops)")
    stop.wait()
    scheduler.shutdown(wait=True)
    click.echo("scheduler stopped")


COMMANDS = [scheduler_command]
