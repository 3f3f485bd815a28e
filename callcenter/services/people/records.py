"""What the panel shows of a customer, their tickets and their calls: the views the
screen-pop, the search and the record page share, the recent history, and the audited
customer record page (保密: every record shown leaves an audit entry in the caller's
unit of work).

Numbers are masked for roles outside ``settings.unmasked_roles``. Nothing here renders
HTML: caller names are attacker-controlled and the browser inserts them as text.
"""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, joinedload

from callcenter.config import Settings
from callcenter.labels import CALL_STATUSES, CATEGORIES, TICKET_STATUSES, TICKET_TYPES, TIERS, label
from callcenter.models import Call, Customer, Ticket, Tier, User
from callcenter.services.people import audit
from callcenter.services.people.masking import phone_for
from callcenter.services.tickets import tickets
from callcenter.timeutil import to_local

HISTORY_LIMIT = 5
OPEN_TICKETS_LIMIT = 10


def local_time(settings: Settings, value: dt.datetime | None) -> str:
    return "" if value is None else _local_text(value, settings.timezone)


@functools.lru_cache(maxsize=4096)
def _local_text(value: dt.datetime, tz: str) -> str:
    # A burst of pops shows the same history times many times over.
    return to_local(value, tz).strftime("%Y-%m-%d %H:%M")


def customer_view(settings: Settings, role: str, customer: Customer) -> dict[str, Any]:
    return {
        "id": customer.id,
        "name": customer.name,
        "tier": customer.tier.value,
        "tier_label": label(TIERS, customer.tier),
        "vip": customer.tier is Tier.VIP,
        "important": customer.important,
        "area": customer.area,
        "unit_address": customer.unit_address,
        "address": customer.address,
        "notes": customer.notes,
        "phones": [
            {"number": phone_for(settings, role, p.e164 or p.raw), "label": p.label} for p in customer.phones
        ],
    }


def ticket_view(settings: Settings, ticket: Ticket) -> dict[str, Any]:
    return {
        "id": ticket.id,
        "number": ticket.number,
        "type": ticket.type.value,
        "type_label": label(TICKET_TYPES, ticket.type),
        "subject": ticket.subject,
        "status": ticket.status.value,
        "status_label": label(TICKET_STATUSES, ticket.status),
        "created_at": local_time(settings, ticket.created_at),
        "due_at": local_time(settings, ticket.due_at),
        "resolution": ticket.resolution,
        "closed_at": local_time(settings, ticket.closed_at),
    }


def call_view(settings: Settings, role: str, call: Call, agents: dict[int, str]) -> dict[str, Any]:
    answered_by = agents.get(call.answered_by_user_id or 0, "") or call.answered_by_interface
    return {
        "id": call.id,
        "linkedid": call.linkedid,
        "started_at": local_time(settings, call.started_at),
        "number": phone_for(settings, role, call.caller_number),
        "line_kind": call.line.kind.value if call.line else "",
        "category": call.category,
        "category_label": label(CATEGORIES, call.category),
        "status": call.status.value,
        "status_label": label(CALL_STATUSES, call.status),
        "answered_by": answered_by,
        "talk_seconds": call.talk_seconds,
        "wait_seconds": call.wait_seconds,
        # The console links the recording of the agent's own calls (QA's page plays it to them).
        "answered_by_id": call.answered_by_user_id,
        "has_recording": bool(call.recording_file) and call.recording_purged_at is None,
    }


def agent_names(session: Session, calls: list[Call]) -> dict[int, str]:
    ids = {c.answered_by_user_id for c in calls if c.answered_by_user_id}
    if not ids:
        return {}
    return {u.id: u.display_name or u.username for u in session.scalars(select(User).where(User.id.in_(ids)))}


def recent_tickets(session: Session, customer_id: int, limit: int = HISTORY_LIMIT) -> list[Ticket]:
    return list(session.scalars(
        select(Ticket).where(Ticket.customer_id == customer_id)
        .order_by(Ticket.created_at.desc(), Ticket.id.desc()).limit(limit)
    ))


def recent_calls(session: Session, *, customer_id: int | None, caller_e164: str,
                 exclude_linkedid: str = "", limit: int = HISTORY_LIMIT) -> list[Call]:
    conditions = []
    if customer_id is not None:
        conditions.append(Call.customer_id == customer_id)
    if caller_e164:
        conditions.append(Call.caller_e164 == caller_e164)
    if not conditions:
        return []
    query = select(Call).options(joinedload(Call.line)).where(or_(*conditions))
    if exclude_linkedid:
        query = query.where(Call.linkedid != exclude_linkedid)
    return list(session.scalars(query.order_by(Call.started_at.desc(), Call.id.desc()).limit(limit)))


def history(session: Session, settings: Settings, role: str, customer: Customer | None,
             caller_e164: str, exclude_linkedid: str) -> dict[str, Any]:
    calls = recent_calls(session, customer_id=customer.id if customer else None,
                         caller_e164=caller_e164, exclude_linkedid=exclude_linkedid)
    agents = agent_names(session, calls)
    return {
        "open_tickets": [ticket_view(settings, t) for t in tickets.tickets_for_customer(session, customer.id, open_only=True, limit=OPEN_TICKETS_LIMIT)] if customer else [],
        "last_tickets": [ticket_view(settings, t) for t in recent_tickets(session, customer.id)] if customer else [],
        "last_calls": [call_view(settings, role, c, agents) for c in calls],
    }


def customer_record(session: Session, settings: Settings, customer_id: int, *, role: str,
                    user_id: int | None) -> dict[str, Any] | None:
    """A customer's record page (audited), or None when there is no such customer."""
    customer = session.get(Customer, customer_id)
    if customer is None:
        return None
    first_phone = customer.phones[0].e164 if customer.phones else ""
    record = {"customer": customer_view(settings, role, customer)}
    record.update(history(session, settings, role, customer, first_phone, ""))
    audit.record(session, user_id=user_id, action=audit.VIEW, object_type="customer", object_id=customer.id)
    return record
