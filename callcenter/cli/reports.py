"""Reports from the command line: ``callcenter reports rollup [--rebuild]`` brings the
hourly rollup up to date (the scheduler does it every ``report_rollup_interval_s``; after
an upgrade or a change of the KPI rules on a large database, run it once by hand)."""

from __future__ import annotations

import time

import click

from callcenter.config import get_settings


@click.group("reports")
def reports_group() -> None:
    """Reports (报表)."""


@reports_group.command("rollup")
@click.option("--rebuild", is_flag=True, help="Recompute every hour, not only the changed ones.")
def rollup_command(rebuild: bool) -> None:
    """Recompute the hours of the report rollup that calls or tickets changed."""
    from callcenter.db import session_scope
    from callcenter.services.reports import rollup
    from callcenter.services.reports.measures import KpiRules

    settings = get_settings()
    rules = KpiRules.from_settings(settings)
    if rules.fcr_days > rollup.MAX_FCR_DAYS:
        raise click.ClickException(f"kpi_fcr_days {rules.fcr_days} is over {rollup.MAX_FCR_DAYS}: reports read the "
                                   "calls directly and keep no rollup")
    started = time.monotonic()
    if rebuild:
        with session_scope(settings.database_url) as session:
            marked = rollup.rebuild(session, rules)
        click.echo(f"{marked} hour(s) with calls to recompute")
    with session_scope(settings.database_url) as session:
        waiting = rollup.stale_hours(session)
    done = 0
    with click.progressbar(length=max(waiting, 1), label="hours", show_pos=True) as bar:
        while True:
            with session_scope(settings.database_url) as session:
                count = rollup.refresh(session, rules)
            if not count:
                break
            done += count
            bar.update(count)
    click.echo(f"rollup up to date: {done} hour(s) recomputed in {time.monotonic() - started:.1f} s")


COMMANDS = [reports_group]
