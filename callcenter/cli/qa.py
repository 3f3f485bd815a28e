"""QA from the command line: ``callcenter qa draw`` (and ``--verify SAMPLE``) and
``callcenter recordings purge [--dry-run]``."""

from __future__ import annotations

import datetime as dt

import click

from callcenter.config import get_settings


@click.group("qa")
def qa_group() -> None:
    """Quality assurance (质检): samples."""


@qa_group.command("draw")
@click.option("--plan", "plan_id", type=int, default=None, help="Plan id (default: the first plan).")
@click.option("--day", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="A day of the period to draw (default: today).")
@click.option("--seed", type=int, default=None, help="Random seed (default: a fresh one, stored).")
@click.option("--verify", "verify_id", type=int, default=None, metavar="SAMPLE",
              help="Re-run stored sample SAMPLE and check it gives the same calls.")
def draw_command(plan_id: int | None, day: dt.datetime | None, seed: int | None, verify_id: int | None) -> None:
    """Draw a QA sample, or verify a stored one (exit status 1 when it differs)."""
    from callcenter.db import session_scope
    from callcenter.models import QaPlan, QaSample
    from callcenter.services.qa import draws

    settings = get_settings()
    with session_scope(settings.database_url) as session:
        if verify_id is not None:
            sample = session.get(QaSample, verify_id)
            if sample is None:
                raise click.ClickException(f"no sample {verify_id}")
            result = draws.verify(session, settings, sample)
            click.echo(result.summary())
            click.echo("calls: " + " ".join(str(c) for c in result.drawn))
            if not result.same:
                raise SystemExit(1)
            return
        plan = session.get(QaPlan, plan_id) if plan_id else draws.default_plan(session)
        if plan is None:
            raise click.ClickException(f"no plan {plan_id}")
        try:
            sample = draws.make_sample(session, settings, plan, (day.date() if day else dt.date.today()),
                                       seed=seed, source="cli")
        except draws.DrawError as exc:
            raise click.ClickException(str(exc)) from exc
        click.echo(f"sample {sample.id}: plan {plan.id} {sample.period_start}..{sample.period_end} seed {sample.seed}, "
                   f"{len(sample.call_ids)} call(s)")


@click.group("recordings")
def recordings_group() -> None:
    """Call recordings."""


@recordings_group.command("purge")
@click.option("--dry-run", is_flag=True, help="Only say what would be removed.")
def purge_command(dry_run: bool) -> None:
    """Delete recordings older than recording_retention_days (never one under review or
    appeal) and say what was removed."""
    from callcenter.db import session_scope
    from callcenter.services.qa import recordings

    settings = get_settings()
    with session_scope(settings.database_url) as session:
        report = recordings.purge(session, settings, dry_run=dry_run)
        for path in report.files:
            click.echo(("would remove " if dry_run else "removed ") + path)
        click.echo(report.summary())


COMMANDS = [qa_group, recordings_group]
