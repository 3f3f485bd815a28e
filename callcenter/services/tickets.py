"""Tickets (工单): creation from a call, updates with history, deadlines, closing.
(CONTRACT — bodies to be written; the web panel codes against these signatures.)

Rules (REQUIREMENTS.md "Complaints", "Repairs"): tickets are never deleted; every
change is a TicketHistory row with who and when; the first agent stays the owner
across transfers (首问负责制); closing needs a resolution; closing a complaint or a
repair creates a SurveyRequest (the 回访 hook).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.orm import Session

from callcenter.config import Settings
from callcenter.models import Ticket, User


class TicketError(ValueError):
    """Invalid ticket input or a forbidden transition; the message is shown to the user."""


def create_ticket(session: Session, settings: Settings, *, actor: User, type: str, subject: str,
                  description: str = "", customer_id: int | None = None, call_linkedid: str = "",
                  contact_phone: str = "", fields: dict[str, Any] | None = None,
                  severity: str = "", urgency: str = "", department: str = "",
                  appointment_at: dt.datetime | None = None, paid: bool | None = None,
                  promised_reply_at: dt.datetime | None = None) -> Ticket:
    raise NotImplementedError


def update_ticket(session: Session, settings: Settings, ticket: Ticket, *, actor: User,
                  **changes: Any) -> Ticket:
    raise NotImplementedError


def close_ticket(session: Session, settings: Settings, ticket: Ticket, *, actor: User,
                 resolution: str) -> Ticket:
    raise NotImplementedError


def reopen_ticket(session: Session, settings: Settings, ticket: Ticket, *, actor: User | None,
                  reason: str) -> Ticket:
    raise NotImplementedError


def tickets_for_customer(session: Session, customer_id: int, *, open_only: bool = False,
                         limit: int = 20) -> list[Ticket]:
    raise NotImplementedError
