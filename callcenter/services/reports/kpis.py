"""The KPIs, defined once. Every report, the wallboard and the exports read them here.

Definitions (published in the README, "Reports and KPIs"):

- **offered**: calls that reached a queue (status queued, ringing, answered, completed
  or abandoned), counted in the period their call *started* in (a call that spans
  midnight belongs to the day it rang in).
- **answered**: offered calls an agent picked up (AgentConnect: ``answered_at`` is set); a
  transferred call is one answered call.
- **abandoned**: offered calls that left the queue unanswered after waiting at least
  ``short_abandon_s`` seconds. A queue timeout is an abandon. Shorter ones are
  **short abandons**: counted on their own and left out of abandoned and service level.
- **service level**: answered within ``service_level_s`` seconds of joining the queue
  ÷ (answered + abandoned). Calls still waiting are in neither.
- **ASA**: mean queue wait of answered calls.
- **AHT**: mean (talk + wrap-up) of answered calls that have ended; wrap-up is the
  queue's wrap-up time (``ami_wrapup_s``; Asterisk does not report it per call).
- **longest wait**: the longest queue wait among offered calls.
- **first-contact resolution**: answered calls whose caller did not call again within
  ``fcr_days`` days ÷ answered calls (calls after the period end count: a Monday
  report is final once ``fcr_days`` have passed).
- **repeat callers**: numbers with two or more offered calls in the period.

Every figure is a SQL aggregate over the calls of the period in one pass, grouped by
the dimension asked for; ratios are computed from the summed parts, so rows add up to
the total exactly.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable
from typing import Any

from sqlalchemy import and_, case, func, literal, or_, select
from sqlalchemy.orm import Session, aliased

from callcenter.config import Settings
from callcenter.labels import LINE_KINDS, TICKET_TYPES, label
from callcenter.models import Call, CallStatus, Line, Role, Ticket, User
from callcenter.timeutil import to_local

OFFERED_STATES = (CallStatus.QUEUED, CallStatus.RINGING, CallStatus.ANSWERED, CallStatus.COMPLETED,
                  CallStatus.ABANDONED)

# What a report may be grouped by, with the Chinese column heading.
DIMENSIONS = {
    "line": "线路",
    "queue": "队列",
    "agent": "坐席",
    "hour": "时段",
    "type": "工单类型",
    "tier": "客户级别",
}


@dataclasses.dataclass(frozen=True)
class KpiRules:
    short_abandon_s: int = 5
    service_level_s: int = 20
    fcr_days: int = 3
    wrapup_s: float = 15.0
    priority_vip: int = 10

    @classmethod
    def from_settings(cls, settings: Settings) -> KpiRules:
        return cls(short_abandon_s=settings.kpi_short_abandon_s, service_level_s=settings.kpi_service_level_s,
                   fcr_days=settings.kpi_fcr_days, wrapup_s=settings.ami_wrapup_s,
                   priority_vip=settings.priority_vip)


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


def _measures(rules: KpiRules) -> list:
    """The summed parts, as aggregate FILTER clauses (PostgreSQL, SQLite >= 3.30): one pass,
    no per-row CASE for the counts."""
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


def _row(key: Any, label: str, values: Iterable[Any], rules: KpiRules) -> KpiRow:
    offered, answered, in_sl, abandoned, short, ended, wait, talk, longest = values
    return KpiRow(key=key, label=label, offered=int(offered), answered=int(answered), answered_in_sl=int(in_sl),
                  abandoned=int(abandoned), short_abandoned=int(short), ended=int(ended),
                  wait_answered_s=int(wait), handle_s=float(talk) + ended * rules.wrapup_s,
                  longest_wait_s=int(longest or 0))


def _in_period(start: dt.datetime, end: dt.datetime):
    return and_(Call.started_at >= start, Call.started_at < end)


def totals(session: Session, start: dt.datetime, end: dt.datetime, rules: KpiRules) -> KpiRow:
    values = session.execute(select(*_measures(rules)).where(_in_period(start, end))).one()
    return _row(None, "合计", values, rules)


def _hour_bucket(session: Session):
    """The call's UTC hour as a sortable key (local hours are worked out in Python, so
    any zone's offset applies the way it stood at that hour)."""
    if session.get_bind().dialect.name == "postgresql":
        return func.date_trunc("hour", Call.started_at)
    return func.strftime("%Y-%m-%d %H:00:00", Call.started_at)


def breakdown(session: Session, start: dt.datetime, end: dt.datetime, rules: KpiRules, by: str,
              tz: str) -> list[KpiRow]:
    """KPI rows per line, queue, agent, local hour of day, ticket type or customer tier."""
    if by not in DIMENSIONS:
        raise ValueError(f"unknown report dimension {by!r}: one of {', '.join(DIMENSIONS)}")
    return _BREAKDOWNS[by](session, _measures(rules), _in_period(start, end), rules, tz)


def _by_line(session, measures, where, rules, tz) -> list[KpiRow]:
    rows = session.execute(
        select(Line.id, Line.number, Line.name, Line.kind, *measures)
        .select_from(Call).join(Line, Line.id == Call.line_id, isouter=True).where(where)
        .group_by(Line.id, Line.number, Line.name, Line.kind).order_by(Line.number)
    ).all()
    return [_row(line_id, _line_label(number, name, kind), values, rules)
            for line_id, number, name, kind, *values in rows]


def _by_queue(session, measures, where, rules, tz) -> list[KpiRow]:
    rows = session.execute(select(Call.queue, *measures).where(where).group_by(Call.queue).order_by(Call.queue))
    return [_row(queue, queue or "（未进队列）", values, rules) for queue, *values in rows]


def _by_agent(session, measures, where, rules, tz) -> list[KpiRow]:
    agent = aliased(User)
    rows = session.execute(
        select(Call.answered_by_user_id, agent.username, agent.display_name, *measures)
        .select_from(Call).join(agent, agent.id == Call.answered_by_user_id, isouter=True).where(where)
        .group_by(Call.answered_by_user_id, agent.username, agent.display_name)
    ).all()
    found = [_row(user_id, (f"{display or username}（{username}）" if user_id else "（未接通）"), values, rules)
             for user_id, username, display, *values in rows]
    # An agent without a call in the period is a row of zeros, not a missing row.
    seen = {row.key for row in found}
    idle = session.execute(select(User.id, User.username, User.display_name)
                           .where(User.active.is_(True), User.role == Role.AGENT)).all()
    found += [KpiRow(key=uid, label=f"{display or username}（{username}）")
              for uid, username, display in idle if uid not in seen]
    return sorted(found, key=lambda r: (r.key is None, r.label))


def _by_tier(session, measures, where, rules, tz) -> list[KpiRow]:
    tier = case((Call.priority >= rules.priority_vip, literal("vip")), else_=literal("ordinary"))
    rows = session.execute(select(tier, *measures).where(where).group_by(tier)).all()
    names = {"vip": "VIP 客户", "ordinary": "普通客户"}
    return sorted((_row(t, names[t], values, rules) for t, *values in rows), key=lambda r: r.key != "vip")


def _by_type(session, measures, where, rules, tz) -> list[KpiRow]:
    # One type per call: a call that led to several tickets counts under its first.
    first_ticket = (
        select(Ticket.call_linkedid.label("linkedid"), func.min(Ticket.type).label("type"))
        .where(Ticket.call_linkedid != "").group_by(Ticket.call_linkedid).subquery()
    )
    rows = session.execute(
        select(first_ticket.c.type, *measures).select_from(Call)
        .join(first_ticket, first_ticket.c.linkedid == Call.linkedid, isouter=True).where(where)
        .group_by(first_ticket.c.type)
    ).all()
    return sorted((_row(t, label(TICKET_TYPES, t) if t else "（无工单）", values, rules) for t, *values in rows),
                  key=lambda r: (r.key is None, str(r.key)))


def _by_hour(session, measures, where, rules, tz) -> list[KpiRow]:
    """Per UTC hour in SQL, folded here into the local hour of day."""
    bucket = _hour_bucket(session)
    hours: dict[int, KpiRow] = {}
    for hour_key, *values in session.execute(select(bucket, *measures).where(where).group_by(bucket)):
        utc_hour = hour_key if isinstance(hour_key, dt.datetime) else dt.datetime.fromisoformat(hour_key)
        local_hour = to_local(utc_hour.replace(tzinfo=None), tz).hour
        row = _row(local_hour, f"{local_hour:02d}:00–{local_hour:02d}:59", values, rules)
        if local_hour in hours:
            hours[local_hour].add(row)
        else:
            hours[local_hour] = row
    return [hours[h] for h in sorted(hours)]


_BREAKDOWNS = {"line": _by_line, "queue": _by_queue, "agent": _by_agent, "hour": _by_hour, "type": _by_type,
               "tier": _by_tier}


def _line_label(number: str | None, name: str | None, kind: object) -> str:
    if number is None:
        return "（未识别线路）"
    kind_text = label(LINE_KINDS, kind) if kind else ""
    return " ".join(part for part in (name or "", kind_text, number) if part)


@dataclasses.dataclass(frozen=True)
class Resolution:
    answered: int
    resolved: int

    @property
    def rate(self) -> float | None:
        return self.resolved / self.answered if self.answered else None


def first_contact_resolution(session: Session, start: dt.datetime, end: dt.datetime,
                             rules: KpiRules) -> Resolution:
    """Answered calls of the period whose caller did not call again within fcr_days.

    One ordered pass (a window over each caller's calls, up to fcr_days past the period)
    instead of a look-ahead query per call."""
    window = dt.timedelta(days=rules.fcr_days)
    calls = (
        select(Call.started_at.label("started_at"), Call.answered_at.label("answered_at"),
               func.lead(Call.started_at).over(partition_by=Call.caller_e164, order_by=Call.started_at)
               .label("next_start"))
        .where(Call.caller_e164 != "", Call.started_at >= start, Call.started_at < end + window)
        .subquery()
    )
    if session.get_bind().dialect.name == "postgresql":
        gap_ok = calls.c.next_start - calls.c.started_at > window
    else:
        gap_ok = func.julianday(calls.c.next_start) - func.julianday(calls.c.started_at) > rules.fcr_days
    resolved = or_(calls.c.next_start.is_(None), gap_ok)
    total, ok = session.execute(
        select(func.count(), func.count().filter(resolved))
        .where(calls.c.started_at < end, calls.c.answered_at.is_not(None))
    ).one()
    return Resolution(answered=int(total), resolved=int(ok))


@dataclasses.dataclass(frozen=True)
class RepeatCallers:
    numbers: int           # distinct numbers that called twice or more
    calls: int             # the calls they made


def repeat_callers(session: Session, start: dt.datetime, end: dt.datetime) -> RepeatCallers:
    per_number = (
        select(Call.caller_e164, func.count().label("n"))
        .where(_in_period(start, end), Call.status.in_(OFFERED_STATES), Call.caller_e164 != "")
        .group_by(Call.caller_e164).having(func.count() >= 2).subquery()
    )
    numbers, calls = session.execute(select(func.count(), func.coalesce(func.sum(per_number.c.n), 0))).one()
    return RepeatCallers(numbers=int(numbers), calls=int(calls))


@dataclasses.dataclass
class ComplaintRow:
    severity: str
    category: str
    total: int = 0
    closed_on_time: int = 0
    closed_late: int = 0
    open_overdue: int = 0
    open_in_time: int = 0

    @property
    def compliance(self) -> float | None:
        """Share of complaints that were (or still are) within their deadline."""
        judged = self.closed_on_time + self.closed_late + self.open_overdue
        return self.closed_on_time / judged if judged else None


def complaints(session: Session, start: dt.datetime, end: dt.datetime, now: dt.datetime) -> list[ComplaintRow]:
    """Complaints opened in the period, by severity and category, with deadline compliance:
    closed by their deadline, closed late, still open past it, still open within it."""
    rows: dict[tuple[str, str], ComplaintRow] = {}
    result = session.execute(
        select(Ticket.severity, Ticket.fields, Ticket.due_at, Ticket.closed_at)
        .where(Ticket.type == "complaint", Ticket.created_at >= start, Ticket.created_at < end)
    )
    for severity, fields, due_at, closed_at in result:
        category = str((fields or {}).get("category") or "")
        row = rows.setdefault((severity or "", category), ComplaintRow(severity or "", category))
        row.total += 1
        if closed_at is not None:
            if due_at is None or closed_at <= due_at:
                row.closed_on_time += 1
            else:
                row.closed_late += 1
        elif due_at is not None and now > due_at:
            row.open_overdue += 1
        else:
            row.open_in_time += 1
    return [rows[k] for k in sorted(rows)]
