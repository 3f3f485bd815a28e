"""``callcenter surveys ...``: follow-up call plans, series, the do-not-call list, the queue."""

from __future__ import annotations

import datetime as dt

import click

from callcenter.config import get_settings


@click.group("surveys")
def surveys_group() -> None:
    """Follow-up survey calls (回访)."""


def _local(text: str, settings) -> dt.datetime:
    from callcenter.timeutil import to_utc_naive

    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(f"{text!r}: write a local date or time, e.g. 2026-10-01 or 2026-10-01T09:00") from None
    return to_utc_naive(value, settings.timezone)


@surveys_group.command("plans")
def plans_command() -> None:
    """List the plans (created with the rulebook's defaults when missing)."""
    from callcenter.db import session_scope
    from callcenter.services.surveys import plans

    with session_scope(get_settings().database_url) as session:
        created = plans.ensure_default_plans(session)
        for plan in plans.list_plans(session):
            offsets = ",".join(f"{d:g}" for d in plan.offsets_days) or f"series≥{plan.series_min_calls}"
            click.echo(f"{plan.key:13} {'on ' if plan.active else 'off'} {plan.anchor:12} days {offsets:14} "
                       f"within {plan.deadline_days:g}d  tries {plan.max_attempts} every {plan.retry_minutes}m  "
                       f"{plan.name}")
    if created:
        click.echo(f"created: {', '.join(created)}")


@surveys_group.command("series")
@click.argument("ticket_number")
@click.option("--plan", "plan_key", required=True, help="construction, handover or walk_in.")
@click.option("--start", required=True, help="Local date/time: construction start, handover day or visit.")
@click.option("--end", default=None, help="Construction: the planned end.")
def series_command(ticket_number: str, plan_key: str, start: str, end: str | None) -> None:
    """Schedule the calls of a series for the customer of TICKET_NUMBER."""
    from sqlalchemy import select

    from callcenter.db import session_scope
    from callcenter.models import Ticket
    from callcenter.services.surveys import plans, requests

    settings = get_settings()
    with session_scope(settings.database_url) as session:
        ticket = session.scalars(select(Ticket).where(Ticket.number == ticket_number)).first()
        if ticket is None:
            raise click.ClickException(f"no ticket {ticket_number}")
        try:
            created = requests.schedule_series(session, ticket, plan_key, _local(start, settings),
                                               _local(end, settings) if end else None)
        except plans.PlanError as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(f"{len(created)} call(s) scheduled for {ticket.number}")


@surveys_group.command("do-not-call")
@click.argument("number")
@click.option("--off", is_flag=True, help="Take the number off the list.")
@click.option("--note", default=None)
def dnc_command(number: str, off: bool, note: str | None) -> None:
    """Put NUMBER on the do-not-call list (免打扰)."""
    from callcenter.db import session_scope
    from callcenter.services.surveys import requests

    settings = get_settings()
    with session_scope(settings.database_url) as session:
        try:
            contact = requests.set_contact(session, number, do_not_call=not off, note=note,
                                           region=settings.phone_region)
        except ValueError as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(f"{contact.number}: {'do not call' if contact.do_not_call else 'may be called'}")


@surveys_group.command("queue")
@click.option("--limit", default=20, show_default=True)
def queue_command(limit: int) -> None:
    """The next survey calls, the calls in progress and the human callback list."""
    from callcenter.db import session_scope
    from callcenter.services.surveys import report
    from callcenter.timeutil import to_local

    settings = get_settings()
    with session_scope(settings.database_url) as session:
        rows = report.queue(session, limit=limit)
        for survey, ticket in rows:
            click.echo(f"due  {to_local(survey.next_attempt_at, settings.timezone):%Y-%m-%d %H:%M}  {ticket.number}  "
                       f"{survey.number}  tries {survey.attempts}")
        for attempt in report.in_flight(session):
            click.echo(f"call attempt {attempt.id}  {attempt.number}  "
                       f"{'answered' if attempt.answered_at else 'ringing'}")
        for survey, ticket in report.callback_list(session):
            click.echo(f"human {ticket.number}  {survey.number}  after {survey.attempts} tries")


COMMANDS = [surveys_group]
