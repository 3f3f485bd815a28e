"""Hotlines, queues, opening hours, calendar overrides and duty shifts: managing them,
and the in-process snapshot the router reads on every call.

Caching. ``current_config(session)`` returns an immutable ``RoutingConfig`` (lines,
queues, hours, overrides) cached per database. Every change to those tables made
through the ORM moves the ``config_version`` token in the same transaction
(``callcenter.models.lines``), and every call reads that one row: a change committed
by the admin CLI, the web panel or another server is used from the very next call.
A change made with raw SQL is picked up at the latest after ``MAX_AGE_S``.
Duty shifts are part of the snapshot too (they move the token like the rest): those
that had not ended a day before the snapshot was loaded, so a closed line asks no
database whether its duty queue is staffed. Only an instant older than that (a replay,
a test with a clock of its own) is looked up in the table.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import re
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Connection, bindparam, func, select
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session

from callcenter.db import utcnow
from callcenter.models import (
    BusinessHours,
    CalendarOverride,
    Call,
    DayKind,
    DutyShift,
    Line,
    LineKind,
    Queue,
    QueueKind,
)
from callcenter.models.lines import CONFIG_VERSION_ID, ConfigVersion

log = logging.getLogger(__name__)

# Upper bound on how long a snapshot is trusted without reloading (raw-SQL changes).
MAX_AGE_S = 60.0
DAY_SECONDS = 24 * 3600
# Duty shifts that ended this long before a snapshot was loaded are left out of it.
DUTY_LOOKBACK = dt.timedelta(days=1)


class LineError(ValueError):
    """Invalid configuration input; the message is shown to the admin as is."""


# --- the cached snapshot -------------------------------------------------------------


@dataclass(frozen=True)
class LineInfo:
    id: int
    number: str
    name: str
    kind: str                  # "vip" | "ordinary"
    queue: str
    duty_queue: str | None
    duty_queue_id: int | None
    ivr_flow: str
    active: bool


# An opening interval in seconds since local midnight: [opens, closes), closes ≤ 86400.
Interval = tuple[int, int]


@dataclass(frozen=True)
class RoutingConfig:
    token: str
    lines_by_number: dict[str, LineInfo] = field(default_factory=dict)   # active lines only
    lines_by_id: dict[int, LineInfo] = field(default_factory=dict)
    # line_id (None = site default) → weekday → intervals. A line absent from the
    # mapping has no rows of its own and uses the site default.
    hours: dict[int | None, dict[int, tuple[Interval, ...]]] = field(default_factory=dict)
    # (day, line_id or None) → (kind, name)
    overrides: dict[tuple[dt.date, int | None], tuple[DayKind, str]] = field(default_factory=dict)
    loaded_at: float = 0.0
    # queue_id → ((starts_at, ends_at), ...) naive UTC: every shift ending after
    # duty_since (None: shifts not loaded, always ask the database).
    duty_shifts: dict[int, tuple[tuple[dt.datetime, dt.datetime], ...]] = field(default_factory=dict)
    duty_since: dt.datetime | None = None

    def line_for_number(self, dialled: str) -> LineInfo | None:
        """The line for the dialled digits; tolerates a country prefix or trunk 0."""
        digits = re.sub(r"\D", "", dialled or "")
        if not digits:
            return None
        line = self.lines_by_number.get(digits)
        if line is not None:
            return line
        for prefix in ("0086", "86", "0"):
            if digits.startswith(prefix) and len(digits) > len(prefix):
                line = self.lines_by_number.get(digits[len(prefix):])
                if line is not None:
                    return line
        return None

    def hours_for(self, line_id: int | None) -> dict[int, tuple[Interval, ...]] | None:
        """Weekly hours that apply to a line (its own rows, else the site default);
        None when no hours are configured at all."""
        if line_id is not None and line_id in self.hours:
            return self.hours[line_id]
        return self.hours.get(None)


_cache: dict[str, RoutingConfig] = {}
_cache_lock = threading.Lock()


def _cache_key(bind: Session | Connection) -> str:
    url = bind.get_bind().url if isinstance(bind, Session) else bind.engine.url
    return _url_key(url)


@functools.lru_cache(maxsize=32)
def _url_key(url: URL) -> str:
    # Rendering a URL costs more than the rest of a cache hit: once per engine URL.
    return url.render_as_string(hide_password=True)


def cached_config(database_url: str) -> RoutingConfig | None:
    """The last snapshot loaded for this database, without touching it (for the
    fallback route when the database is the thing that failed)."""
    return _cache.get(make_url(database_url).render_as_string(hide_password=True))


def config_token_query():
    table = ConfigVersion.__table__
    return select(table.c.token).where(table.c.id == CONFIG_VERSION_ID).scalar_subquery()


def current_config(session: Session | Connection, token: str | None = None) -> RoutingConfig:
    """The routing configuration, from the cache when its token is still current.

    ``token`` lets a caller that already read the token (in a combined query) skip
    the extra round trip. Takes a Session or, on the FastAGI hot path, a Connection.
    """
    if token is None:
        if isinstance(session, Session):
            session.flush()  # the session's own pending changes move the token too
        token = _connection(session).execute(select(config_token_query())).scalar()
    token = token or ""
    key = _cache_key(session)
    cached = _cache.get(key)
    if cached is not None and cached.token == token and time.monotonic() - cached.loaded_at < MAX_AGE_S:
        return cached
    with _cache_lock:
        cached = _cache.get(key)
        if cached is not None and cached.token == token and time.monotonic() - cached.loaded_at < MAX_AGE_S:
            return cached
        fresh = load_config(session, token)
        _cache[key] = fresh
        return fresh


def clear_cache() -> None:
    """Forget every snapshot (the next call reloads)."""
    with _cache_lock:
        _cache.clear()


def _connection(bind: Session | Connection) -> Connection:
    return bind.connection() if isinstance(bind, Session) else bind


def load_config(session: Session | Connection, token: str = "") -> RoutingConfig:
    conn = _connection(session)
    queue_names = dict(conn.execute(select(Queue.id, Queue.name)).all())
    by_number: dict[str, LineInfo] = {}
    by_id: dict[int, LineInfo] = {}
    for row in conn.execute(select(Line.id, Line.number, Line.name, Line.kind, Line.queue_id,
                                   Line.duty_queue_id, Line.ivr_flow, Line.active)):
        info = LineInfo(
            id=row.id, number=row.number, name=row.name, kind=LineKind(row.kind).value,
            queue=queue_names.get(row.queue_id, ""),
            duty_queue=queue_names.get(row.duty_queue_id) if row.duty_queue_id else None,
            duty_queue_id=row.duty_queue_id, ivr_flow=row.ivr_flow, active=bool(row.active),
        )
        by_id[info.id] = info
        if info.active:
            by_number[info.number] = info
    hours: dict[int | None, dict[int, list[Interval]]] = {}
    for row in conn.execute(select(BusinessHours.line_id, BusinessHours.weekday, BusinessHours.opens,
                                   BusinessHours.closes).order_by(BusinessHours.opens)):
        hours.setdefault(row.line_id, {}).setdefault(row.weekday, []).append(
            (_seconds(row.opens), _closing_seconds(row.closes)))
    overrides = {
        (row.day, row.line_id): (DayKind(row.kind), row.name)
        for row in conn.execute(select(CalendarOverride.day, CalendarOverride.line_id,
                                       CalendarOverride.kind, CalendarOverride.name))
    }
    duty_since = utcnow() - DUTY_LOOKBACK
    shifts: dict[int, list[tuple[dt.datetime, dt.datetime]]] = {}
    for row in conn.execute(select(DutyShift.queue_id, DutyShift.starts_at, DutyShift.ends_at)
                            .where(DutyShift.ends_at > duty_since).order_by(DutyShift.starts_at)):
        shifts.setdefault(row.queue_id, []).append((row.starts_at, row.ends_at))
    return RoutingConfig(
        token=token, lines_by_number=by_number, lines_by_id=by_id,
        hours={line: {wd: tuple(iv) for wd, iv in days.items()} for line, days in hours.items()},
        overrides=overrides, loaded_at=time.monotonic(),
        duty_shifts={queue: tuple(spans) for queue, spans in shifts.items()}, duty_since=duty_since,
    )


def _seconds(value: dt.time) -> int:
    return value.hour * 3600 + value.minute * 60 + value.second


def _closing_seconds(value: dt.time) -> int:
    # 00:00 as a closing time means midnight at the end of the day.
    seconds = _seconds(value)
    return DAY_SECONDS if seconds == 0 else seconds


def duty_staffed(session: Session | Connection, queue_id: int, now: dt.datetime,
                 config: RoutingConfig | None = None) -> bool:
    """Is someone on duty for this queue at ``now`` (naive UTC)? Answered from the
    snapshot ``config`` when it holds the shifts around ``now``, else by the table."""
    if config is not None and config.duty_since is not None and now >= config.duty_since:
        return any(starts <= now < ends for starts, ends in config.duty_shifts.get(queue_id, ()))
    found = _connection(session).execute(_duty_statement(), {"queue_id": queue_id, "now": now}).first()
    return found is not None


@functools.cache
def _duty_statement():
    return select(DutyShift.id).where(DutyShift.queue_id == bindparam("queue_id"),
                                      DutyShift.starts_at <= bindparam("now"),
                                      DutyShift.ends_at > bindparam("now")).limit(1)


# --- queues ----------------------------------------------------------------------------

QUEUE_NAME = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")


def add_queue(session: Session, name: str, kind: str, description: str = "") -> Queue:
    name = name.strip()
    if not QUEUE_NAME.match(name):
        raise LineError(f"queue name {name!r}: use letters, digits, _ or - (as in queues.conf)")
    if name == "general":
        raise LineError("'general' is reserved in queues.conf; call the queue e.g. general_q")
    kind = _choice(QueueKind, kind, "queue kind")
    if _queue(session, name, required=False) is not None:
        raise LineError(f"queue {name!r} already exists")
    queue = Queue(name=name, kind=kind, description=description)
    session.add(queue)
    session.flush()
    return queue


def list_queues(session: Session) -> list[Queue]:
    return list(session.scalars(select(Queue).order_by(Queue.name)))


def remove_queue(session: Session, name: str) -> None:
    queue = _queue(session, name)
    users = session.scalars(select(Line.number).where(
        (Line.queue_id == queue.id) | (Line.duty_queue_id == queue.id))).all()
    if users:
        raise LineError(f"queue {name!r} is used by line(s) {', '.join(users)}; change them first")
    shifts = session.scalar(select(func.count()).select_from(DutyShift).where(DutyShift.queue_id == queue.id))
    if shifts:
        raise LineError(f"queue {name!r} has {shifts} duty shift(s); remove them first")
    session.delete(queue)
    session.flush()


def _queue(session: Session, name: str, *, required: bool = True) -> Queue | None:
    queue = session.scalar(select(Queue).where(Queue.name == name.strip()))
    if queue is None and required:
        known = ", ".join(session.scalars(select(Queue.name).order_by(Queue.name))) or "none yet"
        raise LineError(f"unknown queue {name!r} (known: {known}); add it with 'callcenter queue add'")
    return queue


# --- lines ------------------------------------------------------------------------------

LINE_NUMBER = re.compile(r"^[0-9]{2,32}$")
FLOW_NAME = re.compile(r"^[A-Za-z0-9_\-]{0,64}$")


def add_line(session: Session, number: str, *, kind: str, queue: str, name: str = "",
             duty_queue: str | None = None, ivr_flow: str = "") -> Line:
    number = _line_number(number)
    if session.scalar(select(Line.id).where(Line.number == number)) is not None:
        raise LineError(f"line {number} already exists; change it with 'callcenter line set'")
    line = Line(number=number, name=name, kind=_choice(LineKind, kind, "line kind"),
                queue=_queue(session, queue), ivr_flow=_flow_name(ivr_flow),
                duty_queue=_queue(session, duty_queue) if duty_queue else None)
    session.add(line)
    session.flush()
    return line


def update_line(session: Session, number: str, *, name: str | None = None, kind: str | None = None,
                queue: str | None = None, duty_queue: str | None = None, clear_duty_queue: bool = False,
                ivr_flow: str | None = None, active: bool | None = None) -> Line:
    line = get_line(session, number)
    if name is not None:
        line.name = name
    if kind is not None:
        line.kind = _choice(LineKind, kind, "line kind")
    if queue is not None:
        line.queue = _queue(session, queue)
    if clear_duty_queue:
        line.duty_queue = None
    elif duty_queue is not None:
        line.duty_queue = _queue(session, duty_queue)
    if ivr_flow is not None:
        line.ivr_flow = _flow_name(ivr_flow)
    if active is not None:
        line.active = active
    session.flush()
    return line


def remove_line(session: Session, number: str) -> str:
    """Delete a line; one that calls refer to is deactivated instead (history stays).
    Returns "deleted" or "deactivated"."""
    line = get_line(session, number)
    if session.scalar(select(Call.id).where(Call.line_id == line.id).limit(1)) is not None:
        line.active = False
        session.flush()
        return "deactivated"
    session.delete(line)
    session.flush()
    return "deleted"


def get_line(session: Session, number: str) -> Line:
    number = _line_number(number)
    line = session.scalar(select(Line).where(Line.number == number))
    if line is None:
        raise LineError(f"unknown line {number}")
    return line


def list_lines(session: Session) -> list[Line]:
    return list(session.scalars(select(Line).order_by(Line.number)))


def missing_flow_file(settings, flow: str) -> Path | None:
    """The flow file a line names, when it does not exist (a warning, not an error:
    flows may be deployed after the line is configured)."""
    if not flow:
        return None
    directory = Path(settings.ivr_flows_dir)
    for suffix in (".yaml", ".yml"):
        if (directory / f"{flow}{suffix}").is_file():
            return None
    return directory / f"{flow}.yaml"


def _line_number(number: str) -> str:
    number = (number or "").strip()
    if not LINE_NUMBER.match(number):
        raise LineError(f"line number {number!r}: digits only, as Asterisk presents the dialled number")
    return number


def _flow_name(flow: str) -> str:
    flow = (flow or "").strip()
    if not FLOW_NAME.match(flow):
        raise LineError(f"IVR flow {flow!r}: the file name in ivr_flows/ without .yaml")
    return flow


def _choice(enum_cls, value: str, what: str):
    try:
        return enum_cls((value or "").strip().lower())
    except ValueError:
        raise LineError(f"unknown {what} {value!r}; choose one of {[m.value for m in enum_cls]}") from None


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
    kind = _choice(DayKind, kind, "day kind")
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
                   note: str = "") -> tuple[DutyShift, list[DutyShift]]:
    """Add a shift (naive UTC instants). Returns the shift and the shifts of the same
    queue it overlaps (allowed: two people on duty; the caller may warn)."""
    if ends_at <= starts_at:
        raise LineError("a duty shift must end after it starts")
    queue_row = _queue(session, queue)
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


# --- the example configuration (matches asterisk_conf/) ------------------------------------

DEFAULT_QUEUES = (
    ("vip", QueueKind.VIP, "VIP客户专线 — VIP and member customers"),
    ("general_q", QueueKind.GENERAL, "普通客户专线 — everyone else"),
    ("duty", QueueKind.DUTY, "节假日值班 — holiday and after-hours duty"),
)
DEFAULT_LINES = (
    # number, name, kind, queue, duty queue, IVR flow
    ("4008002000", "VIP客户专线", LineKind.VIP, "vip", "duty", ""),
    ("4008001000", "普通客户专线", LineKind.ORDINARY, "general_q", "duty", "main"),
)
DEFAULT_HOURS = ((0, 1, 2, 3, 4), dt.time(9, 0), dt.time(18, 0))


def setup_defaults(session: Session) -> list[str]:
    """Create the example queues, lines and site hours (Mon–Fri 09:00–18:00) where
    missing. Never changes what exists. Returns what was done, one line each."""
    done: list[str] = []
    for name, kind, description in DEFAULT_QUEUES:
        if _queue(session, name, required=False) is None:
            add_queue(session, name, kind.value, description)
            done.append(f"queue {name} ({kind.value}) created")
    for number, name, kind, queue, duty, flow in DEFAULT_LINES:
        if session.scalar(select(Line.id).where(Line.number == number)) is None:
            add_line(session, number, kind=kind.value, queue=queue, name=name, duty_queue=duty, ivr_flow=flow)
            done.append(f"line {number} {name} → {queue} created")
    has_default_hours = session.scalar(
        select(BusinessHours.id).where(BusinessHours.line_id.is_(None)).limit(1)) is not None
    if not has_default_hours:
        weekdays, opens, closes = DEFAULT_HOURS
        set_hours(session, None, weekdays, [(opens, closes)])
        done.append(f"site hours Mon–Fri {format_interval(opens, closes)} set")
    return done
