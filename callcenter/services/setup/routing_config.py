"""The snapshot of the site's configuration that routing reads on every call.

``current_config(session)`` returns an immutable ``RoutingConfig`` (lines, queues,
hours, overrides) cached per database. Every change to those tables made through the
ORM moves the ``config_version`` token in the same transaction
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
from dataclasses import dataclass, field

from sqlalchemy import Connection, bindparam, select
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session

from callcenter.db import utcnow
from callcenter.models import (
    BusinessHours,
    CalendarOverride,
    DayKind,
    DutyShift,
    Line,
    LineKind,
    Queue,
)
from callcenter.models.lines import CONFIG_VERSION_ID, ConfigVersion

log = logging.getLogger(__name__)

# Upper bound on how long a snapshot is trusted without reloading (raw-SQL changes).
MAX_AGE_S = 60.0
DAY_SECONDS = 24 * 3600
# Duty shifts that ended this long before a snapshot was loaded are left out of it.
DUTY_LOOKBACK = dt.timedelta(days=1)


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
