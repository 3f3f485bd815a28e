"""An unknown caller becomes a customer from the pop's "new customer" form, and the
ringing call is linked to the new record."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from callcenter.config import Settings
from callcenter.models import Call, Customer, Tier
from callcenter.services.people import audit, customers


class RegistrationError(ValueError):
    """Invalid input from the console's new-customer form (shown to the agent)."""


def register_caller(session: Session, settings: Settings, *, name: str, number: str,
                    tier: str = Tier.ORDINARY.value, area: str = "", building: str = "",
                    unit: str = "", room: str = "", address: str = "", linkedid: str = "",
                    user_id: int | None = None) -> Customer:
    """An unknown caller becomes a customer from the pop's "new customer" form.

    The calls row of the ringing call (``linkedid``) is linked to the new customer, so
    the ticket logged next and the caller's next call find the record.
    """
    if not (number or "").strip():
        raise RegistrationError("a phone number is required")
    address_fields = {"area": area, "building": building, "unit": unit, "room": room, "address": address}
    try:
        customer = customers.create_customer(
            session, name=name, numbers=[number], region=settings.phone_region, tier=tier or Tier.ORDINARY,
            **{key: (value or "").strip() for key, value in address_fields.items()})
    except customers.CustomerError as exc:
        raise RegistrationError(str(exc)) from exc
    customer.phones[0].label = "来电"
    if linkedid:
        for call in session.scalars(select(Call).where(Call.linkedid == linkedid, Call.customer_id.is_(None))):
            call.customer_id = customer.id
    audit.record(session, user_id=user_id, action=audit.CREATE, object_type="customer", object_id=customer.id,
                 detail=f"from call linkedid={linkedid}" if linkedid else "")
    return customer
