"""Everything a set of screen-pops reads, in a fixed number of queries however many
calls ring at once (a burst of 100 calls costs about as many queries as one).

``preload`` reads the calls rows, their customers, the history (last calls, open and
recent tickets, the agents who answered) and the facts of the badges for every pop
request at once; ``screenpop.build_pops`` then assembles each pop from it, exactly as
``build_pop`` does for one. The "top N per customer" lists use a window function
(row_number, SQLite ≥ 3.25 and PostgreSQL).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, joinedload, selectinload

from callcenter.config import Settings
from callcenter.db import utcnow
from callcenter.models import Call, Customer, CustomerPhone, Ticket, TicketStatus, TicketType, User
from callcenter.services.calls import popwhy
from callcenter.services.people import phones, records
from callcenter.services.people.customers import TIER_RANK

# Rows per customer/number read for the last calls: a few more than shown, because the
# call ringing now (and its other legs) is left out afterwards.
_CALLS_MARGIN = 3


@dataclass(frozen=True)
class PopRequest:
    linkedid: str
    call_id: int | None = None
    caller_number: str = ""
    caller_name: str = ""
    interface: str = ""
    queue: str = ""


@dataclass
class Preloaded:
    calls: dict[int, Call | None] = field(default_factory=dict)          # request index → row
    e164: dict[int, str] = field(default_factory=dict)
    matches: dict[int, list[Customer]] = field(default_factory=dict)
    calls_by_customer: dict[Any, list[Call]] = field(default_factory=dict)
    calls_by_e164: dict[Any, list[Call]] = field(default_factory=dict)
    open_tickets: dict[Any, list[Ticket]] = field(default_factory=dict)
    recent_tickets: dict[Any, list[Ticket]] = field(default_factory=dict)
    agent_names: dict[int, str] = field(default_factory=dict)
    recent_counts: dict[tuple[str, str], int] = field(default_factory=dict)   # (e164, linkedid) → calls
    complaints: dict[int, Ticket] = field(default_factory=dict)


def _top_per(session: Session, entity: Any, partition: Any, keys: Iterable[Any], order_by: list, limit: int,
             where: Iterable[Any] = (), options: Iterable[Any] = (),
             sort_key: Callable[[Any], Any] | None = None) -> dict[Any, list]:
    """The first ``limit`` rows per ``partition`` value (``keys``), in ``order_by`` order."""
    keys = {k for k in keys if k}
    if not keys:
        return {}
    rank = func.row_number().over(partition_by=partition, order_by=order_by).label("rank")
    ranked = select(entity.id.label("id"), rank).where(partition.in_(keys), *where).subquery()
    rows = session.scalars(select(entity).options(*options).join(ranked, ranked.c.id == entity.id)
                           .where(ranked.c.rank <= limit)).unique().all()
    out: dict[Any, list] = defaultdict(list)
    for row in rows:
        out[getattr(row, partition.key)].append(row)
    for items in out.values():
        items.sort(key=sort_key)
    return out


def _newest_call(c: Call) -> tuple:
    return (-c.started_at.timestamp(), -c.id)


def _newest_ticket(t: Ticket) -> tuple:
    return (-t.created_at.timestamp(), -t.id)


def _load_calls(session: Session, requests: list[PopRequest]) -> dict[int, Call | None]:
    ids = {r.call_id for r in requests if r.call_id}
    by_id = {c.id: c for c in session.scalars(select(Call).options(joinedload(Call.line))
                                                .where(Call.id.in_(ids)))} if ids else {}
    missing = {r.linkedid for r in requests if r.linkedid and by_id.get(r.call_id or 0) is None}
    by_linkedid: dict[str, Call] = {}
    if missing:
        for c in session.scalars(select(Call).options(joinedload(Call.line)).where(Call.linkedid.in_(missing))
                                 .order_by(Call.id)):
            by_linkedid.setdefault(c.linkedid, c)       # the first row route_call wrote
    return {i: by_id.get(r.call_id or 0) or by_linkedid.get(r.linkedid) for i, r in enumerate(requests)}


def _load_customers(session: Session, data: Preloaded, requests: list[PopRequest]) -> None:
    """The customer route_call found for each call, else those of the number now."""
    ids = {c.customer_id for c in data.calls.values() if c is not None and c.customer_id}
    by_id = {c.id: c for c in session.scalars(select(Customer).options(selectinload(Customer.phones))
                                                .where(Customer.id.in_(ids)))} if ids else {}
    need = {i for i in range(len(requests))
            if not (data.calls[i] is not None and by_id.get(data.calls[i].customer_id or 0))}
    numbers = {data.e164[i] for i in need if data.e164[i]}
    by_number: dict[str, list[Customer]] = defaultdict(list)
    if numbers:
        rows = session.execute(select(Customer, CustomerPhone.e164).join(CustomerPhone,
                               CustomerPhone.customer_id == Customer.id).where(CustomerPhone.e164.in_(numbers))
                               .options(selectinload(Customer.phones))).unique().all()
        for customer, e164 in rows:
            if customer not in by_number[e164]:
                by_number[e164].append(customer)
    for i in range(len(requests)):
        call = data.calls[i]
        if i not in need:
            data.matches[i] = [by_id[call.customer_id]]
        else:
            data.matches[i] = sorted(by_number.get(data.e164[i], []), key=lambda c: (TIER_RANK[c.tier], c.id))


def preload(session: Session, settings: Settings, requests: list[PopRequest],
            now: dt.datetime | None = None) -> Preloaded:
    now = now or utcnow()
    data = Preloaded(calls=_load_calls(session, requests))
    for i, r in enumerate(requests):
        call = data.calls[i]
        number = r.caller_number or (call.caller_number if call else "")
        data.e164[i] = (call.caller_e164 if call and call.caller_e164 else "") \
            or phones.normalize(number, settings.phone_region)
    _load_customers(session, data, requests)
    customer_ids = {m[0].id for m in data.matches.values() if m}
    numbers = set(data.e164.values())
    limit = records.HISTORY_LIMIT + _CALLS_MARGIN
    data.calls_by_customer = _top_per(session, Call, Call.customer_id, customer_ids,
                                      [Call.started_at.desc(), Call.id.desc()], limit,
                                      options=[joinedload(Call.line)], sort_key=_newest_call)
    data.calls_by_e164 = _top_per(session, Call, Call.caller_e164, numbers, [Call.started_at.desc(), Call.id.desc()],
                                  limit, options=[joinedload(Call.line)], sort_key=_newest_call)
    data.open_tickets = _top_per(session, Ticket, Ticket.customer_id, customer_ids,
                                 [Ticket.created_at.desc(), Ticket.id.desc()], records.OPEN_TICKETS_LIMIT,
                                 where=[Ticket.status != TicketStatus.CLOSED], sort_key=_newest_ticket)
    data.recent_tickets = _top_per(session, Ticket, Ticket.customer_id, customer_ids,
                                   [Ticket.created_at.desc(), Ticket.id.desc()], records.HISTORY_LIMIT,
                                   sort_key=_newest_ticket)
    answered = {c.answered_by_user_id for rows in (*data.calls_by_customer.values(), *data.calls_by_e164.values())
                for c in rows if c.answered_by_user_id}
    if answered:
        data.agent_names = {u.id: u.display_name or u.username
                            for u in session.scalars(select(User).where(User.id.in_(answered)))}
    if numbers - {""}:
        since = now - dt.timedelta(hours=settings.repeat_window_hours)
        for e164, linkedid, n in session.execute(
                select(Call.caller_e164, Call.linkedid, func.count())
                .where(Call.caller_e164.in_(numbers - {""}), Call.started_at >= since)
                .group_by(Call.caller_e164, Call.linkedid)):
            data.recent_counts[(e164, linkedid)] = n
    if customer_ids:
        for t in session.scalars(select(Ticket).where(Ticket.customer_id.in_(customer_ids),
                                                      Ticket.type == TicketType.COMPLAINT,
                                                      Ticket.status != TicketStatus.CLOSED)):
            best = data.complaints.get(t.customer_id)
            if best is None or popwhy.complaint_order(t) < popwhy.complaint_order(best):
                data.complaints[t.customer_id] = t
    return data


def last_calls(data: Preloaded, customer: Customer | None, e164: str, exclude_linkedid: str) -> list[Call]:
    """records.recent_calls, from the preloaded rows."""
    found = {c.id: c for c in data.calls_by_customer.get(customer.id, [])} if customer else {}
    if e164:
        found.update({c.id: c for c in data.calls_by_e164.get(e164, [])})
    rows = [c for c in found.values() if not exclude_linkedid or c.linkedid != exclude_linkedid]
    return sorted(rows, key=_newest_call)[:records.HISTORY_LIMIT]


def earlier_calls(data: Preloaded, e164: str, call: Call | None) -> int:
    """Calls from the number in the repeat window, this call not counted."""
    if not e164:
        return 0
    own = call.linkedid if call is not None else None
    return sum(n for (number, linkedid), n in data.recent_counts.items() if number == e164 and linkedid != own)
