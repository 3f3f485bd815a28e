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

Every figure is a sum of parts (``measures``): from the hourly rollup for whole hours it
holds, from the calls for the rest (``rollup.collect``); ratios are computed from the
summed parts, so rows add up to the total exactly.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from callcenter.labels import LINE_KINDS, TICKET_TYPES, label
from callcenter.models import Line, Role, Ticket, User
from callcenter.services.reports import rollup
from callcenter.services.reports.measures import OFFERED_STATES, KpiRow, KpiRules, Parts
from callcenter.timeutil import to_local, to_utc_naive

__all__ = [
    "DIMENSIONS",
    "OFFERED_STATES",
    "KpiRow",
    "KpiRules",
    "breakdown",
    "complaints",
    "first_contact_resolution",
    "repeat_callers",
    "totals",
]

# What a report may be grouped by, with the Chinese column heading.
DIMENSIONS = {
    "line": "线路",
    "queue": "队列",
    "agent": "坐席",
    "hour": "时段",
    "type": "工单类型",
    "tier": "客户级别",
}


def totals(session: Session, start: dt.datetime, end: dt.datetime, rules: KpiRules) -> KpiRow:
    total = Parts()
    for parts in rollup.collect(session, start, end, rules, "all").values():
        total.add(parts)
    return total.kpi_row(None, "合计", rules)


def breakdown(session: Session, start: dt.datetime, end: dt.datetime, rules: KpiRules, by: str) -> list[KpiRow]:
    """KPI rows per line, queue, agent, local hour of day (in ``rules.tz``), ticket type or
    customer tier."""
    if by not in DIMENSIONS:
        raise ValueError(f"unknown report dimension {by!r}: one of {', '.join(DIMENSIONS)}")
    return _BREAKDOWNS[by](session, start, end, rules)


def _int_key(key: str) -> int | None:
    return int(key) if key else None


def _by_line(session, start, end, rules) -> list[KpiRow]:
    parts = {_int_key(k): p for k, p in rollup.collect(session, start, end, rules, "line").items()}
    lines = {line.id: line for line in session.execute(
        select(Line).where(Line.id.in_([k for k in parts if k is not None]))).scalars()}
    rows = []
    for line_id, p in parts.items():
        line = lines.get(line_id)
        text = _line_label(line.number, line.name, line.kind) if line else _line_label(None, None, None)
        rows.append((line.number if line else None, p.kpi_row(line_id, text, rules)))
    return [row for _, row in sorted(rows, key=lambda item: (item[0] is None, item[0] or ""))]


def _by_queue(session, start, end, rules) -> list[KpiRow]:
    parts = rollup.collect(session, start, end, rules, "queue")
    return [parts[q].kpi_row(q, q or "（未进队列）", rules) for q in sorted(parts)]


def _agent_label(username: str, display: str | None) -> str:
    return f"{display or username}（{username}）"


def _by_agent(session, start, end, rules) -> list[KpiRow]:
    parts = {_int_key(k): p for k, p in rollup.collect(session, start, end, rules, "agent").items()}
    # An agent without a call in the period is a row of zeros, not a missing row.
    people = session.execute(select(User.id, User.username, User.display_name).where(
        (User.id.in_([k for k in parts if k is not None])) | ((User.active.is_(True)) & (User.role == Role.AGENT))
    )).all()
    names = {uid: _agent_label(username, display) for uid, username, display in people}
    found = [p.kpi_row(uid, names.get(uid, f"#{uid}") if uid else "（未接通）", rules) for uid, p in parts.items()]
    found += [KpiRow(key=uid, label=text) for uid, text in names.items() if uid not in parts]
    return sorted(found, key=lambda r: (r.key is None, r.label))


def _by_tier(session, start, end, rules) -> list[KpiRow]:
    tiers: dict[str, Parts] = {}
    for priority, p in rollup.collect(session, start, end, rules, "prio").items():
        tiers.setdefault("vip" if int(priority or 0) >= rules.priority_vip else "ordinary", Parts()).add(p)
    names = {"vip": "VIP 客户", "ordinary": "普通客户"}
    return [tiers[t].kpi_row(t, names[t], rules) for t in ("vip", "ordinary") if t in tiers]


def _by_type(session, start, end, rules) -> list[KpiRow]:
    parts = rollup.collect(session, start, end, rules, "type")
    rows = [p.kpi_row(t or None, label(TICKET_TYPES, t) if t else "（无工单）", rules) for t, p in parts.items()]
    return sorted(rows, key=lambda r: (r.key is None, str(r.key)))


def _by_hour(session, start, end, rules) -> list[KpiRow]:
    """Per UTC hour, folded here into the local hour of day."""
    hours: dict[int, Parts] = {}
    for (utc_hour, _key), p in rollup.collect(session, start, end, rules, "all", per_hour=True).items():
        hours.setdefault(to_local(utc_hour, rules.tz).hour, Parts()).add(p)
    return [hours[h].kpi_row(h, f"{h:02d}:00–{h:02d}:59", rules) for h in sorted(hours)]


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
    """Answered calls of the period whose caller did not call again within fcr_days."""
    answered = resolved = 0
    for parts in rollup.collect(session, start, end, rules, "all").values():
        answered += parts.fcr_answered
        resolved += parts.fcr_resolved
    return Resolution(answered=answered, resolved=resolved)


@dataclasses.dataclass(frozen=True)
class RepeatCallers:
    numbers: int           # distinct numbers that called twice or more
    calls: int             # the calls they made


def repeat_callers(session: Session, start: dt.datetime, end: dt.datetime,
                   rules: KpiRules | None = None) -> RepeatCallers:
    """Numbers with two or more offered calls in a period that starts at a local midnight.

    Counted without a distinct over the period's callers: of a number's k offered calls in
    the period, k-1 have their previous offered call inside it and k-2 (if k >= 2) their
    second previous, so (calls with the previous inside) - (calls with the second previous
    inside) is 1 exactly for each number that called twice or more."""
    rules = rules or KpiRules()
    first_day = to_local(start, rules.tz).date()
    if to_utc_naive(dt.datetime.combine(first_day, dt.time()), rules.tz) != start:
        raise ValueError("repeat callers are counted for periods that start at a local midnight")
    since = first_day.isoformat()
    parts = rollup.collect_many(session, start, end, rules, ("prev1", "prev2"))
    inside = {dim: sum(p.offered for day, p in parts[dim].items() if day >= since) for dim in parts}
    numbers = inside["prev1"] - inside["prev2"]
    return RepeatCallers(numbers=numbers, calls=inside["prev1"] + numbers)


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
    category = func.coalesce(Ticket.fields["category"].as_string(), "")
    severity = func.coalesce(Ticket.severity, "")
    closed, due = Ticket.closed_at.is_not(None), Ticket.due_at
    result = session.execute(
        select(severity, category, func.count(),
               func.count().filter(closed, or_(due.is_(None), Ticket.closed_at <= due)),
               func.count().filter(closed, due.is_not(None), Ticket.closed_at > due),
               func.count().filter(~closed, due.is_not(None), due < now),
               func.count().filter(~closed, or_(due.is_(None), due >= now)))
        .where(Ticket.type == "complaint", Ticket.created_at >= start, Ticket.created_at < end)
        .group_by(severity, category)
    )
    rows = [ComplaintRow(sev, str(cat), *(int(n) for n in counts)) for sev, cat, *counts in result]
    return sorted(rows, key=lambda r: (r.severity, r.category))
