"""The summed parts every KPI is a ratio of, computed from call rows — the one place that
reads calls for the KPIs. The hourly rollup stores what ``aggregate`` returns; reports
add the rollup and ``aggregate`` over the hours the rollup does not hold yet.

Definitions are in ``kpis`` (and the README, "Reports and KPIs").
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import and_, case, exists, func, or_, select
from sqlalchemy.orm import Session, aliased

from callcenter.config import Settings
from callcenter.models import Call, CallStatus, Ticket
from callcenter.timeutil import to_local

OFFERED_STATES = (CallStatus.QUEUED, CallStatus.RINGING, CallStatus.ANSWERED, CallStatus.COMPLETED,
                  CallStatus.ABANDONED)

# Dimensions the rollup keeps per hour: every call is in exactly one key of each.
#   all    one key, '' (totals, hour of day, first-contact resolution)
#   line / queue / agent / prio / type   the call's line id, queue, answering agent id,
#          routing priority (tiers are folded from it), first ticket's type
#   prev1 / prev2   offered calls by the local day of the same caller's previous (second
#          previous) offered call: repeat callers for any period starting at a local midnight
ROLLUP_DIMS = ("all", "line", "queue", "agent", "prio", "type", "prev1", "prev2")

Range = tuple[dt.datetime, dt.datetime]


@dataclasses.dataclass(frozen=True)
class KpiRules:
    short_abandon_s: int = 5
    service_level_s: int = 20
    fcr_days: int = 3
    wrapup_s: float = 15.0
    priority_vip: int = 10
    tz: str = "Asia/Shanghai"

    @classmethod
    def from_settings(cls, settings: Settings) -> KpiRules:
        return cls(short_abandon_s=settings.kpi_short_abandon_s, service_level_s=settings.kpi_service_level_s,
                   fcr_days=settings.kpi_fcr_days, wrapup_s=settings.ami_wrapup_s,
                   priority_vip=settings.priority_vip, tz=settings.timezone)

    @property
    def stored_key(self) -> str:
        """What the stored parts depend on (wrap-up and the VIP threshold are applied on reading)."""
        return f"sl={self.service_level_s};sa={self.short_abandon_s};fcr={self.fcr_days};tz={self.tz}"


@dataclasses.dataclass
class KpiRow:
    """Summed parts of one group; the ratios are properties over them."""

    key: Any
    label: str
    offered: int = 0
    answered: int = 0
    answered_in_sl: int = 0
    abandoned: int = 0
    short_abandoned: int = 0
    ended: int = 0                 # answered calls that have ended (AHT's denominator)
    wait_answered_s: int = 0
    handle_s: float = 0.0          # talk + wrap-up of ended answered calls
    longest_wait_s: int = 0

    @property
    def service_level(self) -> float | None:
        decided = self.answered + self.abandoned
        return self.answered_in_sl / decided if decided else None

    @property
    def abandon_rate(self) -> float | None:
        decided = self.answered + self.abandoned
        return self.abandoned / decided if decided else None

    @property
    def asa_s(self) -> float | None:
        return self.wait_answered_s / self.answered if self.answered else None

    @property
    def aht_s(self) -> float | None:
        return self.handle_s / self.ended if self.ended else None

    def add(self, other: KpiRow) -> None:
        for field in ("offered", "answered", "answered_in_sl", "abandoned", "short_abandoned", "ended",
                      "wait_answered_s", "handle_s"):
            setattr(self, field, getattr(self, field) + getattr(other, field))
        self.longest_wait_s = max(self.longest_wait_s, other.longest_wait_s)

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key, "label": self.label, "offered": self.offered, "answered": self.answered,
            "abandoned": self.abandoned, "short_abandoned": self.short_abandoned,
            "answered_in_sl": self.answered_in_sl, "service_level": self.service_level,
            "abandon_rate": self.abandon_rate, "asa_s": self.asa_s, "aht_s": self.aht_s,
            "longest_wait_s": self.longest_wait_s,
        }


# The stored columns of one rollup row, in this order everywhere.
PART_FIELDS = ("offered", "answered", "answered_in_sl", "abandoned", "short_abandoned", "ended",
               "wait_answered_s", "talk_s", "longest_wait_s", "fcr_answered", "fcr_resolved")


@dataclasses.dataclass
class Parts:
    """The summable parts of one key (one hour's, or a period's)."""

    offered: int = 0
    answered: int = 0
    answered_in_sl: int = 0
    abandoned: int = 0
    short_abandoned: int = 0
    ended: int = 0
    wait_answered_s: int = 0
    talk_s: int = 0
    longest_wait_s: int = 0
    fcr_answered: int = 0          # answered calls with a caller number
    fcr_resolved: int = 0          # ... whose caller did not call again within fcr_days

    @classmethod
    def of(cls, values: Iterable[Any]) -> Parts:
        return cls(*(int(v or 0) for v in values))

    def add(self, other: Parts) -> None:
        for name in PART_FIELDS:
            if name == "longest_wait_s":
                self.longest_wait_s = max(self.longest_wait_s, other.longest_wait_s)
            else:
                setattr(self, name, getattr(self, name) + getattr(other, name))

    def values(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in PART_FIELDS}

    def kpi_row(self, key: Any, label: str, rules: KpiRules) -> KpiRow:
        return KpiRow(key=key, label=label, offered=self.offered, answered=self.answered,
                      answered_in_sl=self.answered_in_sl, abandoned=self.abandoned,
                      short_abandoned=self.short_abandoned, ended=self.ended,
                      wait_answered_s=self.wait_answered_s, handle_s=self.talk_s + self.ended * rules.wrapup_s,
                      longest_wait_s=self.longest_wait_s)


def _measures(rules: KpiRules) -> list:
    """The KPI parts as aggregate FILTER clauses (PostgreSQL, SQLite >= 3.30): one pass."""
    wait = func.coalesce(Call.wait_seconds, 0)
    offered = Call.status.in_(OFFERED_STATES)
    answered = Call.answered_at.is_not(None)
    abandoned = Call.status == CallStatus.ABANDONED
    ended = and_(answered, Call.talk_seconds.is_not(None))
    return [
        func.count().filter(offered),
        func.count().filter(answered),
        func.count().filter(and_(answered, wait <= rules.service_level_s)),
        func.count().filter(and_(abandoned, wait >= rules.short_abandon_s)),
        func.count().filter(and_(abandoned, wait < rules.short_abandon_s)),
        func.count().filter(ended),
        func.coalesce(func.sum(wait).filter(answered), 0),
        func.coalesce(func.sum(Call.talk_seconds).filter(ended), 0),
        func.coalesce(func.max(wait).filter(offered), 0),
    ]


def is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def hour_bucket(session: Session, column=Call.started_at):
    """The UTC hour a moment falls in (local hours are worked out in Python, so any zone's
    offset applies the way it stood at that hour)."""
    if is_postgres(session):
        return func.date_trunc("hour", column)
    return func.strftime("%Y-%m-%d %H:00:00", column)


def _as_hour(value: Any) -> dt.datetime:
    return value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(value)


def floor_hour(moment: dt.datetime) -> dt.datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def key_text(value: Any) -> str:
    """A dimension's value as the rollup stores it ('' for none)."""
    if value is None:
        return ""
    return str(getattr(value, "value", value))


def in_ranges(ranges: Sequence[Range]):
    return or_(*[and_(Call.started_at >= a, Call.started_at < b) for a, b in ranges])


def _first_ticket_type(where):
    """One type per call: a call that led to several tickets counts under its first."""
    return (
        select(Ticket.call_linkedid.label("linkedid"), func.min(Ticket.type).label("type"))
        .where(Ticket.call_linkedid != "", Ticket.call_linkedid.in_(select(Call.linkedid).where(where)))
        .group_by(Ticket.call_linkedid).subquery()
    )


def aggregate(session: Session, ranges: Sequence[Range], rules: KpiRules,
              dims: Iterable[str] = ROLLUP_DIMS) -> dict[tuple[dt.datetime, str, str], Parts]:
    """The parts of the calls started in ``ranges``, per UTC hour, dimension and key."""
    out: dict[tuple[dt.datetime, str, str], Parts] = {}
    if not ranges:
        return out
    where = in_ranges(ranges)
    bucket = hour_bucket(session)
    measures = _measures(rules)

    def put(hour: Any, dim: str, key: Any, parts: Parts) -> None:
        out.setdefault((_as_hour(hour), dim, key_text(key)), Parts()).add(parts)

    for dim in dims:
        if dim in ("prev1", "prev2"):
            continue
        if dim == "all":
            query = select(bucket, *measures).where(where).group_by(bucket)
            for hour, *values in session.execute(query):
                put(hour, "all", None, Parts.of(values))
            for hour, answered, resolved in session.execute(_fcr_query(session, where, bucket, rules)):
                put(hour, "all", None, Parts(fcr_answered=int(answered), fcr_resolved=int(resolved or 0)))
            continue
        if dim == "type":
            first = _first_ticket_type(where)
            key = first.c.type
            query = select(bucket, key, *measures).select_from(Call).join(
                first, first.c.linkedid == Call.linkedid, isouter=True)
        else:
            key = {"line": Call.line_id, "queue": Call.queue, "agent": Call.answered_by_user_id,
                   "prio": Call.priority}[dim]
            query = select(bucket, key, *measures)
        for hour, value, *values in session.execute(query.where(where).group_by(bucket, key)):
            put(hour, dim, value, Parts.of(values))

    wanted = [d for d in ("prev1", "prev2") if d in dims]
    if wanted:
        for hour, prev1, prev2 in session.execute(_previous_calls_query(session, where, bucket)):
            for dim, prev in (("prev1", prev1), ("prev2", prev2)):
                if dim in wanted and prev is not None:
                    put(hour, dim, to_local(_as_hour(prev), rules.tz).date().isoformat(), Parts(offered=1))
    return out


def _fcr_query(session: Session, where, bucket, rules: KpiRules):
    """Answered calls with a number, and those whose caller did not call again (any call,
    answered or not) within fcr_days — one index probe per call on (caller, started_at)."""
    later = aliased(Call)
    if is_postgres(session):
        within = later.started_at <= Call.started_at + dt.timedelta(days=rules.fcr_days)
    else:
        within = func.julianday(later.started_at) - func.julianday(Call.started_at) <= rules.fcr_days
    called_again = exists().where(later.caller_e164 == Call.caller_e164, later.started_at >= Call.started_at,
                                  later.id != Call.id, within)
    return (select(bucket, func.count(), func.sum(case((called_again, 0), else_=1)))
            .where(where, Call.answered_at.is_not(None), Call.caller_e164 != "").group_by(bucket))


def _previous_calls_query(session: Session, where, bucket):
    """Each offered call with a number, with the start of its caller's previous and second
    previous offered calls."""
    before = aliased(Call)
    earlier = (select(before.started_at)
               .where(before.caller_e164 == Call.caller_e164, before.started_at < Call.started_at,
                      before.status.in_(OFFERED_STATES))
               .order_by(before.started_at.desc()))
    return (select(bucket, earlier.limit(1).scalar_subquery(), earlier.limit(1).offset(1).scalar_subquery())
            .where(where, Call.status.in_(OFFERED_STATES), Call.caller_e164 != ""))
