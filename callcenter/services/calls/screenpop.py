"""The screen-pop: everything an agent needs on screen while the phone rings.

``build_pop`` turns an AMI AgentCalled fact (linkedid, caller ID, interface) into one
JSON-serialisable dict read from the database: the caller, the customer record (tier,
address as building-unit-room), the line dialled, the IVR choices route_call stored on
the calls row, open tickets, and the last calls and tickets with their outcome. An
unknown caller yields ``customer: None`` and a ``new_customer`` prefill instead.

Nothing here renders HTML. Caller names come from the phone network and are
attacker-controlled; the payload carries them as plain strings and the browser puts
them into the page with ``textContent`` only.

Numbers are masked for roles outside ``settings.unmasked_roles``, and every customer
record shown (pop, record page) leaves an audit entry in the caller's unit of work.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import zhconv
from sqlalchemy import or_, select
from sqlalchemy.orm import Session, joinedload, selectinload

from callcenter.config import Settings
from callcenter.db import utcnow
from callcenter.models import (
    TICKET_TYPE_LABELS,
    AgentState,
    Call,
    CallAgentLeg,
    CallStatus,
    Customer,
    CustomerPhone,
    Ticket,
    TicketStatus,
    Tier,
    User,
)
from callcenter.services.people import audit, customers, phones
from callcenter.services.people.masking import phone_for
from callcenter.services.tickets import tickets
from callcenter.timeutil import to_local

HISTORY_LIMIT = 5
OPEN_TICKETS_LIMIT = 10
SEARCH_LIMIT = 20

# IVR categories as route_call stores them (ASCII ids) → what the agent reads.
CATEGORY_LABELS = {
    "consultation": "咨询",
    "complaint": "投诉",
    "repair": "报修",
    "suggestion": "建议",
    "order": "订单/退换货",
    "human": "人工",
}
TIER_LABELS = {Tier.VIP: "VIP", Tier.MEMBER: "会员", Tier.ORDINARY: "普通"}
LINE_KIND_LABELS = {"vip": "VIP客户专线", "ordinary": "普通客户专线"}
STATUS_LABELS = {
    CallStatus.ROUTING: "路由中", CallStatus.ROUTED: "已路由", CallStatus.QUEUED: "排队中",
    CallStatus.RINGING: "振铃中", CallStatus.ANSWERED: "通话中", CallStatus.COMPLETED: "已接听",
    CallStatus.ABANDONED: "放弃", CallStatus.AFTER_HOURS: "非工作时间", CallStatus.HUNG_UP: "已挂断",
}
TICKET_STATUS_LABELS = {
    TicketStatus.OPEN: "待处理", TicketStatus.IN_PROGRESS: "处理中",
    TicketStatus.CLOSED: "已关闭", TicketStatus.REOPENED: "重新打开",
}
# A leg older than this is not "the call ringing now", whatever its row says.
ACTIVE_CALL_WINDOW = dt.timedelta(hours=2)

_TICKET_NUMBER = re.compile(r"^[A-Za-z]{1,4}\d{6,8}-?\d{1,6}$")


class PopError(ValueError):
    """Invalid input from the console (shown to the agent)."""


# --- formatting helpers ---------------------------------------------------------------
def _local(settings: Settings, value: dt.datetime | None) -> str:
    return "" if value is None else to_local(value, settings.timezone).strftime("%Y-%m-%d %H:%M")


def _customer_dict(settings: Settings, role: str, customer: Customer) -> dict[str, Any]:
    return {
        "id": customer.id,
        "name": customer.name,
        "tier": customer.tier.value,
        "tier_label": TIER_LABELS[customer.tier],
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


def _ticket_dict(settings: Settings, ticket: Ticket) -> dict[str, Any]:
    return {
        "id": ticket.id,
        "number": ticket.number,
        "type": ticket.type.value,
        "type_label": TICKET_TYPE_LABELS[ticket.type],
        "subject": ticket.subject,
        "status": ticket.status.value,
        "status_label": TICKET_STATUS_LABELS[ticket.status],
        "created_at": _local(settings, ticket.created_at),
        "due_at": _local(settings, ticket.due_at),
        "resolution": ticket.resolution,
        "closed_at": _local(settings, ticket.closed_at),
    }


def _call_dict(settings: Settings, role: str, call: Call, agents: dict[int, str]) -> dict[str, Any]:
    answered_by = agents.get(call.answered_by_user_id or 0, "") or call.answered_by_interface
    return {
        "id": call.id,
        "linkedid": call.linkedid,
        "started_at": _local(settings, call.started_at),
        "number": phone_for(settings, role, call.caller_number),
        "line_kind": call.line.kind.value if call.line else "",
        "category": call.category,
        "category_label": CATEGORY_LABELS.get(call.category, call.category),
        "status": call.status.value,
        "status_label": STATUS_LABELS.get(call.status, call.status.value),
        "answered_by": answered_by,
        "talk_seconds": call.talk_seconds,
        "wait_seconds": call.wait_seconds,
    }


def _agent_names(session: Session, calls: list[Call]) -> dict[int, str]:
    ids = {c.answered_by_user_id for c in calls if c.answered_by_user_id}
    if not ids:
        return {}
    return {u.id: u.display_name or u.username for u in session.scalars(select(User).where(User.id.in_(ids)))}


# --- reads ---------------------------------------------------------------------------
def call_for_linkedid(session: Session, linkedid: str) -> Call | None:
    """The calls row route_call wrote for this call (the first one for the linkedid)."""
    if not linkedid:
        return None
    return session.scalar(select(Call).options(joinedload(Call.line)).where(Call.linkedid == linkedid)
                          .order_by(Call.id).limit(1))


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


def _history(session: Session, settings: Settings, role: str, customer: Customer | None,
             caller_e164: str, exclude_linkedid: str) -> dict[str, Any]:
    calls = recent_calls(session, customer_id=customer.id if customer else None,
                         caller_e164=caller_e164, exclude_linkedid=exclude_linkedid)
    agents = _agent_names(session, calls)
    return {
        "open_tickets": [_ticket_dict(settings, t) for t in tickets.tickets_for_customer(session, customer.id, open_only=True, limit=OPEN_TICKETS_LIMIT)] if customer else [],
        "last_tickets": [_ticket_dict(settings, t) for t in recent_tickets(session, customer.id)] if customer else [],
        "last_calls": [_call_dict(settings, role, c, agents) for c in calls],
    }


def build_pop(session: Session, settings: Settings, *, linkedid: str, role: str,
              user_id: int | None = None, caller_number: str = "", caller_name: str = "",
              interface: str = "", queue: str = "", audit_now: bool = True) -> dict[str, Any]:
    """The pop for one ringing call, as ``role`` may see it.

    Audited when it shows a customer: in the same unit of work, or - with
    ``audit_now=False`` - by the caller through ``record_pop_view`` right after the pop
    went out (the console stream does that so the agent does not wait for a write).
    """
    call = call_for_linkedid(session, linkedid)
    number = caller_number or (call.caller_number if call else "")
    name = caller_name or (call.caller_name if call else "")
    e164 = (call.caller_e164 if call and call.caller_e164 else "") or phones.normalize(number, settings.phone_region)

    matches: list[Customer] = []
    if call is not None and call.customer_id is not None:
        customer = session.get(Customer, call.customer_id, options=[selectinload(Customer.phones)])
        if customer is not None:
            matches = [customer]
    if not matches:
        matches = customers.customers_for_number(session, number, settings.phone_region)
    customer = matches[0] if matches else None

    line = call.line if call else None
    kind_label = LINE_KIND_LABELS.get(line.kind.value, "") if line else ""
    pop: dict[str, Any] = {
        "linkedid": linkedid,
        "call_id": call.id if call else None,
        "interface": interface,
        "queue": queue or (call.queue if call else ""),
        "caller": {"number": phone_for(settings, role, number), "name": name},
        "line": {
            "name": line.name if line else "",
            "number": line.number if line else (call.dialled_number if call else ""),
            "kind": line.kind.value if line else "",
            # Not repeated when the line's own name already says it (普通客户专线).
            "kind_label": "" if line and kind_label in line.name else kind_label,
        },
        "ivr": {
            "path": list(call.ivr_path or []) if call else [],
            "category": call.category if call else "",
            "category_label": CATEGORY_LABELS.get(call.category, call.category) if call else "",
        },
        "route_reason": call.route_reason if call else "",
        "customer": _customer_dict(settings, role, customer) if customer else None,
        # A household landline can belong to several customers: offer the others.
        "other_customers": [{"id": c.id, "name": c.name} for c in matches[1:]],
        "new_customer": None if customer else {"number": phone_for(settings, role, number), "name": ""},
    }
    pop.update(_history(session, settings, role, customer, e164, linkedid))
    if audit_now:
        record_pop_view(session, user_id, pop)
    return pop


def record_pop_view(session: Session, user_id: int | None, pop: dict[str, Any]) -> None:
    """The audit entry for a pop that showed a customer record (保密)."""
    if pop.get("customer"):
        audit.record(session, user_id=user_id, action=audit.SCREEN_POP, object_type="customer",
                     object_id=pop["customer"]["id"], detail=f"linkedid={pop['linkedid']}")


def customer_record(session: Session, settings: Settings, customer_id: int, *, role: str,
                    user_id: int | None) -> dict[str, Any] | None:
    """A customer's record page (audited), or None when there is no such customer."""
    customer = session.get(Customer, customer_id)
    if customer is None:
        return None
    first_phone = customer.phones[0].e164 if customer.phones else ""
    record = {"customer": _customer_dict(settings, role, customer)}
    record.update(_history(session, settings, role, customer, first_phone, ""))
    audit.record(session, user_id=user_id, action=audit.VIEW, object_type="customer", object_id=customer.id)
    return record


def active_call_for_interface(session: Session, interface: str) -> dict[str, Any] | None:
    """The call ringing or connected at ``interface`` right now, as an agent_called-like
    fact, so a console that (re)connects shows the pop it may have missed."""
    if not interface:
        return None
    since = utcnow() - ACTIVE_CALL_WINDOW
    row = session.execute(
        select(CallAgentLeg, Call).join(Call, CallAgentLeg.call_id == Call.id)
        .where(CallAgentLeg.interface == interface, CallAgentLeg.called_at >= since,
               CallAgentLeg.outcome.in_(("", "connected")),
               Call.status.in_((CallStatus.QUEUED, CallStatus.RINGING, CallStatus.ANSWERED)))
        .order_by(CallAgentLeg.called_at.desc(), CallAgentLeg.id.desc()).limit(1)
    ).first()
    if row is None:
        state = session.scalar(select(AgentState).where(AgentState.interface == interface))
        if state is None or not state.current_linkedid:
            return None
        call = call_for_linkedid(session, state.current_linkedid)
        if call is None or call.status not in (CallStatus.QUEUED, CallStatus.RINGING, CallStatus.ANSWERED):
            return None
        return {"type": "agent_called", "interface": interface, "linkedid": call.linkedid,
                "uniqueid": call.uniqueid, "queue": call.queue, "caller_number": call.caller_number,
                "caller_name": call.caller_name, "member_name": ""}
    leg, call = row
    return {"type": "agent_called", "interface": interface, "linkedid": call.linkedid,
            "uniqueid": leg.dest_uniqueid, "queue": leg.queue or call.queue,
            "caller_number": call.caller_number, "caller_name": call.caller_name,
            "member_name": leg.member_name}


# --- search --------------------------------------------------------------------------
def name_variants(text: str) -> list[str]:
    """The text as typed, in simplified and in traditional characters (张伟 / 張偉)."""
    variants = [text, zhconv.convert(text, "zh-hans"), zhconv.convert(text, "zh-hant")]
    return list(dict.fromkeys(v for v in variants if v))


def search(session: Session, settings: Settings, query: str, *, role: str,
           limit: int = SEARCH_LIMIT) -> dict[str, Any]:
    """Manual lookup by phone number, customer name (简/繁) or ticket id/number."""
    text = (query or "").strip()[:64]
    result: dict[str, Any] = {"query": text, "customers": [], "tickets": []}
    if not text:
        return result

    customer_conditions = [or_(*(Customer.name.contains(v, autoescape=True) for v in name_variants(text)))]
    digits = re.sub(r"\D", "", text)
    if digits and len(digits) >= 3 and re.fullmatch(r"[\d\s()+\-.]+", text):
        e164 = phones.normalize(text, settings.phone_region)
        phone_match = CustomerPhone.e164.contains(digits, autoescape=True)
        if e164:
            phone_match = or_(phone_match, CustomerPhone.e164 == e164)
        customer_conditions.append(Customer.id.in_(select(CustomerPhone.customer_id).where(phone_match)))
    customers = session.scalars(
        select(Customer).where(or_(*customer_conditions)).order_by(Customer.name, Customer.id).limit(limit)
    ).all()
    result["customers"] = [_customer_dict(settings, role, c) for c in customers]

    ticket_conditions = [Ticket.number.contains(text.upper(), autoescape=True)] if (
        _TICKET_NUMBER.match(text) or text.upper().startswith("GD")) else []
    if text.isdigit() and len(text) <= 9:
        ticket_conditions.append(Ticket.id == int(text))
    if ticket_conditions:
        tickets = session.scalars(
            select(Ticket).where(or_(*ticket_conditions)).order_by(Ticket.id.desc()).limit(limit)
        ).all()
        result["tickets"] = [
            dict(_ticket_dict(settings, t), customer_name=t.customer.name if t.customer else "") for t in tickets
        ]
    return result


# --- writes --------------------------------------------------------------------------
def register_caller(session: Session, settings: Settings, *, name: str, number: str,
                    tier: str = Tier.ORDINARY.value, area: str = "", building: str = "",
                    unit: str = "", room: str = "", address: str = "", linkedid: str = "",
                    user_id: int | None = None) -> Customer:
    """An unknown caller becomes a customer from the pop's "new customer" form.

    The calls row of the ringing call (``linkedid``) is linked to the new customer, so
    the ticket logged next and the caller's next call find the record.
    """
    if not (number or "").strip():
        raise PopError("a phone number is required")
    address_fields = {"area": area, "building": building, "unit": unit, "room": room, "address": address}
    try:
        customer = customers.create_customer(
            session, name=name, numbers=[number], region=settings.phone_region, tier=tier or Tier.ORDINARY,
            **{key: (value or "").strip() for key, value in address_fields.items()})
    except customers.CustomerError as exc:
        raise PopError(str(exc)) from exc
    customer.phones[0].label = "来电"
    if linkedid:
        for call in session.scalars(select(Call).where(Call.linkedid == linkedid, Call.customer_id.is_(None))):
            call.customer_id = customer.id
    audit.record(session, user_id=user_id, action=audit.CREATE, object_type="customer", object_id=customer.id,
                 detail=f"from call linkedid={linkedid}" if linkedid else "")
    return customer


__all__ = [
    "CATEGORY_LABELS", "PopError", "active_call_for_interface", "build_pop",
    "call_for_linkedid", "customer_record", "name_variants",
    "register_caller", "search",
]
