"""Tickets (工单): what the agent logs from a call, with the deadlines the business lives by."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from callcenter.db import utcnow
from callcenter.models.base import Base, TimestampMixin, str_enum
from callcenter.models.customers import Customer
from callcenter.models.users import User


class TicketType(str, enum.Enum):
    CONSULTATION = "consultation"  # 咨询
    COMPLAINT = "complaint"        # 投诉
    REPAIR = "repair"              # 报修
    SUGGESTION = "suggestion"      # 建议
    ORDER = "order"                # 订单/退换货



class TicketStatus(str, enum.Enum):
    OPEN = "open"
    IN_PROGRESS = "in_progress"
    CLOSED = "closed"
    REOPENED = "reopened"


class Ticket(TimestampMixin, Base):
    __tablename__ = "tickets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Work-order number shown to customers and crews: GD20261122-0007.
    number: Mapped[str] = mapped_column(String(32), unique=True, nullable=False)
    type: Mapped[TicketType] = mapped_column(str_enum(TicketType, "ticket_type"), nullable=False, index=True)
    status: Mapped[TicketStatus] = mapped_column(
        str_enum(TicketStatus, "ticket_status"), nullable=False, default=TicketStatus.OPEN, index=True
    )
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)
    # The call it was logged from (linkedid survives transfers).
    call_linkedid: Mapped[str] = mapped_column(String(64), nullable=False, default="", index=True)
    # 首问负责制: the first agent stays the owner across transfers.
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"), nullable=False, index=True)
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    subject: Mapped[str] = mapped_column(String(200), nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False, default="")
    contact_phone: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    # Type-specific fields (complaint target, repair item, order number ...), validated
    # by callcenter.services.tickets.tickets against the field list per type.
    fields: Mapped[dict] = mapped_column(JSON, nullable=False, default=dict)
    # Complaints: severity (serious/ordinary) × urgency (urgent/not_urgent), validity.
    severity: Mapped[str] = mapped_column(String(16), nullable=False, default="")
    urgency: Mapped[str] = mapped_column(String(16), nullable=False, default="")
    invalid: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    # Passed to another department (empty = within the service desk's own remit).
    department: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    # Repairs: appointment and paid/warranty (有偿/保修), completion.
    appointment_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    paid: Mapped[bool | None] = mapped_column(Boolean)
    completed_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    # Deadlines (UTC): promised reply to the customer, resolution due, department response.
    promised_reply_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    due_at: Mapped[dt.datetime | None] = mapped_column(DateTime, index=True)
    department_due_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    # 三级负责制: 0 agent, 1 supervisor, 2 deputy general manager.
    escalation_level: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    escalated_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    # When the escalation sweep next raises the level (NULL: closed or at the top).
    # Separate from due_at so the commitment itself is never moved by escalation.
    escalation_due_at: Mapped[dt.datetime | None] = mapped_column(DateTime, index=True)
    resolution: Mapped[str] = mapped_column(Text, nullable=False, default="")
    closed_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    closed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    customer: Mapped[Customer | None] = relationship()
    owner: Mapped[User] = relationship(foreign_keys=[owner_id])
    assignee: Mapped[User | None] = relationship(foreign_keys=[assignee_id])
    history: Mapped[list[TicketHistory]] = relationship(
        back_populates="ticket", order_by="TicketHistory.id", cascade="save-update, merge"
    )


class TicketHistory(Base):
    """Every change to a ticket: who, when, what (tickets are never deleted)."""

    __tablename__ = "ticket_history"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), nullable=False, index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    action: Mapped[str] = mapped_column(String(32), nullable=False)
    # {"field": [old, new], ...} or {"note": "..."}
    changes: Mapped[dict] = mapped_column(JSON, nullable=False, default=dict)

    ticket: Mapped[Ticket] = relationship(back_populates="history")
    user: Mapped[User | None] = relationship()


class SurveyStatus(str, enum.Enum):
    PENDING = "pending"
    DONE = "done"
    CANCELLED = "cancelled"


class SurveyRequest(Base):
    """回访 hook: closing a complaint or repair asks for a follow-up survey call."""

    __tablename__ = "survey_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), nullable=False, index=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"))
    number: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    due_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False)
    status: Mapped[SurveyStatus] = mapped_column(
        str_enum(SurveyStatus, "survey_status"), nullable=False, default=SurveyStatus.PENDING
    )
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    # --- the dialling of it (callcenter/services/surveys; migration 0008) ---
    plan_id: Mapped[int | None] = mapped_column(ForeignKey("survey_plans.id"))
    step: Mapped[int] = mapped_column(Integer, nullable=False, default=0)   # call n of a series
    # Done by this instant to count for the 100% callback target.
    deadline_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    # When the dispatcher may dial next (NULL: nothing to dial: done, or with the humans).
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(DateTime, index=True)
    # "" | completed | callback (left to an agent after the last attempt) | callback_done | skipped
    outcome: Mapped[str] = mapped_column(String(16), nullable=False, default="")
    satisfaction: Mapped[str] = mapped_column(String(16), nullable=False, default="")
    completed_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    completed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class Notification(Base):
    """A message shown in the panel (overdue ticket escalated to you, ...)."""

    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), nullable=False, index=True)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))
    message: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    read_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


class AuditEntry(Base):
    """保密: who opened which customer record, recording or file, and when."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow, index=True)
    action: Mapped[str] = mapped_column(String(32), nullable=False)
    object_type: Mapped[str] = mapped_column(String(32), nullable=False)
    object_id: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    detail: Mapped[str] = mapped_column(Text, nullable=False, default="")
