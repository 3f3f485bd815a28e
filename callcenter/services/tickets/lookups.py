"""What the ticket pages show besides the tickets themselves: the customer a ticket is
for, the customers named in a ticket's history, a ticket's follow-up surveys, and who a
ticket can be assigned to."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from callcenter.models import Call, Customer, SurveyRequest, User
from callcenter.services.tickets.tickets import WRITER_ROLES


def customer(session: Session, customer_id: int | None) -> Customer | None:
    """The customer a ticket form is for (None for no id or an unknown one)."""
    return session.get(Customer, customer_id) if customer_id else None


def customer_names(session: Session, ids: Iterable[int]) -> dict[int, str]:
    """Name of each of these customers that exists."""
    wanted = set(ids)
    if not wanted:
        return {}
    return {c.id: c.name for c in session.scalars(select(Customer).where(Customer.id.in_(wanted)))}


def calls_by_linkedid(session: Session, linkedids: Iterable[str]) -> dict[str, Call]:
    """The call each of these Asterisk linkedids names (a ticket keeps the call's
    linkedid; people read the call's time and number instead)."""
    wanted = {i for i in linkedids if i}
    if not wanted:
        return {}
    found: dict[str, Call] = {}
    for call in session.scalars(select(Call).where(Call.linkedid.in_(wanted)).order_by(Call.id)):
        found.setdefault(call.linkedid, call)
    return found


def surveys_for_ticket(session: Session, ticket_id: int) -> list[SurveyRequest]:
    """The follow-up surveys (回访) a ticket has asked for, oldest first."""
    return list(session.scalars(select(SurveyRequest).where(SurveyRequest.ticket_id == ticket_id)
                                .order_by(SurveyRequest.id)))


def assignees(session: Session) -> list[User]:
    """Who a ticket can be handed to: active users of the roles that work on tickets,
    by display name."""
    return list(session.scalars(select(User).where(User.active.is_(True), User.role.in_(WRITER_ROLES))
                                .order_by(User.display_name, User.id)))
