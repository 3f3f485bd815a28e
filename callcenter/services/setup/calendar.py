"""Business calendar: working days (China's national calendar with 调休, plus local
overrides) and opening hours per line.

All instants in and out are naive UTC; the local zone is ``settings.timezone``.

Which days are working days, strongest rule first:
  1. a CalendarOverride for the line, then a site-wide one (line NULL):
     ``holiday`` = closed, ``workday`` = open;
  2. the national calendar (package chinesecalendar): official holidays are off,
     swapped weekend working days (调休) are on;
  3. for years the national data does not cover yet: Monday–Friday, with a warning
     logged once per year (``callcenter calendar status`` shows the coverage).

Opening hours on a day: none on a holiday; on a swapped weekend working day, the hours
of ``settings.swapped_workday_hours_weekday`` (default 0 = Monday, as 调休 means
"work Monday's day"); otherwise the weekday's own BusinessHours rows — the line's
rows if it has any, else the site default (line NULL). With no hours configured at
all, a working day is open around the clock and a day off is closed.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from dataclasses import dataclass
from functools import lru_cache

import chinese_calendar
from chinese_calendar import constants as national_data
from sqlalchemy.orm import Session

from callcenter.config import Settings
from callcenter.models import DayKind
from callcenter.services.setup import routing_config
from callcenter.services.setup.routing_config import DAY_SECONDS, RoutingConfig
from callcenter.timeutil import to_local, to_utc_naive

log = logging.getLogger(__name__)

# How far the day-stepping helpers look before concluding the calendar is never open.
MAX_SCAN_DAYS = 3700

AFTER_HOURS = "after_hours"
HOLIDAY = "holiday"


class CalendarError(ValueError):
    """The configuration leaves no working day / opening in reach."""


# --- the national calendar -----------------------------------------------------------


@dataclass(frozen=True)
class NationalDay:
    working: bool
    holiday_name: str | None   # official holiday (or the holiday a 调休 day belongs to)
    covered: bool              # False: the package has no data for this year


def national_coverage() -> tuple[int, int]:
    """First and last year the installed chinesecalendar knows."""
    years = [day.year for day in national_data.holidays] + [day.year for day in national_data.workdays]
    return min(years), max(years)


_warned_years: set[int] = set()
_warn_lock = threading.Lock()


@lru_cache(maxsize=8192)
def national_day(day: dt.date) -> NationalDay:
    try:
        working = chinese_calendar.is_workday(day)
        _on_holiday, name = chinese_calendar.get_holiday_detail(day)
    except NotImplementedError:
        _warn_uncovered(day.year)
        return NationalDay(working=day.weekday() < 5, holiday_name=None, covered=False)
    return NationalDay(working=working, holiday_name=name, covered=True)


def _warn_uncovered(year: int) -> None:
    with _warn_lock:
        if year in _warned_years:
            return
        _warned_years.add(year)
    first, last = national_coverage()
    log.warning("the national holiday calendar (chinesecalendar) covers %d-%d, not %d: "
                "using Monday-Friday plus local overrides for %d; add its holidays with "
                "'callcenter calendar holiday add' or upgrade chinesecalendar",
                first, last, year, year)


# --- one day, for one line ------------------------------------------------------------------


@dataclass(frozen=True)
class DayInfo:
    day: dt.date
    working: bool
    holiday: bool       # closed because of a holiday (national or local), not a weekend
    swapped: bool       # a weekend day that is a working day (调休 or a local workday)
    name: str           # holiday name, override name, or ""
    source: str         # "line override" | "site override" | "national" | "weekdays (no national data)"


def day_info(config: RoutingConfig, day: dt.date, line_id: int | None = None) -> DayInfo:
    override = None
    if line_id is not None:
        override = config.overrides.get((day, line_id))
        source = "line override"
    if override is None:
        override = config.overrides.get((day, None))
        source = "site override"
    weekend = day.weekday() >= 5
    if override is not None:
        kind, name = override
        if kind is DayKind.HOLIDAY:
            return DayInfo(day, working=False, holiday=True, swapped=False, name=name, source=source)
        return DayInfo(day, working=True, holiday=False, swapped=weekend, name=name, source=source)
    national = national_day(day)
    source = "national" if national.covered else "weekdays (no national data)"
    name = national.holiday_name or ""
    if national.working:
        return DayInfo(day, working=True, holiday=False, swapped=weekend, name=name, source=source)
    return DayInfo(day, working=False, holiday=bool(national.holiday_name), swapped=False,
                   name=name, source=source)


def intervals_on(config: RoutingConfig, settings: Settings, day: dt.date,
                 line_id: int | None = None) -> tuple[tuple[tuple[int, int], ...], DayInfo]:
    """Opening intervals (seconds since local midnight) of a line on a local day."""
    info = day_info(config, day, line_id)
    if info.holiday:
        return (), info
    weekly = config.hours_for(line_id)
    if weekly is None:
        return (((0, DAY_SECONDS),) if info.working else ()), info
    weekday = swapped_workday_weekday(settings) if info.swapped else day.weekday()
    return weekly.get(weekday, ()), info


def swapped_workday_weekday(settings: Settings) -> int:
    return settings.swapped_workday_hours_weekday


def state_at(config: RoutingConfig, settings: Settings, when: dt.datetime,
             line_id: int | None = None) -> tuple[bool, str]:
    """(is_open, closed_reason) at naive-UTC ``when``, from a loaded configuration."""
    local = to_local(when, settings.timezone)
    intervals, info = intervals_on(config, settings, local.date(), line_id)
    seconds = local.hour * 3600 + local.minute * 60 + local.second
    if any(opens <= seconds < closes for opens, closes in intervals):
        return True, ""
    return False, HOLIDAY if info.holiday else AFTER_HOURS


# --- the contract --------------------------------------------------------------------------


def is_working_day(session: Session, settings: Settings, day: dt.date, line_id: int | None = None) -> bool:
    """National calendar (chinese-calendar: holidays off, swapped weekend workdays on),
    then local CalendarOverride rows (line-specific beat site-wide)."""
    return day_info(routing_config.current_config(session), day, line_id).working


def opening_state(session: Session, settings: Settings, when: dt.datetime,
                  line_id: int | None = None) -> tuple[bool, str]:
    """(is_open, closed_reason) at instant ``when``; closed_reason "" | "after_hours" | "holiday"."""
    return state_at(routing_config.current_config(session), settings, when, line_id)


def add_working_days(session: Session, settings: Settings, start: dt.datetime, days: int,
                     line_id: int | None = None) -> dt.datetime:
    """``start`` plus ``days`` working days (same local time of day), skipping
    holidays and weekends, counting 调休 workdays.

    Counting starts with the day after ``start``: Friday 10:00 + 1 → Monday 10:00
    (or the next working day after a holiday); Saturday 10:00 + 1 → Monday 10:00.
    """
    if days < 0:
        raise ValueError("days must not be negative")
    config = routing_config.current_config(session)
    local = to_local(start, settings.timezone).replace(tzinfo=None)
    day, counted = local.date(), 0
    for _ in range(MAX_SCAN_DAYS):
        if counted == days:
            return to_utc_naive(dt.datetime.combine(day, local.time()), settings.timezone)
        day += dt.timedelta(days=1)
        if day_info(config, day, line_id).working:
            counted += 1
    raise CalendarError(f"no {days} working days within {MAX_SCAN_DAYS} days of {start:%Y-%m-%d}")


def end_of_working_day(session: Session, settings: Settings, when: dt.datetime,
                       line_id: int | None = None) -> dt.datetime:
    """Closing time of the business day containing ``when`` (or of the next working
    day when ``when`` is after closing / on a day off)."""
    config = routing_config.current_config(session)
    local = to_local(when, settings.timezone).replace(tzinfo=None)
    seconds_now = local.hour * 3600 + local.minute * 60 + local.second
    day = local.date()
    for offset in range(MAX_SCAN_DAYS):
        intervals, _info = intervals_on(config, settings, day, line_id)
        if intervals:
            closes = max(close for _open, close in intervals)
            if offset > 0 or seconds_now < closes:
                closing = dt.datetime.combine(day, dt.time()) + dt.timedelta(seconds=closes)
                return to_utc_naive(closing, settings.timezone)
        day += dt.timedelta(days=1)
    raise CalendarError(f"no opening hours within {MAX_SCAN_DAYS} days of {when:%Y-%m-%d}")


def add_open_time(session: Session, settings: Settings, start: dt.datetime, delta: dt.timedelta,
                  line_id: int | None = None) -> dt.datetime:
    """``start`` plus ``delta`` of the line's opening time: the clock runs only while
    the line is open (business hours, holidays and 调休 as route_call sees them), so
    the result always lies inside opening hours. Friday 17:00 + 2 h with 09:00-18:00
    hours → Monday 10:00. Without any opening hours in the scan window the plain sum.
    """
    config = routing_config.current_config(session)
    local = to_local(start, settings.timezone).replace(tzinfo=None)
    remaining = max(delta.total_seconds(), 0.0)
    seconds_now = local.hour * 3600 + local.minute * 60 + local.second + local.microsecond / 1e6
    day = local.date()
    for offset in range(MAX_SCAN_DAYS):
        intervals, _info = intervals_on(config, settings, day, line_id)
        for opens, closes in intervals:
            begin = max(opens, seconds_now) if offset == 0 else opens
            if begin >= closes:
                continue
            if remaining <= closes - begin:
                instant = dt.datetime.combine(day, dt.time()) + dt.timedelta(seconds=begin + remaining)
                return to_utc_naive(instant, settings.timezone)
            remaining -= closes - begin
        day += dt.timedelta(days=1)
    return start + delta


def next_opening(session: Session, settings: Settings, when: dt.datetime,
                 line_id: int | None = None) -> dt.datetime:
    """The first instant at or after ``when`` at which the line is open."""
    return next_opening_in(routing_config.current_config(session), settings, when, line_id)


def next_opening_in(config: RoutingConfig, settings: Settings, when: dt.datetime,
                    line_id: int | None = None) -> dt.datetime:
    local = to_local(when, settings.timezone).replace(tzinfo=None)
    seconds_now = local.hour * 3600 + local.minute * 60 + local.second
    day = local.date()
    for offset in range(MAX_SCAN_DAYS):
        intervals, _info = intervals_on(config, settings, day, line_id)
        for opens, closes in intervals:
            if offset == 0 and seconds_now >= closes:
                continue
            if offset == 0 and seconds_now >= opens:
                return when  # open right now
            instant = dt.datetime.combine(day, dt.time()) + dt.timedelta(seconds=opens)
            return to_utc_naive(instant, settings.timezone)
        day += dt.timedelta(days=1)
    raise CalendarError(f"no opening hours within {MAX_SCAN_DAYS} days of {when:%Y-%m-%d}")


def coverage_report(today: dt.date) -> list[str]:
    """Warnings an admin should see about the national calendar (empty = all good)."""
    first, last = national_coverage()
    warnings = []
    for year in (today.year, today.year + 1):
        if year > last:
            warnings.append(
                f"{year}: not covered by chinesecalendar (data {first}-{last}). Monday-Friday are "
                f"working days and no national holidays apply until you add them with "
                f"'callcenter calendar holiday add' / 'calendar workday add' or upgrade chinesecalendar.")
    return warnings
