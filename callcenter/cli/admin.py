"""Routing configuration: ``queue``, ``line``, ``hours``, ``calendar``, ``duty`` and
``setup-defaults``. Every change is one transaction; a running FastAGI server uses it
from its next call (the configuration version token, see services/lines.py)."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from contextlib import contextmanager

import click
from sqlalchemy.orm import Session

from callcenter.config import Settings, get_settings


@contextmanager
def _unit_of_work() -> Iterator[tuple[Session, Settings]]:
    """A session for one command; service errors become clean CLI errors."""
    from callcenter.db import session_scope
    from callcenter.services.setup.calendar import CalendarError
    from callcenter.services.setup.lines import LineError

    settings = get_settings()
    try:
        with session_scope(settings.database_url) as session:
            yield session, settings
    except (LineError, CalendarError) as exc:
        raise click.ClickException(str(exc)) from exc


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)") from None


def _local_datetime(value: str) -> dt.datetime:
    try:
        return dt.datetime.fromisoformat(value.strip().replace("T", " "))
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a local date and time (YYYY-MM-DD HH:MM)") from None


def _table(rows: list[list[str]], header: list[str]) -> None:
    widths = [max(_width(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        click.echo("  ".join(str(cell) + " " * (w - _width(str(cell))) for cell, w in zip(row, widths)).rstrip())


def _width(text: str) -> int:
    # CJK characters take two columns in a terminal.
    return sum(2 if ord(ch) > 0x2E80 else 1 for ch in text)


# --- queues -------------------------------------------------------------------------------------


@click.group("queue")
def queue_group() -> None:
    """Asterisk queues the router may choose (names as in queues.conf)."""


@queue_group.command("add")
@click.argument("name")
@click.option("--kind", type=click.Choice(["vip", "general", "duty"]), required=True)
@click.option("--description", default="")
def queue_add(name: str, kind: str, description: str) -> None:
    """Add a queue."""
    from callcenter.services.setup import lines

    with _unit_of_work() as (session, _settings):
        queue = lines.add_queue(session, name, kind, description)
        click.echo(f"queue {queue.name} ({queue.kind.value}) added")


@queue_group.command("list")
def queue_list() -> None:
    """List the queues."""
    from callcenter.services.setup import lines

    with _unit_of_work() as (session, _settings):
        rows = [[q.name, q.kind.value, q.description] for q in lines.list_queues(session)]
    if not rows:
        click.echo("no queues yet (callcenter setup-defaults creates vip, general_q and duty)")
        return
    _table(rows, ["NAME", "KIND", "DESCRIPTION"])


@queue_group.command("remove")
@click.argument("name")
def queue_remove(name: str) -> None:
    """Remove a queue no line or duty shift uses."""
    from callcenter.services.setup import lines

    with _unit_of_work() as (session, _settings):
        lines.remove_queue(session, name)
    click.echo(f"queue {name} removed")


# --- lines --------------------------------------------------------------------------------------


@click.group("line")
def line_group() -> None:
    """Hotline numbers (DIDs) and where their calls go."""


@line_group.command("add")
@click.argument("number")
@click.option("--kind", type=click.Choice(["vip", "ordinary"]), required=True)
@click.option("--queue", required=True, help="The line's queue.")
@click.option("--name", default="", help="e.g. VIP客户专线")
@click.option("--duty-queue", default=None, help="Queue used outside hours when someone is on duty.")
@click.option("--ivr-flow", default="", help="Flow in ivr_flows/ (file name without .yaml).")
def line_add(number: str, kind: str, queue: str, name: str, duty_queue: str | None, ivr_flow: str) -> None:
    """Add a hotline NUMBER (digits, as Asterisk presents the dialled number)."""
    from callcenter.services.setup import lines

    _require_flow(get_settings(), ivr_flow)
    with _unit_of_work() as (session, _settings):
        line = lines.add_line(session, number, kind=kind, queue=queue, name=name,
                              duty_queue=duty_queue, ivr_flow=ivr_flow)
        click.echo(f"line {line.number} ({line.kind.value}) → {line.queue.name} added")


@line_group.command("set")
@click.argument("number")
@click.option("--kind", type=click.Choice(["vip", "ordinary"]), default=None)
@click.option("--queue", default=None)
@click.option("--name", default=None)
@click.option("--duty-queue", default=None)
@click.option("--no-duty-queue", is_flag=True, help="Closed means after hours, never duty.")
@click.option("--ivr-flow", default=None, help='Flow name; "" for none.')
@click.option("--active/--inactive", default=None, help="An inactive line routes like an unknown number.")
def line_set(number: str, kind, queue, name, duty_queue, no_duty_queue, ivr_flow, active) -> None:
    """Change a line."""
    from callcenter.services.setup import lines

    if duty_queue and no_duty_queue:
        raise click.UsageError("--duty-queue and --no-duty-queue contradict each other")
    if ivr_flow:
        _require_flow(get_settings(), ivr_flow)
    with _unit_of_work() as (session, settings):
        line = lines.update_line(session, number, kind=kind, queue=queue, name=name, duty_queue=duty_queue,
                                 clear_duty_queue=no_duty_queue, ivr_flow=ivr_flow, active=active)
        click.echo(f"line {line.number} updated")
        _warn_flow(settings, line.ivr_flow)


@line_group.command("list")
def line_list() -> None:
    """List the lines."""
    from callcenter.services.setup import lines

    with _unit_of_work() as (session, settings):
        items = lines.list_lines(session)
        rows = [[ln.number, ln.name, ln.kind.value, ln.queue.name, ln.duty_queue.name if ln.duty_queue else "-",
                 ln.ivr_flow or "-", "yes" if ln.active else "no"] for ln in items]
        flows = [ln.ivr_flow for ln in items]
    if not rows:
        click.echo("no lines yet (callcenter setup-defaults creates 4008002000 and 4008001000)")
        return
    _table(rows, ["NUMBER", "NAME", "KIND", "QUEUE", "DUTY QUEUE", "IVR FLOW", "ACTIVE"])
    for flow in sorted(set(flows)):
        _warn_flow(settings, flow)


@line_group.command("remove")
@click.argument("number")
def line_remove(number: str) -> None:
    """Remove a line (one with call history is deactivated instead)."""
    from callcenter.services.setup import lines

    with _unit_of_work() as (session, _settings):
        outcome = lines.remove_line(session, number)
    click.echo(f"line {number} {outcome}" + (" (it has call history)" if outcome == "deactivated" else ""))


def _require_flow(settings: Settings, flow: str) -> None:
    """A line that names a flow without a file would skip its IVR on every call: refuse
    it and say which flows there are (a line without a flow is ``--ivr-flow ""``)."""
    from pathlib import Path

    from callcenter.services.setup import lines

    missing = lines.missing_flow_file(settings, flow)
    if missing is None:
        return
    directory = Path(settings.ivr_flows_dir)
    known = sorted({p.stem for p in directory.glob("*.y*ml")}) if directory.is_dir() else []
    raise click.ClickException(
        f"no IVR flow {flow!r}: {missing} does not exist (flows in {directory}: "
        f"{', '.join(known) or 'none'}); nothing was changed")


def _warn_flow(settings: Settings, flow: str) -> None:
    from callcenter.services.setup import lines

    missing = lines.missing_flow_file(settings, flow)
    if missing is not None:
        click.echo(f"warning: IVR flow {flow!r} has no file {missing}: calls will skip the IVR", err=True)


# --- business hours ------------------------------------------------------------------------------


@click.group("hours")
def hours_group() -> None:
    """Opening hours per weekday: a line's own, or the site default for every line without any.

    With no hours at all, working days are open around the clock. Swapped working
    weekends (调休) use Monday's hours.
    """


@hours_group.command("set")
@click.argument("line")
@click.argument("weekdays")
@click.argument("ranges")
def hours_set(line: str, weekdays: str, ranges: str) -> None:
    """Set LINE (a number, or "default") open on WEEKDAYS during RANGES.

    \b
    callcenter hours set default mon-fri 09:00-18:00
    callcenter hours set default sat 09:00-12:00
    callcenter hours set 4008002000 all 00:00-24:00
    callcenter hours set 4008001000 1-5 08:30-12:00,13:30-18:00
    """
    from callcenter.services.setup import hours

    with _unit_of_work() as (session, _settings):
        days = hours.parse_weekdays(weekdays)
        intervals = hours.parse_intervals(ranges)
        hours.set_hours(session, _line_arg(line), days, intervals)
    names = ", ".join(hours.WEEKDAY_NAMES[d] for d in days)
    spans = ", ".join(hours.format_interval(o, c) for o, c in intervals)
    click.echo(f"{_scope(line)}: {names} open {spans}")


@hours_group.command("clear")
@click.argument("line")
@click.argument("weekdays", required=False)
def hours_clear(line: str, weekdays: str | None) -> None:
    """Close LINE on WEEKDAYS (all weekdays when omitted: the line then follows the default)."""
    from callcenter.services.setup import hours

    with _unit_of_work() as (session, _settings):
        days = hours.parse_weekdays(weekdays) if weekdays else None
        removed = hours.clear_hours(session, _line_arg(line), days)
    click.echo(f"{_scope(line)}: {removed} opening range(s) removed")


@hours_group.command("list")
def hours_list() -> None:
    """Show the opening hours."""
    from callcenter.services.setup import hours

    with _unit_of_work() as (session, _settings):
        rows = [["default" if h.line is None else h.line.number, hours.WEEKDAY_NAMES[h.weekday],
                 hours.format_interval(h.opens, h.closes)] for h in hours.list_hours(session)]
    if not rows:
        click.echo("no opening hours configured: every working day is open around the clock "
                   "(callcenter hours set default mon-fri 09:00-18:00)")
        return
    _table(rows, ["LINE", "DAY", "OPEN"])


def _line_arg(line: str) -> str | None:
    return None if line.strip().lower() in ("default", "site", "*") else line


def _scope(line: str) -> str:
    return "site default" if _line_arg(line) is None else f"line {line}"


# --- calendar -----------------------------------------------------------------------------------


@click.group("calendar")
def calendar_group() -> None:
    """Working days: China's national calendar (holidays, 调休) plus local exceptions."""


def _add_days(kind: str, day: str, to: str | None, line: str | None, name: str) -> None:
    from callcenter.services.setup import hours

    first, last = _date(day), _date(to) if to else _date(day)
    if last < first:
        raise click.BadParameter("--to is before the first day")
    if (last - first).days > 366:
        raise click.BadParameter("at most one year at a time")
    with _unit_of_work() as (session, _settings):
        current = first
        while current <= last:
            hours.add_override(session, current, kind, line_number=line, name=name)
            current += dt.timedelta(days=1)
    span = first.isoformat() if first == last else f"{first.isoformat()}..{last.isoformat()}"
    click.echo(f"{span}: {kind} for {_scope(line or 'default')}" + (f" ({name})" if name else ""))


@calendar_group.group("holiday")
def holiday_group() -> None:
    """Local days off (closed although the nation works)."""


@holiday_group.command("add")
@click.argument("day")
@click.option("--to", default=None, help="Last day of a range (inclusive).")
@click.option("--line", default=None, help="Only this line (default: every line).")
@click.option("--name", default="", help="e.g. 公司年会, 台风停工")
def holiday_add(day: str, to: str | None, line: str | None, name: str) -> None:
    """Close on DAY (YYYY-MM-DD)."""
    _add_days("holiday", day, to, line, name)


@calendar_group.group("workday")
def workday_group() -> None:
    """Local working days (open although it is a weekend or a holiday)."""


@workday_group.command("add")
@click.argument("day")
@click.option("--to", default=None, help="Last day of a range (inclusive).")
@click.option("--line", default=None, help="Only this line (default: every line).")
@click.option("--name", default="", help="e.g. 调休上班")
def workday_add(day: str, to: str | None, line: str | None, name: str) -> None:
    """Open on DAY (YYYY-MM-DD); a weekend working day uses Monday's hours."""
    _add_days("workday", day, to, line, name)


@calendar_group.command("remove")
@click.argument("day")
@click.option("--line", default=None)
def calendar_remove(day: str, line: str | None) -> None:
    """Remove the local exception on DAY (the national calendar applies again)."""
    from callcenter.services.setup import hours

    with _unit_of_work() as (session, _settings):
        hours.remove_override(session, _date(day), line_number=line)
    click.echo(f"{day}: local exception for {_scope(line or 'default')} removed")


@calendar_group.command("list")
@click.option("--year", type=int, default=None)
def calendar_list(year: int | None) -> None:
    """List the local exceptions."""
    from callcenter.services.setup import hours, lines

    with _unit_of_work() as (session, _settings):
        numbers = {ln.id: ln.number for ln in lines.list_lines(session)}
        rows = [[o.day.isoformat(), o.kind.value, numbers.get(o.line_id, "default"), o.name]
                for o in hours.list_overrides(session, year=year)]
    if not rows:
        click.echo("no local exceptions: the national calendar applies")
        return
    _table(rows, ["DAY", "KIND", "LINE", "NAME"])


@calendar_group.command("status")
def calendar_status() -> None:
    """Which years the national holiday data covers, with warnings for those it does not."""
    import importlib.metadata

    from callcenter.db import utcnow
    from callcenter.services.setup import calendar, hours
    from callcenter.timeutil import to_local

    with _unit_of_work() as (session, settings):
        today = to_local(utcnow(), settings.timezone).date()
        first, last = calendar.national_coverage()
        version = importlib.metadata.version("chinesecalendar")
        click.echo(f"national calendar: chinesecalendar {version}, years {first}-{last}")
        click.echo(f"today ({settings.timezone}): {today.isoformat()}")
        overrides = hours.list_overrides(session)
        for year in (today.year, today.year + 1):
            local = sum(1 for o in overrides if o.day.year == year)
            state = "covered" if year <= last else "NOT COVERED"
            click.echo(f"  {year}: {state}; {local} local exception(s)")
        has_hours = bool(hours.list_hours(session))
        click.echo("opening hours: " + ("configured (callcenter hours list)" if has_hours else
                                        "none: working days are open around the clock"))
    for warning in calendar.coverage_report(today):
        click.echo(f"WARNING: {warning}", err=True)


@calendar_group.command("day")
@click.argument("day")
@click.option("--line", default=None)
def calendar_day(day: str, line: str | None) -> None:
    """Explain DAY: working or not, why, and the opening hours that apply."""
    from callcenter.services.setup import calendar, hours, lines, routing_config

    with _unit_of_work() as (session, settings), _quiet(calendar.log):
        line_id = lines.get_line(session, line).id if line else None
        config = routing_config.current_config(session)
        intervals, info = calendar.intervals_on(config, settings, _date(day), line_id)
    kind = "working day" if info.working else ("holiday" if info.holiday else "day off")
    extra = " (swapped weekend working day, 调休)" if info.swapped else ""
    click.echo(f"{info.day.isoformat()} {hours.WEEKDAY_NAMES[info.day.weekday()]}: {kind}{extra}"
               + (f" — {info.name}" if info.name else "") + f" [{info.source}]")
    spans = ", ".join(f"{_hhmm(o)}-{_hhmm(c)}" for o, c in intervals) or "closed"
    click.echo(f"{_scope(line or 'default')}: {spans}")
    if not calendar.national_day(info.day).covered:
        first, last = calendar.national_coverage()
        click.echo(f"warning: the national holiday data covers {first}-{last}, not {info.day.year}: Monday-Friday "
                   "plus local exceptions apply (callcenter calendar holiday add …)", err=True)


@contextmanager
def _quiet(logger) -> Iterator[None]:
    """The command says it itself, in its own words, after the answer."""
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _hhmm(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}"


# --- duty shifts ---------------------------------------------------------------------------------


@click.group("duty")
def duty_group() -> None:
    """Duty shifts (值班): a line's duty queue takes its calls outside hours while staffed."""


@duty_group.command("add")
@click.option("--queue", required=True)
@click.option("--from", "starts", required=True, help="Local start, YYYY-MM-DD HH:MM")
@click.option("--to", "ends", required=True, help="Local end, YYYY-MM-DD HH:MM")
@click.option("--note", default="", help="Who is on duty, phone ...")
def duty_add(queue: str, starts: str, ends: str, note: str) -> None:
    """Add a duty shift."""
    from callcenter.db import utcnow
    from callcenter.services.setup import hours
    from callcenter.timeutil import to_utc_naive

    start_local, end_local = _local_datetime(starts), _local_datetime(ends)
    with _unit_of_work() as (session, settings):
        shift, overlaps = hours.add_duty_shift(session, queue, to_utc_naive(start_local, settings.timezone),
                                               to_utc_naive(end_local, settings.timezone), note,
                                               now=utcnow())
        click.echo(f"duty shift {shift.id} on {queue}: {start_local:%Y-%m-%d %H:%M} → {end_local:%Y-%m-%d %H:%M}")
        for other in overlaps:
            click.echo(f"warning: overlaps duty shift {other.id} "
                       f"({_local(settings, other.starts_at)} → {_local(settings, other.ends_at)})", err=True)


@duty_group.command("list")
@click.option("--all", "show_all", is_flag=True, help="Include shifts that have ended.")
def duty_list(show_all: bool) -> None:
    """List current and future duty shifts."""
    from callcenter.db import utcnow
    from callcenter.services.setup import hours

    with _unit_of_work() as (session, settings):
        now = utcnow()
        shifts = hours.list_duty_shifts(session)
        rows = [[str(s.id), s.queue.name, _local(settings, s.starts_at), _local(settings, s.ends_at),
                 "now" if s.starts_at <= now < s.ends_at else ("ended" if s.ends_at <= now else ""), s.note]
                for s in shifts if show_all or s.ends_at > now]
        ended = sum(1 for s in shifts if s.ends_at <= now)
    if rows:
        _table(rows, ["ID", "QUEUE", "FROM", "TO", "", "NOTE"])
    else:
        click.echo("no current or future duty shifts" if ended and not show_all else "no duty shifts")
    if ended and not show_all:
        click.echo(f"({ended} ended shift(s) not shown; --all lists them)")


@duty_group.command("remove")
@click.argument("shift_id", type=int)
def duty_remove(shift_id: int) -> None:
    """Remove a duty shift."""
    from callcenter.services.setup import hours

    with _unit_of_work() as (session, _settings):
        hours.remove_duty_shift(session, shift_id)
    click.echo(f"duty shift {shift_id} removed")


def _local(settings: Settings, utc_naive: dt.datetime) -> str:
    from callcenter.timeutil import to_local

    return f"{to_local(utc_naive, settings.timezone):%Y-%m-%d %H:%M}"


# --- the example configuration ----------------------------------------------------------------------


@click.command("setup-defaults")
def setup_defaults() -> None:
    """Create the example queues (vip, general_q, duty), lines (VIP 4008002000,
    ordinary 4008001000 with IVR flow main) and site hours Mon–Fri 09:00–18:00 —
    matching asterisk_conf/. Existing entries are left as they are."""
    from callcenter.services.setup import defaults

    with _unit_of_work() as (session, _settings):
        done = defaults.setup_defaults(session)
    for item in done:
        click.echo(item)
    if not done:
        click.echo("nothing to do: the example configuration is already there")


COMMANDS = [queue_group, line_group, hours_group, calendar_group, duty_group, setup_defaults]
