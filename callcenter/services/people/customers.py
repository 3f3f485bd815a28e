"""Customers (客户/业主): lookup by caller number, creation and update.

A customer may have several numbers and a number may belong to several customers
(a household landline): lookups return every match, best tier first — routing uses
the first, the screen-pop shows them all. Numbers are stored as E.164
(``callcenter.services.people.phones``) next to what the user typed.

Bulk import from CSV/XLSX lives in ``callcenter.services.people.customer_import``.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from callcenter.models import Customer, CustomerPhone, Tier
from callcenter.services.people import phones

TIER_RANK = {Tier.VIP: 0, Tier.MEMBER: 1, Tier.ORDINARY: 2}

# What people write in a tier column, English or Chinese (case-insensitive).
TIER_WORDS = {
    "vip": Tier.VIP, "贵宾": Tier.VIP, "vip客户": Tier.VIP, "vip会员": Tier.VIP, "v": Tier.VIP,
    "member": Tier.MEMBER, "会员": Tier.MEMBER, "会员客户": Tier.MEMBER, "m": Tier.MEMBER,
    "ordinary": Tier.ORDINARY, "普通": Tier.ORDINARY, "普通客户": Tier.ORDINARY,
    "normal": Tier.ORDINARY, "regular": Tier.ORDINARY, "一般": Tier.ORDINARY,
}

FIELD_LIMITS = {"name": 100, "area": 100, "building": 32, "unit": 32, "room": 32,
                "address": 255, "external_ref": 64}


class CustomerError(ValueError):
    """Invalid customer input; the message is shown to the user as is."""


def parse_tier(text: str | Tier | None, default: Tier | None = Tier.ORDINARY) -> Tier | None:
    if isinstance(text, Tier):
        return text
    word = (text or "").strip().lower().replace(" ", "")
    if not word:
        return default
    try:
        return TIER_WORDS[word]
    except KeyError:
        raise CustomerError(f"unknown tier {text!r} (VIP/会员/普通 or vip/member/ordinary)") from None


def customers_for_number(session: Session, number: str, region: str = "CN") -> list[Customer]:
    """Every customer with this number (any presentation), best tier first, then oldest."""
    return customers_for_e164(session, phones.normalize(number, region))


def customers_for_e164(session: Session, e164: str) -> list[Customer]:
    """Every customer with this already normalised number, best tier first, then oldest."""
    if not e164:
        return []
    found = session.scalars(
        select(Customer).join(CustomerPhone, CustomerPhone.customer_id == Customer.id)
        .where(CustomerPhone.e164 == e164).options(selectinload(Customer.phones))
    ).unique().all()
    return sorted(found, key=lambda c: (TIER_RANK[c.tier], c.id))


def normalize_numbers(numbers: Iterable[str], region: str = "CN") -> tuple[list[tuple[str, str]], list[str]]:
    """Raw numbers → ([(e164, raw)...] without duplicates, [rejected raw...])."""
    good: list[tuple[str, str]] = []
    bad: list[str] = []
    seen: set[str] = set()
    for raw in numbers:
        raw = str(raw).strip()
        e164 = phones.normalize(raw, region)
        if not e164:
            bad.append(raw)
        elif e164 not in seen:
            seen.add(e164)
            good.append((e164, raw))
    return good, bad


def create_customer(session: Session, *, name: str, numbers: Iterable[str] = (), region: str = "CN",
                    tier: str | Tier = Tier.ORDINARY, **fields) -> Customer:
    """Create a customer; every number must be valid (CustomerError names the bad one)."""
    name = (name or "").strip()
    if not name:
        raise CustomerError("a customer needs a name")
    good, bad = normalize_numbers(numbers, region)
    if bad:
        raise CustomerError(f"{bad[0]!r} is not a valid phone number")
    _check_lengths(dict(fields, name=name))
    customer = Customer(name=name, tier=parse_tier(tier), **_known_fields(fields))
    customer.phones = [CustomerPhone(e164=e164, raw=raw[:64]) for e164, raw in good]
    session.add(customer)
    session.flush()
    return customer


def update_customer(session: Session, customer: Customer, *, numbers: Iterable[str] = (),
                    region: str = "CN", tier: str | Tier | None = None, **fields) -> Customer:
    """Change the given fields; ``numbers`` are added (existing numbers are kept)."""
    good, bad = normalize_numbers(numbers, region)
    if bad:
        raise CustomerError(f"{bad[0]!r} is not a valid phone number")
    if "name" in fields and not (fields["name"] or "").strip():
        raise CustomerError("a customer needs a name")
    _check_lengths(fields)
    for key, value in _known_fields(fields).items():
        setattr(customer, key, value.strip() if isinstance(value, str) and key == "name" else value)
    if tier is not None:
        customer.tier = parse_tier(tier)
    add_numbers(customer, good)
    session.flush()
    return customer


def add_numbers(customer: Customer, numbers: Iterable[tuple[str, str]]) -> int:
    """Attach (e164, raw) pairs the customer does not have yet; returns how many."""
    have = {p.e164 for p in customer.phones}
    added = 0
    for e164, raw in numbers:
        if e164 not in have:
            customer.phones.append(CustomerPhone(e164=e164, raw=raw[:64]))
            have.add(e164)
            added += 1
    return added


_EDITABLE = ("name", "important", "area", "building", "unit", "room", "address", "notes", "external_ref")


def _known_fields(fields: dict) -> dict:
    unknown = set(fields) - set(_EDITABLE)
    if unknown:
        raise CustomerError(f"unknown customer field(s): {', '.join(sorted(unknown))}")
    return fields


def _check_lengths(fields: dict) -> None:
    for key, limit in FIELD_LIMITS.items():
        value = fields.get(key)
        if isinstance(value, str) and len(value) > limit:
            raise CustomerError(f"{key} longer than {limit} characters")
