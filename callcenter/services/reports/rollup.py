"""The hourly rollup: a month report reads a few thousand summed rows, not a million calls.

``call_stats_hourly`` holds, per UTC hour, the parts of ``measures.aggregate`` for every
key of every dimension. Database triggers (migration 0011) write the hour of each change
to calls and tickets into ``call_stats_stale_hours`` inside the changing transaction;
``refresh`` (the scheduler's ``call_stats_refresh`` job, and ``callcenter reports
rollup``) recomputes those hours from the calls and deletes exactly the marks it saw.

A report (``collect``) adds the rollup of the whole hours of its period that are not
marked stale to ``aggregate`` over the rest — the stale hours (the current one is always
among them) and partial hours at the edges. The stale hours are read first and excluded
from the rollup by that same list, so a refresh that commits in between can neither drop
nor double an hour. The rollup is used only while it was computed with the site's rules
(service level, short abandon, FCR days, time zone); after a change ``refresh`` rebuilds
it and reports read the calls meanwhile.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, func, insert, select, text
from sqlalchemy.orm import Session

from callcenter.db import utcnow
from callcenter.models import CallStatsHourly, CallStatsStaleHour, CallStatsState
from callcenter.services.reports.measures import (
    PART_FIELDS,
    ROLLUP_DIMS,
    KpiRules,
    Parts,
    Range,
    aggregate,
    floor_hour,
    is_postgres,
)

HOUR = dt.timedelta(hours=1)
# The triggers mark the same caller's calls within 32 days: FCR windows up to 31 days.
MAX_FCR_DAYS = 31
# With more stale hours than this in a period, reading the calls is simpler and as fast.
MAX_STALE_HOURS_READ = 500
# A fixed key for pg_advisory_xact_lock: one refresh at a time ("callstat").
_PG_LOCK_KEY = 0x63_61_6C_6C_73_74_61_74


def usable(session: Session, rules: KpiRules) -> bool:
    if rules.fcr_days > MAX_FCR_DAYS:
        return False
    stored = session.execute(select(CallStatsState.rules).where(CallStatsState.id == 1)).scalar_one_or_none()
    return stored == rules.stored_key


def _merge(ranges: list[Range]) -> list[Range]:
    merged: list[Range] = []
    for a, b in sorted(r for r in ranges if r[0] < r[1]):
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(b, merged[-1][1]))
        else:
            merged.append((a, b))
    return merged


@dataclasses.dataclass(frozen=True)
class _Plan:
    first_hour: dt.datetime | None        # the whole hours read from the rollup: [first_hour, last_hour)
    last_hour: dt.datetime | None
    stale: tuple[dt.datetime, ...]        # ... except these, read from the calls
    live: tuple[Range, ...]               # everything read from the calls


def _plan(session: Session, start: dt.datetime, end: dt.datetime, rules: KpiRules) -> _Plan:
    """Which part of [start, end) comes from the rollup and which from the calls. Worked
    out once per transaction and period: a report's figures all agree on it."""
    session.connection()                  # a transaction is open: the memo belongs to it
    transaction = session.get_transaction()
    slot = (start, end, rules.stored_key)
    memo = session.info.get("call_stats_plan")
    if memo is not None and memo[0] is transaction and memo[1] == slot:
        return memo[2]
    plan = _Plan(None, None, (), ((start, end),))
    first_hour = floor_hour(start) + (HOUR if floor_hour(start) < start else dt.timedelta(0))
    last_hour = floor_hour(end)
    if first_hour < last_hour and usable(session, rules):
        stale = tuple(sorted(session.execute(
            select(CallStatsStaleHour.hour).distinct()
            .where(CallStatsStaleHour.hour >= first_hour, CallStatsStaleHour.hour < last_hour)).scalars()))
        if len(stale) <= MAX_STALE_HOURS_READ:
            live = _merge([(start, first_hour), (last_hour, end), *[(h, h + HOUR) for h in stale]])
            plan = _Plan(first_hour, last_hour, stale, tuple(live))
    session.info["call_stats_plan"] = (transaction, slot, plan)
    return plan


def collect_many(session: Session, start: dt.datetime, end: dt.datetime, rules: KpiRules, dims: Sequence[str],
                 per_hour: bool = False) -> dict[str, dict[Any, Parts]]:
    """The parts of the calls started in [start, end) per dimension and key (per (hour,
    key) with ``per_hour``): the rollup where it is current, the calls elsewhere."""
    out: dict[str, dict[Any, Parts]] = {dim: {} for dim in dims}

    def put(dim: str, slot: Any, parts: Parts) -> None:
        out[dim].setdefault(slot, Parts()).add(parts)

    plan = _plan(session, start, end, rules)
    if plan.first_hour is not None:
        hourly = CallStatsHourly
        sums = [func.max(hourly.longest_wait_s) if name == "longest_wait_s" else func.sum(getattr(hourly, name))
                for name in PART_FIELDS]
        group = [hourly.dim, hourly.hour, hourly.key] if per_hour else [hourly.dim, hourly.key]
        query = (select(*group, *sums)
                 .where(hourly.dim.in_(dims), hourly.hour >= plan.first_hour, hourly.hour < plan.last_hour)
                 .group_by(*group))
        if plan.stale:
            query = query.where(hourly.hour.not_in(plan.stale))
        for row in session.execute(query):
            if per_hour:
                dim, hour, key, *values = row
                put(dim, (hour, key), Parts.of(values))
            else:
                dim, key, *values = row
                put(dim, key, Parts.of(values))
    for (hour, dim, key), parts in aggregate(session, plan.live, rules, dims).items():
        put(dim, (hour, key) if per_hour else key, parts)
    return out


def collect(session: Session, start: dt.datetime, end: dt.datetime, rules: KpiRules, dim: str,
            per_hour: bool = False) -> dict[Any, Parts]:
    return collect_many(session, start, end, rules, (dim,), per_hour)[dim]


def rebuild(session: Session, rules: KpiRules) -> int:
    """Forget the rollup and mark every hour that has calls; the next refreshes compute them.
    Returns the number of hours marked."""
    session.execute(delete(CallStatsHourly))
    session.execute(delete(CallStatsStaleHour))
    if is_postgres(session):
        hour = "date_trunc('hour', started_at)"
    else:
        hour = "strftime('%Y-%m-%d %H:00:00.000000', started_at)"
    marked = session.execute(text(f"INSERT INTO call_stats_stale_hours(hour) SELECT DISTINCT {hour} FROM calls"))
    state = session.get(CallStatsState, 1)
    if state is None:
        session.add(CallStatsState(id=1, rules=rules.stored_key, rebuilt_at=utcnow()))
    else:
        state.rules, state.rebuilt_at = rules.stored_key, utcnow()
    session.flush()
    return marked.rowcount or 0


def refresh(session: Session, rules: KpiRules, *, max_marks: int = 50_000, max_hours: int = 24 * 7) -> int:
    """Recompute up to ``max_hours`` stale hours (oldest marks first) and delete the marks
    that were read; the caller commits. Returns the hours recomputed."""
    if is_postgres(session):
        session.execute(select(func.pg_advisory_xact_lock(_PG_LOCK_KEY)))
    if rules.fcr_days > MAX_FCR_DAYS:
        return 0
    if not usable(session, rules):
        rebuild(session, rules)
    marks = session.execute(select(CallStatsStaleHour.id, CallStatsStaleHour.hour)
                            .order_by(CallStatsStaleHour.id).limit(max_marks)).all()
    hours = sorted({hour for _, hour in marks})[:max_hours]
    if not hours:
        return 0
    chosen = set(hours)
    ids = [mark_id for mark_id, hour in marks if hour in chosen]
    parts = aggregate(session, _merge([(h, h + HOUR) for h in hours]), rules, ROLLUP_DIMS)
    for chunk in _chunks(hours, 500):
        session.execute(delete(CallStatsHourly).where(CallStatsHourly.hour.in_(chunk)))
    rows = [{"hour": hour, "dim": dim, "key": key, **p.values()} for (hour, dim, key), p in parts.items()]
    for chunk in _chunks(rows, 5000):
        session.execute(insert(CallStatsHourly), chunk)
    for chunk in _chunks(ids, 5000):
        session.execute(delete(CallStatsStaleHour).where(CallStatsStaleHour.id.in_(chunk)))
    session.flush()
    return len(hours)


def stale_hours(session: Session) -> int:
    return session.execute(select(func.count(CallStatsStaleHour.hour.distinct()))).scalar_one()


def _chunks(items: Sequence, size: int):
    for i in range(0, len(items), size):
        yield items[i:i + size]

