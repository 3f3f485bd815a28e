"""Manual lookup by phone number, customer name (simplified or traditional characters:
张伟 finds 張偉) or ticket id/number, for the people who take calls."""

from __future__ import annotations

import re
from typing import Any

import zhconv
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from callcenter.config import Settings
from callcenter.encoding import clean_search_text
from callcenter.models import Customer, CustomerPhone, Ticket
from callcenter.services.people import phones
from callcenter.services.people.masking import sees_full_numbers
from callcenter.services.people.records import customer_view, ticket_view

SEARCH_LIMIT = 20
_TICKET_NUMBER = re.compile(r"^[A-Za-z]{1,4}\d{6,8}-?\d{1,6}$")


def name_variants(text: str) -> list[str]:
    """The text as typed, in simplified and in traditional characters (张伟 / 張偉)."""
    variants = [text, zhconv.convert(text, "zh-hans"), zhconv.convert(text, "zh-hant")]
    return list(dict.fromkeys(v for v in variants if v))


def search(session: Session, settings: Settings, query: str, *, role: str,
           limit: int = SEARCH_LIMIT) -> dict[str, Any]:
    """Manual lookup by phone number, customer name (简/繁) or ticket id/number.

    A role that sees masked numbers (138****8000) finds a customer by the whole number
    only: a match on part of a number would reveal the hidden digits one query at a
    time."""
    text = clean_search_text(query)
    result: dict[str, Any] = {"query": text, "customers": [], "tickets": []}
    if not text:
        return result

    customer_conditions = [or_(*(Customer.name.contains(v, autoescape=True) for v in name_variants(text)))]
    digits = re.sub(r"\D", "", text)
    if digits and len(digits) >= 3 and re.fullmatch(r"[\d\s()+\-.]+", text):
        e164 = phones.normalize(text, settings.phone_region)
        phone_matches = [CustomerPhone.e164 == e164] if e164 else []
        if sees_full_numbers(settings, role):
            phone_matches.append(CustomerPhone.e164.contains(digits, autoescape=True))
        if phone_matches:
            customer_conditions.append(
                Customer.id.in_(select(CustomerPhone.customer_id).where(or_(*phone_matches))))
    customers = session.scalars(
        select(Customer).where(or_(*customer_conditions)).order_by(Customer.name, Customer.id).limit(limit)
    ).all()
    result["customers"] = [customer_view(settings, role, c) for c in customers]

    ticket_conditions = [Ticket.number.contains(text.upper(), autoescape=True)] if (
        _TICKET_NUMBER.match(text) or text.upper().startswith("GD")) else []
    if text.isdigit() and len(text) <= 9:
        ticket_conditions.append(Ticket.id == int(text))
    if ticket_conditions:
        tickets = session.scalars(
            select(Ticket).where(or_(*ticket_conditions)).order_by(Ticket.id.desc()).limit(limit)
        ).all()
        result["tickets"] = [
            dict(ticket_view(settings, t), customer_name=t.customer.name if t.customer else "") for t in tickets
        ]
    return result
