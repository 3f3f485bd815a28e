"""Everything a set of screen-pops reads, in a fixed number of queries however many
calls ring at once (a burst of 100 calls costs about as many queries as one).

``preload`` reads the calls rows, their customers, the history (last calls, open and
recent tickets, the agents who answered) and the facts of the badges for every pop
request at once; ``screenpop.build_pops`` then assembles each pop from it, exactly as
``build_pop`` does for one. The "top N per customer" lists use a window function
(row_number, SQLite ≥ 3.25 and PostgreSQL).

The history is only shown, never changed: its calls and tickets are read as plain rows
of the columns the views use (``PastCall``, ticket rows), not as ORM objects, and each
row once even when it is among the last calls of both the customer and the number - a
burst of 100 pops reads about a thousand of them.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, NamedTuple

from sqlalchemy import func, select, union
from sqlalchemy.orm import Session, joinedload, selectinload

from callcenter.config import Settings
from callcenter.db import utcnow
from callcenter.models import Call, CallStatus, Customer, CustomerPhone, Line, Ticket, TicketStatus, TicketType, User
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


class PastCall(NamedTuple):
    """A call of the history as ``records.call_view`` reads it."""
    id: int
    linkedid: str
    started_at: dt.datetime
    caller_number: str
    caller_e164: str
    customer_id: int | None
    category: str
    status: CallStatus
    answered_by_user_id: int | None
    answered_by_interface: str
    talk_seconds: int | None
    wait_seconds: int | None
    recording_file: str
    recording_purged_at: dt.datetime | None
    line: Any   # .kind, or None for a call on no known line


_PAST_CALL_COLUMNS = (Call.id, Call.linkedid, Call.started_at, Call.caller_number, Call.caller_e164,
                      Call.customer_id, Call.category, Call.status, Call.answered_by_user_id,
                      Call.answered_by_interface, Call.talk_seconds, Call.wait_seconds, Call.recording_file,
                      Call.recording_purged_at)
# What records.ticket_view (and the sort) reads of a ticket, as plain rows.
_TICKET_COLUMNS = (Ticket.id, Ticket.customer_id, Ticket.number, Ticket.type, Ticket.subject, Ticket.status,
                   Ticket.created_at, Ticket.due_at, Ticket.resolution, Ticket.closed_at)


@dataclass
class Preloaded:
    calls: dict[int, Call | None] = field(default_factory=dict)          # request index → row
    e164: dict[int, str] = field(default_factory=dict)
    matches: dict[int, list[Customer]] = field(default_factory=dict)
    calls_by_customer: dict[Any, list[PastCall]] = field(default_factory=dict)
    calls_by_e164: dict[Any, list[PastCall]] = field(default_factory=dict)
    open_tickets: dict[Any, list[Any]] = field(default_factory=dict)      # ticket rows (_TICKET_COLUMNS)
    recent_tickets: dict[Any, list[Any]] = field(default_factory=dict)
    agent_names: dict[int, str] = field(default_factory=dict)
    recent_counts: dict[tuple[str, str], int] = field(default_factory=dict)   # (e164, linkedid) → calls
    recent_totals: dict[str, int] = field(default_factory=dict)               # e164 → calls
    complaints: dict[int, Ticket] = field(default_factory=dict)


def _newest_call(c: Call | PastCall) -> tuple:
    return (-c.started_at.timestamp(), -c.id)


def _newest_ticket(t: Any) -> tuple:
    return (-t.created_at.timestamp(), -t.id)


def _top_ids(entity: Any, partition: Any, keys: set, order_by: list, limit: int, where: Iterable[Any] = ()):
    """The ids of the first ``limit`` rows per ``partition`` value in ``keys``."""
    rank = func.row_number().over(partition_by=partition, order_by=order_by).label("rank")
    ranked = select(entity.id.label("id"), rank).where(partition.in_(keys), *where).subquery()
    return select(ranked.c.id).where(ranked.c.rank <= limit)


def _tops(rows: Iterable[Any], partitions: list[tuple[str, set, Callable[[Any], bool], int]],
          sort_key: Callable[[Any], Any]) -> list[dict[Any, list]]:
    """Rows read once, dealt into per-key lists (``attribute``, ``keys``, ``wanted``,
    ``limit``), each sorted and cut to its limit: a row read because it is among the
    first of one list is only kept in another where it belongs there too."""
    out: list[dict[Any, list]] = [defaultdict(list) for _ in partitions]
    for row in rows:
        for lists, (attribute, keys, wanted, _) in zip(out, partitions, strict=True):
            key = getattr(row, attribute)
            if key in keys and wanted(row):
                lists[key].append(row)
    for lists, (_, _, _, limit) in zip(out, partitions, strict=True):
        for key, items in lists.items():
            items.sort(key=sort_key)
            del items[limit:]
    return out


def _anything(_row: Any) -> bool:
    return True


def _load_history_calls(session: Session, data: Preloaded, customer_ids: set[int], numbers: set[str],
                        limit: int) -> None:
    """The last ``limit`` calls of each customer and of each number, one query."""
    customer_ids, numbers = {k for k in customer_ids if k}, {k for k in numbers if k}
    order = [Call.started_at.desc(), Call.id.desc()]
    parts = ([_top_ids(Call, Call.customer_id, customer_ids, order, limit)] if customer_ids else []) \
        + ([_top_ids(Call, Call.caller_e164, numbers, order, limit)] if numbers else [])
    if not parts:
        return
    ids = parts[0] if len(parts) == 1 else union(*parts)
    lines: dict[Any, Any] = {}
    rows = []
    for *columns, kind in session.execute(select(*_PAST_CALL_COLUMNS, Line.kind)
                                          .outerjoin(Line, Line.id == Call.line_id).where(Call.id.in_(ids))):
        line = None
        if kind is not None:
            line = lines.get(kind) or lines.setdefault(kind, SimpleNamespace(kind=kind))
        rows.append(PastCall(*columns, line=line))
    data.calls_by_customer, data.calls_by_e164 = _tops(
        rows, [("customer_id", customer_ids, _anything, limit), ("caller_e164", numbers, _anything, limit)],
        _newest_call)


def _is_open(ticket: Any) -> bool:
    return ticket.status != TicketStatus.CLOSED


def _load_history_tickets(session: Session, data: Preloaded, customer_ids: set[int]) -> None:
    """Each customer's open tickets and last tickets, one query."""
    customer_ids = {k for k in customer_ids if k}
    if not customer_ids:
        return
    order = [Ticket.created_at.desc(), Ticket.id.desc()]
    ids = union(_top_ids(Ticket, Ticket.customer_id, customer_ids, order, records.OPEN_TICKETS_LIMIT,
                         where=[Ticket.status != TicketStatus.CLOSED]),
                _top_ids(Ticket, Ticket.customer_id, customer_ids, order, records.HISTORY_LIMIT))
    rows = session.execute(select(*_TICKET_COLUMNS).where(Ticket.id.in_(ids))).all()
    data.open_tickets, data.recent_tickets = _tops(
        rows, [("customer_id", customer_ids, _is_open, records.OPEN_TICKETS_LIMIT),
               ("customer_id", customer_ids, _anything, records.HISTORY_LIMIT)], _newest_ticket)


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
    _load_history_calls(session, data, customer_ids, numbers, limit)
    _load_history_tickets(session, data, customer_ids)
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
            data.recent_totals[e164] = data.recent_totals.get(e164, 0) + n
    if customer_ids:
        for t in session.scalars(select(Ticket).where(Ticket.customer_id.in_(customer_ids),
                                                      Ticket.type == TicketType.COMPLAINT,
                                                      Ticket.status != TicketStatus.CLOSED)):
            best = data.complaints.get(t.customer_id)
            if best is None or popwhy.complaint_order(t) < popwhy.complaint_order(best):
                data.complaints[t.customer_id] = t
    return data


def last_calls(data: Preloaded, customer: Customer | None, e164: str, exclude_linkedid: str) -> list[PastCall]:
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
    own = data.recent_counts.get((e164, call.linkedid), 0) if call is not None else 0
    return data.recent_totals.get(e164, 0) - own
