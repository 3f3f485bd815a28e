"""``callcenter scheduler``: the periodic jobs (escalation sweep ...) in a process of their own."""

from __future__ import annotations

import click

from callcenter.cli import crash
from callcenter.config import get_settings


@click.command("scheduler")
@click.option("--once", is_flag=True, help="Run every job once now and exit (for cron or a check).")
@click.option("--no-dial", is_flag=True, help="Do not connect to AMI: no survey call is placed.")
def scheduler_command(once: bool, no_dial: bool) -> None:
    """Run the scheduled jobs (escalation sweep, survey calls). Exactly one scheduler runs
    per database: a second copy stands by and takes over when the first dies."""
    crash.enable_crash_traces()   # first: a crash from here on leaves a trace
    from callcenter.runtime import stop_on_signal
    from callcenter.scheduler import jobs
    from callcenter.scheduler.standby import StandbyScheduler

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
    stop = stop_on_signal()
    make_dialer = None
    if not no_dial:
        from callcenter.ami.survey_dialer import fenced_dialer

        make_dialer = fenced_dialer(settings)
    StandbyScheduler(settings, make_dialer=make_dialer, persistent=True,
                     announce=lambda line: click.echo(line, err=True)).run(stop)
    click.echo("scheduler stopped")


COMMANDS = [scheduler_command]
