"""Opening hours per line, calendar overrides (local holidays and 调休 working days) and
duty shifts: parsing what the admin types, and storing it.

Whether a line is open at a given instant is decided by ``services.setup.calendar``
from the routing configuration snapshot; this module only manages the rows.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from callcenter.models import (
    BusinessHours,
    CalendarOverride,
    DayKind,
    DutyShift,
)
from callcenter.services.setup.lines import LineError, choice, find_queue, get_line

# --- business hours -------------------------------------------------------------------

WEEKDAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_WEEKDAY_ALIASES = {name: i for i, name in enumerate(WEEKDAY_NAMES)}
_WEEKDAY_ALIASES.update({full: i for i, full in enumerate(
    ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"))})
_WEEKDAY_ALIASES.update({c: i for i, c in enumerate("一二三四五六日")})
_WEEKDAY_ALIASES.update({f"周{c}": i for i, c in enumerate("一二三四五六日")})
_WEEKDAY_ALIASES["周天"] = 6
_WEEKDAY_ALIASES["天"] = 6


def parse_weekdays(text: str) -> list[int]:
    """"mon-fri", "sat,sun", "1-5" (1 = Monday), "all", "周一-周五" → sorted weekday numbers."""
    text = (text or "").strip().lower().replace("，", ",").replace("~", "-").replace("至", "-")
    if text in ("all", "daily", "every", "*"):
        return list(range(7))
    if text in ("weekdays", "workdays"):
        return list(range(5))
    if text == "weekend":
        return [5, 6]
    days: set[int] = set()
    for part in filter(None, (p.strip() for p in text.split(","))):
        bounds = [b.strip() for b in part.split("-")]
        if len(bounds) > 2:
            raise LineError(f"bad weekday range {part!r}")
        numbers = [_weekday(b) for b in bounds]
        if len(numbers) == 1:
            days.add(numbers[0])
        else:
            first, last = numbers
            span = range(first, last + 1) if first <= last else [*range(first, 7), *range(0, last + 1)]
            days.update(span)
    if not days:
        raise LineError("no weekdays given (e.g. mon-fri, sat, 1-5, all)")
    return sorted(days)


def _weekday(word: str) -> int:
    if word.isdigit() and 1 <= int(word) <= 7:
        return int(word) - 1
    if word in _WEEKDAY_ALIASES:
        return _WEEKDAY_ALIASES[word]
    if word[:3] in _WEEKDAY_ALIASES and word[:3] in WEEKDAY_NAMES:
        return _WEEKDAY_ALIASES[word[:3]]
    raise LineError(f"unknown weekday {word!r} (mon..sun, 1..7 with 1 = Monday, 周一..周日)")


def parse_intervals(text: str) -> list[tuple[dt.time, dt.time]]:
    """"09:00-18:00" or "09:00-12:00,13:30-18:00"; "24:00" closes at midnight."""
    intervals: list[tuple[dt.time, dt.time]] = []
    for part in filter(None, (p.strip() for p in (text or "").replace("，", ",").split(","))):
        match = re.fullmatch(r"(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})", part)
        if not match:
            raise LineError(f"bad time range {part!r}; write HH:MM-HH:MM, e.g. 09:00-18:00")
        oh, om, ch, cm = (int(g) for g in match.groups())
        if oh > 23 or om > 59 or cm > 59 or ch > 24 or (ch == 24 and cm):
            raise LineError(f"bad time in {part!r}")
        opens = dt.time(oh, om)
        closes = dt.time(0, 0) if ch == 24 else dt.time(ch, cm)
        if ch != 24 and (ch, cm) <= (oh, om):
            raise LineError(f"{part!r} closes before it opens; split a night shift at midnight "
                            "(22:00-24:00 on one day, 00:00-06:00 on the next)")
        intervals.append((opens, closes))
    if not intervals:
        raise LineError("no time range given (e.g. 09:00-18:00)")
    ordered = sorted(intervals, key=lambda iv: iv[0])
    for (_, prev_close), (next_open, _) in zip(ordered, ordered[1:]):
        if prev_close == dt.time(0, 0) or prev_close > next_open:
            raise LineError(f"time ranges overlap in {text!r}")
    return ordered


def set_hours(session: Session, line_number: str | None, weekdays: Iterable[int],
              intervals: list[tuple[dt.time, dt.time]]) -> list[BusinessHours]:
    """Replace the hours of ``line_number`` (None = site default) on these weekdays."""
    line_id = get_line(session, line_number).id if line_number else None
    weekdays = sorted(set(weekdays))
    clear_hours(session, line_number, weekdays)
    rows = [BusinessHours(line_id=line_id, weekday=wd, opens=o, closes=c)
            for wd in weekdays for o, c in intervals]
    session.add_all(rows)
    session.flush()
    return rows


def clear_hours(session: Session, line_number: str | None, weekdays: Iterable[int] | None = None) -> int:
    """Remove hours (all weekdays when None). A line without rows uses the site default."""
    line_id = get_line(session, line_number).id if line_number else None
    query = select(BusinessHours).where(BusinessHours.line_id.is_(None) if line_id is None
                                        else BusinessHours.line_id == line_id)
    if weekdays is not None:
        query = query.where(BusinessHours.weekday.in_(list(weekdays)))
    rows = list(session.scalars(query))
    for row in rows:
        session.delete(row)
    session.flush()
    return len(rows)


def list_hours(session: Session) -> list[BusinessHours]:
    return list(session.scalars(select(BusinessHours).order_by(
        BusinessHours.line_id.is_not(None), BusinessHours.line_id, BusinessHours.weekday, BusinessHours.opens)))


def format_interval(opens: dt.time, closes: dt.time) -> str:
    end = "24:00" if closes == dt.time(0, 0) else closes.strftime("%H:%M")
    return f"{opens.strftime('%H:%M')}-{end}"


# --- calendar overrides -------------------------------------------------------------------


def add_override(session: Session, day: dt.date, kind: str, *, line_number: str | None = None,
                 name: str = "") -> CalendarOverride:
    """A local holiday or working day; replaces an existing override of the same day and scope."""
    kind = choice(DayKind, kind, "day kind")
    line_id = get_line(session, line_number).id if line_number else None
    existing = _override(session, day, line_id)
    if existing is not None:
        existing.kind, existing.name = kind, name or existing.name
        session.flush()
        return existing
    override = CalendarOverride(day=day, kind=kind, name=name, line_id=line_id)
    session.add(override)
    session.flush()
    return override


def remove_override(session: Session, day: dt.date, *, line_number: str | None = None) -> None:
    existing = _override(session, day, get_line(session, line_number).id if line_number else None)
    if existing is None:
        scope = f"line {line_number}" if line_number else "the whole site"
        raise LineError(f"no calendar override on {day.isoformat()} for {scope}")
    session.delete(existing)
    session.flush()


def _override(session: Session, day: dt.date, line_id: int | None) -> CalendarOverride | None:
    return session.scalar(select(CalendarOverride).where(
        CalendarOverride.day == day,
        CalendarOverride.line_id.is_(None) if line_id is None else CalendarOverride.line_id == line_id))


def list_overrides(session: Session, *, year: int | None = None) -> list[CalendarOverride]:
    query = select(CalendarOverride).order_by(CalendarOverride.day, CalendarOverride.line_id)
    if year is not None:
        query = query.where(CalendarOverride.day >= dt.date(year, 1, 1),
                            CalendarOverride.day <= dt.date(year, 12, 31))
    return list(session.scalars(query))


# --- duty shifts ----------------------------------------------------------------------------


def add_duty_shift(session: Session, queue: str, starts_at: dt.datetime, ends_at: dt.datetime,
                   note: str = "", *, now: dt.datetime | None = None) -> tuple[DutyShift, list[DutyShift]]:
    """Add a shift (naive UTC instants). Returns the shift and the shifts of the same
    queue it overlaps (allowed: two people on duty; the caller may warn). With ``now``
    a shift that is already over is refused: it would route no call, and was surely
    typed with the wrong date."""
    if ends_at <= starts_at:
        raise LineError("a duty shift must end after it starts")
    if now is not None and ends_at <= now:
        raise LineError("this duty shift is already over (check the date): nothing was added")
    queue_row = find_queue(session, queue)
    overlaps = list(session.scalars(select(DutyShift).where(
        DutyShift.queue_id == queue_row.id, DutyShift.starts_at < ends_at, DutyShift.ends_at > starts_at)))
    shift = DutyShift(queue=queue_row, starts_at=starts_at, ends_at=ends_at, note=note)
    session.add(shift)
    session.flush()
    return shift, overlaps


def list_duty_shifts(session: Session, *, ending_after: dt.datetime | None = None) -> list[DutyShift]:
    query = select(DutyShift).order_by(DutyShift.starts_at, DutyShift.id)
    if ending_after is not None:
        query = query.where(DutyShift.ends_at > ending_after)
    return list(session.scalars(query))


def remove_duty_shift(session: Session, shift_id: int) -> None:
    shift = session.get(DutyShift, shift_id)
    if shift is None:
        raise LineError(f"no duty shift with id {shift_id}")
    session.delete(shift)
    session.flush()
