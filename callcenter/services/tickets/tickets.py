"""Tickets (工单): creation from a call, updates with history, deadlines, closing.

Rules (REQUIREMENTS.md "Complaints", "Repairs"): tickets are never deleted (there is
no function for it); every change is a TicketHistory row with who, when and the old
and new values; the first agent stays the owner across transfers (首问负责制) — the
assignee may change, the owner never; closing needs a resolution; closing a complaint
or a repair creates a SurveyRequest (the 回访 hook) and sends ``ticket_closed``.

Every function takes the caller's session and flushes, never commits; the caller
commits and then publishes the notifications (``notifications.publish_outbox``).
Each accepts ``now`` (naive UTC) so rules are testable at any instant.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import Any

from sqlalchemy import func, or_, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from callcenter.config import Settings
from callcenter.db import utcnow
from callcenter.encoding import clean_search_text
from callcenter.models import (
    Customer,
    Role,
    SurveyRequest,
    SurveyStatus,
    Ticket,
    TicketHistory,
    TicketStatus,
    TicketType,
    User,
)
from callcenter.services.tickets import deadlines, escalation
from callcenter.services.tickets.fields import FieldValidationError, validate_columns, validate_fields
from callcenter.services.tickets.signals import (
    survey_requested,
    ticket_closed,
    ticket_created,
    ticket_reopened,
    ticket_updated,
)
from callcenter.timeutil import to_local


class TicketError(ValueError):
    """Invalid ticket input or a forbidden transition; the message is shown to the user."""

    def __init__(self, message: str, errors: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.errors = errors or {}


class TicketPermissionError(TicketError):
    """The actor's role may not do this (QA inspectors read only)."""


WRITER_ROLES = frozenset({Role.AGENT, Role.SUPERVISOR, Role.ADMIN})
NUMBER_ATTEMPTS = 20
SUBJECT_MAX = 200
# Ticket columns update_ticket accepts; the rest (owner, number, type, deadlines,
# escalation, closing) change only through their own rules.
EDITABLE = frozenset({
    "subject", "description", "contact_phone", "fields", "severity", "urgency", "invalid",
    "department", "appointment_at", "paid", "completed_at", "promised_reply_at",
    "assignee_id", "status", "customer_id",
})
COMPLAINT_ONLY = ("severity", "urgency", "invalid")
REPAIR_ONLY = ("appointment_at", "paid", "completed_at")
# Changing one of these re-evaluates due_at (deadlines.py).
DEADLINE_INPUTS = frozenset({"severity", "urgency", "department", "invalid"})
SURVEY_TYPES = {TicketType.COMPLAINT, TicketType.REPAIR}


# --- helpers -----------------------------------------------------------------------

def _plain(value: Any) -> Any:
    """A history value as JSON: datetimes as ISO text, enums by value."""
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    return value


def _require_writer(actor: User | None) -> None:
    if actor is None:
        return  # the system (survey answers, imports)
    if actor.role not in WRITER_ROLES or not actor.active:
        raise TicketPermissionError(f"{actor.username} ({actor.role.value}) may read tickets but not change them")


def _history(session: Session, ticket: Ticket, actor: User | None, action: str, changes: dict[str, Any],
             now: dt.datetime) -> TicketHistory:
    row = TicketHistory(ticket_id=ticket.id, user_id=actor.id if actor else None, at=now,
                        action=action, changes=changes)
    session.add(row)
    return row


def _check_type_columns(kind: TicketType, values: dict[str, Any]) -> None:
    errors = {}
    if kind is not TicketType.COMPLAINT:
        errors.update({k: f"{k} applies to complaints only" for k in COMPLAINT_ONLY if values.get(k)})
    if kind is not TicketType.REPAIR:
        errors.update({k: f"{k} applies to repairs only" for k in REPAIR_ONLY if values.get(k) is not None})
    if errors:
        raise TicketError("; ".join(errors.values()), errors)


def _validated_fields(kind: TicketType, fields: dict[str, Any] | None) -> dict[str, str]:
    try:
        return validate_fields(kind, fields)
    except FieldValidationError as exc:
        raise TicketError(str(exc), exc.errors) from exc


def _validated_columns(kind: TicketType, values: dict[str, Any]) -> None:
    try:
        validate_columns(kind, values)
    except FieldValidationError as exc:
        raise TicketError(str(exc), exc.errors) from exc


def _all_errors(*checks) -> list[Any]:
    """Run every check; raise one TicketError carrying all their messages."""
    results, errors = [], {}
    for check in checks:
        try:
            results.append(check())
        except TicketError as exc:
            errors.update(exc.errors or {"": str(exc)})
            results.append(None)
    if errors:
        raise TicketError("; ".join(errors.values()), errors)
    return results


def _clean_subject(subject: str) -> str:
    subject = (subject or "").strip()
    if not subject:
        raise TicketError("主题 (subject) is required", {"subject": "主题 (subject) is required"})
    if len(subject) > SUBJECT_MAX:
        raise TicketError(f"主题 (subject): at most {SUBJECT_MAX} characters",
                          {"subject": f"at most {SUBJECT_MAX} characters"})
    return subject


def _check_assignee(session: Session, assignee_id: int | None) -> None:
    if assignee_id is None:
        return
    user = session.get(User, assignee_id)
    if user is None or not user.active or user.role not in WRITER_ROLES:
        raise TicketError(f"user {assignee_id} cannot be assigned tickets (unknown, inactive or read-only)",
                          {"assignee_id": "not an active agent, supervisor or admin"})


def _check_customer(session: Session, customer_id: int | None) -> Customer | None:
    if customer_id is None:
        return None
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise TicketError(f"customer {customer_id} does not exist", {"customer_id": "unknown customer"})
    return customer


def _clock_start(session: Session, ticket: Ticket) -> dt.datetime:
    """When the customer's clock started: creation, or the latest reopening."""
    reopened = session.scalar(select(func.max(TicketHistory.at)).where(
        TicketHistory.ticket_id == ticket.id, TicketHistory.action == "reopened"))
    return reopened or ticket.created_at


# --- work-order numbers ------------------------------------------------------------

def _next_number(session: Session, prefix: str) -> str:
    # Longest then greatest: GD…-10000 sorts after GD…-9999 on a very busy day.
    last = session.scalar(
        select(Ticket.number).where(Ticket.number.like(f"{prefix}%"))
        .order_by(func.length(Ticket.number).desc(), Ticket.number.desc()).limit(1)
    )
    sequence = int(last[len(prefix):]) + 1 if last else 1
    return f"{prefix}{sequence:04d}"


def _assign_number(session: Session, settings: Settings, ticket: Ticket, now: dt.datetime) -> None:
    """GD<local YYYYMMDD>-<NNNN>, unique under concurrent creation.

    The ticket row is already flushed with a placeholder number, so the caller's
    transaction is open: on SQLite it holds the database's write lock from here on,
    and on PostgreSQL a transaction-level advisory lock per day does the same, so
    creators take numbers one after the other instead of colliding. Whatever gets
    past that (another writer that does not take the lock) is caught by the unique
    index: the number is tried in a savepoint and the next one is tried after a
    unique violation."""
    prefix = f"GD{to_local(now, settings.timezone):%Y%m%d}-"
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"),
                        {"key": f"callcenter.ticket_number.{prefix}"})
    for _attempt in range(NUMBER_ATTEMPTS):
        candidate = _next_number(session, prefix)
        try:
            with session.begin_nested():
                session.execute(update(Ticket).where(Ticket.id == ticket.id).values(number=candidate),
                                execution_options={"synchronize_session": False})
        except IntegrityError:
            continue
        session.refresh(ticket, ["number"])
        return
    raise TicketError(f"could not allocate a work-order number after {NUMBER_ATTEMPTS} attempts; try again")


# --- deadlines and escalation ----------------------------------------------------------

def _apply_due(session: Session, settings: Settings, ticket: Ticket, start: dt.datetime) -> dict[str, Any]:
    """Recompute due_at from ``start``; returns the history entries for what changed."""
    deadline = deadlines.due(session, settings, ticket, start)
    new_due = deadline.at if deadline else None
    changes: dict[str, Any] = {}
    if new_due != ticket.due_at:
        changes["due_at"] = [_plain(ticket.due_at), _plain(new_due)]
        ticket.due_at = new_due
        if deadline is not None:
            changes["rule"] = deadlines.describe(settings, deadline)
    if ticket.escalation_level == 0 and ticket.status != TicketStatus.CLOSED:
        ticket.escalation_due_at = new_due
    return changes


def _apply_department_due(settings: Settings, ticket: Ticket, passed_at: dt.datetime) -> dict[str, Any]:
    deadline = deadlines.department_due(settings, ticket, passed_at)
    new_due = deadline.at if deadline else None
    if new_due == ticket.department_due_at:
        return {}
    changes = {"department_due_at": [_plain(ticket.department_due_at), _plain(new_due)]}
    if deadline is not None:
        changes["department_rule"] = deadlines.describe(settings, deadline)
    ticket.department_due_at = new_due
    return changes


def _major_complaint_reason(ticket: Ticket, customer: Customer | None) -> str:
    if ticket.type is not TicketType.COMPLAINT or ticket.invalid:
        return ""
    if ticket.severity == "serious":
        return "重大投诉 serious complaint goes straight to the manager"
    if customer is not None and customer.important:
        return "重要业户 complaint from an important customer goes straight to the manager"
    return ""


# --- the contract ------------------------------------------------------------------------

def create_ticket(session: Session, settings: Settings, *, actor: User, type: str, subject: str,
                  description: str = "", customer_id: int | None = None, call_linkedid: str = "",
                  contact_phone: str = "", fields: dict[str, Any] | None = None,
                  severity: str = "", urgency: str = "", department: str = "",
                  appointment_at: dt.datetime | None = None, paid: bool | None = None,
                  promised_reply_at: dt.datetime | None = None, invalid: bool = False,
                  now: dt.datetime | None = None) -> Ticket:
    _require_writer(actor)
    if actor is None:
        raise TicketError("a ticket needs the agent who takes it (the owner)")
    now = now or utcnow()
    try:
        kind = TicketType(type)
    except ValueError as exc:
        raise TicketError(f"unknown ticket type {type!r}; choose one of "
                          f"{', '.join(t.value for t in TicketType)}", {"type": "unknown type"}) from exc
    columns = {"severity": (severity or "").strip(), "urgency": (urgency or "").strip(), "invalid": invalid,
               "appointment_at": appointment_at, "paid": paid,
               "contact_phone": (contact_phone or "").strip()}
    # Every problem at once: the agent fixes the form in one go.
    subject, customer, clean_fields, _, _ = _all_errors(
        lambda: _clean_subject(subject), lambda: _check_customer(session, customer_id),
        lambda: _validated_fields(kind, fields), lambda: _check_type_columns(kind, columns),
        lambda: _validated_columns(kind, columns),
    )

    ticket = Ticket(
        number=f"new-{uuid.uuid4().hex[:24]}", type=kind, status=TicketStatus.OPEN,
        customer_id=customer_id, call_linkedid=(call_linkedid or "").strip()[:64],
        owner_id=actor.id, assignee_id=actor.id, subject=subject,
        description=(description or "").strip(), contact_phone=columns["contact_phone"][:64],
        fields=clean_fields, severity=columns["severity"], urgency=columns["urgency"],
        invalid=bool(invalid), department=(department or "").strip()[:64],
        appointment_at=appointment_at, paid=paid, promised_reply_at=promised_reply_at,
        escalation_level=0, created_at=now, updated_at=now,
    )
    session.add(ticket)
    session.flush()
    _assign_number(session, settings, ticket, now)
    due_changes = _apply_due(session, settings, ticket, now)
    due_changes |= _apply_department_due(settings, ticket, now)
    session.flush()

    initial = {
        name: [None, _plain(getattr(ticket, name))]
        for name in ("number", "type", "status", "subject", "description", "customer_id", "call_linkedid",
                     "contact_phone", "severity", "urgency", "invalid", "department", "appointment_at",
                     "paid", "promised_reply_at", "owner_id", "assignee_id")
        if getattr(ticket, name) not in (None, "", False)
    }
    initial.update({f"fields.{k}": [None, v] for k, v in clean_fields.items()})
    _history(session, ticket, actor, "created", initial | due_changes, now)
    session.flush()

    reason = _major_complaint_reason(ticket, customer)
    if reason:
        escalation.escalate_to_top(session, settings, ticket, reason, actor=actor, now=now)
    ticket_created.send(ticket, session=session, actor=actor)
    return ticket


def update_ticket(session: Session, settings: Settings, ticket: Ticket, *, actor: User,
                  now: dt.datetime | None = None, note: str = "", **changes: Any) -> Ticket:
    """Apply ``changes`` (see EDITABLE); ``fields`` merges into the stored fields (an
    empty value removes a key). ``note`` adds a free-text entry to the history. No
    history row when nothing changed."""
    _require_writer(actor)
    now = now or utcnow()
    _check_editable(ticket, changes)
    kind = TicketType(ticket.type)
    _normalise_changes(ticket, kind, changes)
    if "assignee_id" in changes:
        _check_assignee(session, changes["assignee_id"])
    customer = _check_customer(session, changes["customer_id"]) if changes.get("customer_id") else None
    # A transferred call: the agent now working on it becomes the assignee; the owner stays.
    if (actor is not None and actor.role == Role.AGENT and "assignee_id" not in changes
            and actor.id not in (ticket.owner_id, ticket.assignee_id)):
        changes["assignee_id"] = actor.id

    diff = _apply_changes(ticket, changes)
    note = (note or "").strip()
    if not diff and not note:
        return ticket
    if note:
        diff["note"] = note
    if DEADLINE_INPUTS & set(diff):
        diff |= _apply_due(session, settings, ticket, _clock_start(session, ticket))
    if {"department", "invalid"} & set(diff) or (kind is TicketType.REPAIR and "appointment_at" in diff):
        passed_at = now if kind is TicketType.COMPLAINT else _clock_start(session, ticket)
        diff |= _apply_department_due(settings, ticket, passed_at)
    ticket.updated_at = now
    _history(session, ticket, actor, "updated", diff, now)
    session.flush()

    if {"severity", "customer_id", "invalid"} & set(diff):
        reason = _major_complaint_reason(ticket, customer or ticket.customer)
        if reason:
            escalation.escalate_to_top(session, settings, ticket, reason, actor=actor, now=now)
    ticket_updated.send(ticket, session=session, actor=actor, changes=diff)
    return ticket


def _check_editable(ticket: Ticket, changes: dict[str, Any]) -> None:
    """The owner never changes (首问负责制), only EDITABLE keys, never a closed ticket."""
    if "owner_id" in changes and changes["owner_id"] != ticket.owner_id:
        raise TicketError("the owner never changes: the agent who took the ticket stays responsible "
                          "(首问负责制); change the assignee instead", {"owner_id": "cannot change"})
    changes.pop("owner_id", None)
    unknown = sorted(set(changes) - EDITABLE)
    if unknown:
        raise TicketError(f"cannot change {', '.join(unknown)} here", {k: "not editable" for k in unknown})
    if ticket.status == TicketStatus.CLOSED:
        raise TicketError(f"ticket {ticket.number} is closed; reopen it first (with a reason)")


def _normalise_changes(ticket: Ticket, kind: TicketType, changes: dict[str, Any]) -> None:
    """Clean and validate the requested values in place (status, text, fields per type)."""
    if "status" in changes:
        status = TicketStatus(changes["status"])
        if status == TicketStatus.CLOSED:
            raise TicketError("closing needs a resolution: use close")
        if status == TicketStatus.REOPENED and ticket.status != TicketStatus.REOPENED:
            raise TicketError("only a closed ticket can be reopened")
        changes["status"] = status
    for key in ("severity", "urgency", "department", "contact_phone", "description"):
        if key in changes:
            changes[key] = (changes[key] or "").strip()
    if "subject" in changes:
        changes["subject"] = _clean_subject(changes["subject"])
    if "invalid" in changes:
        changes["invalid"] = bool(changes["invalid"])
    if "fields" in changes:
        merged = dict(ticket.fields or {})
        merged.update(changes["fields"] or {})
        changes["fields"] = _validated_fields(kind, {k: v for k, v in merged.items() if v not in (None, "")})
    _check_type_columns(kind, {k: changes[k] for k in (*COMPLAINT_ONLY, *REPAIR_ONLY)
                               if k in changes and changes[k] != getattr(ticket, k)})
    current = {k: getattr(ticket, k) for k in ("severity", "urgency", "contact_phone", "invalid")}
    _validated_columns(kind, current | {k: v for k, v in changes.items() if k in current})


def _apply_changes(ticket: Ticket, changes: dict[str, Any]) -> dict[str, Any]:
    """Set what differs; returns the history diff (``key: [old, new]``, fields per key)."""
    diff: dict[str, Any] = {}
    for key, new in changes.items():
        old = getattr(ticket, key)
        if key == "fields":
            for name in sorted(set(old or {}) | set(new)):
                if (old or {}).get(name) != new.get(name):
                    diff[f"fields.{name}"] = [(old or {}).get(name), new.get(name)]
            if new != (old or {}):
                ticket.fields = new
            continue
        if old != new:
            diff[key] = [_plain(old), _plain(new)]
            setattr(ticket, key, new)
    return diff


def close_ticket(session: Session, settings: Settings, ticket: Ticket, *, actor: User,
                 resolution: str, now: dt.datetime | None = None) -> Ticket:
    _require_writer(actor)
    now = now or utcnow()
    resolution = (resolution or "").strip()
    if not resolution:
        raise TicketError("closing needs a resolution: say what was done for the customer",
                          {"resolution": "required"})
    if ticket.status == TicketStatus.CLOSED:
        raise TicketError(f"ticket {ticket.number} is already closed")
    changes = {"status": [_plain(ticket.status), TicketStatus.CLOSED.value],
               "resolution": [ticket.resolution or None, resolution]}
    ticket.status = TicketStatus.CLOSED
    ticket.resolution = resolution
    ticket.closed_at = now
    ticket.closed_by_id = actor.id if actor else None
    ticket.escalation_due_at = None
    ticket.updated_at = now
    _history(session, ticket, actor, "closed", changes, now)
    session.flush()
    survey = request_survey(session, settings, ticket, now=now) if ticket.type in SURVEY_TYPES else None
    ticket_closed.send(ticket, session=session, actor=actor, survey=survey)
    return ticket


def reopen_ticket(session: Session, settings: Settings, ticket: Ticket, *, actor: User | None,
                  reason: str, now: dt.datetime | None = None) -> Ticket:
    """Reopen a closed ticket (dissatisfied survey answer, the problem came back).
    ``actor`` None means the system did it. The deadlines restart now; the escalation
    level reached is kept. Pending surveys of the earlier closing are cancelled."""
    _require_writer(actor)
    now = now or utcnow()
    reason = (reason or "").strip()
    if not reason:
        raise TicketError("reopening needs a reason (e.g. 回访不满意)", {"reason": "required"})
    if ticket.status != TicketStatus.CLOSED:
        raise TicketError(f"ticket {ticket.number} is not closed")
    changes: dict[str, Any] = {"status": [TicketStatus.CLOSED.value, TicketStatus.REOPENED.value],
                               "reason": reason, "closed_at": [_plain(ticket.closed_at), None]}
    ticket.status = TicketStatus.REOPENED
    ticket.closed_at = None
    ticket.closed_by_id = None
    ticket.updated_at = now
    cancelled = session.execute(
        update(SurveyRequest).where(SurveyRequest.ticket_id == ticket.id,
                                    SurveyRequest.status == SurveyStatus.PENDING)
        .values(status=SurveyStatus.CANCELLED), execution_options={"synchronize_session": "fetch"},
    ).rowcount
    if cancelled:
        changes["surveys_cancelled"] = cancelled
    changes |= _apply_due(session, settings, ticket, now)
    if ticket.escalation_level < escalation.TOP_LEVEL:
        ticket.escalation_due_at = ticket.due_at
    _history(session, ticket, actor, "reopened", changes, now)
    session.flush()
    ticket_reopened.send(ticket, session=session, actor=actor, reason=reason)
    return ticket


def request_survey(session: Session, settings: Settings, ticket: Ticket, *,
                   now: dt.datetime | None = None) -> SurveyRequest:
    """The 回访 hook: a follow-up call due within 3 days of closing (repairs: 2 days).
    The numbers are ``settings.survey_due_days`` / ``survey_repair_due_days``."""
    now = now or utcnow()
    days = settings.survey_repair_due_days if ticket.type is TicketType.REPAIR else settings.survey_due_days
    number = ticket.contact_phone
    if not number and ticket.customer is not None and ticket.customer.phones:
        number = ticket.customer.phones[0].e164
    survey = SurveyRequest(ticket_id=ticket.id, customer_id=ticket.customer_id, number=number,
                           due_at=now + dt.timedelta(days=days), status=SurveyStatus.PENDING, created_at=now)
    session.add(survey)
    session.flush()
    survey_requested.send(ticket, session=session, survey=survey)
    return survey


def tickets_for_customer(session: Session, customer_id: int, *, open_only: bool = False,
                         limit: int = 20) -> list[Ticket]:
    query = select(Ticket).where(Ticket.customer_id == customer_id)
    if open_only:
        query = query.where(Ticket.status != TicketStatus.CLOSED)
    return list(session.scalars(query.order_by(Ticket.created_at.desc(), Ticket.id.desc()).limit(limit)))


def tickets_for_call(session: Session, linkedid: str) -> list[Ticket]:
    """Tickets already logged from this call (linkedid survives transfers), newest first:
    the agent who receives a transferred call updates one of these instead of starting over."""
    if not linkedid:
        return []
    return list(session.scalars(select(Ticket).where(Ticket.call_linkedid == linkedid)
                                .order_by(Ticket.id.desc())))


def get_ticket(session: Session, ticket_id: int) -> Ticket | None:
    return session.get(Ticket, ticket_id)


# --- lists for the panel ------------------------------------------------------------------

SCOPES = ("mine", "open", "overdue", "all")


def overdue_condition(now: dt.datetime):
    """Open and past any deadline: the commitment, the promise to the customer, or the department's."""
    return (Ticket.status != TicketStatus.CLOSED) & or_(
        Ticket.due_at < now, Ticket.promised_reply_at < now, Ticket.department_due_at < now)


def list_tickets(session: Session, *, scope: str, user: User, now: dt.datetime | None = None,
                 type: str = "", query: str = "", limit: int = 50, offset: int = 0,
                 partial_numbers: bool = False) -> list[Ticket]:
    """A scope's tickets, deadlines first. ``query`` matches the number, the subject and
    the contact phone; the phone by part of it only when ``partial_numbers`` (a role that
    sees full numbers): for a masked role a partial match would reveal hidden digits,
    so it finds a ticket by the whole number only."""
    if scope not in SCOPES:
        raise TicketError(f"unknown list {scope!r}; choose one of {', '.join(SCOPES)}")
    now = now or utcnow()
    stmt = select(Ticket)
    if scope == "mine":
        stmt = stmt.where(or_(Ticket.owner_id == user.id, Ticket.assignee_id == user.id))
    elif scope == "open":
        stmt = stmt.where(Ticket.status != TicketStatus.CLOSED)
    elif scope == "overdue":
        stmt = stmt.where(overdue_condition(now))
    if type:
        stmt = stmt.where(Ticket.type == TicketType(type))
    query = clean_search_text(query)
    if query:
        phone = (Ticket.contact_phone.contains(query, autoescape=True) if partial_numbers
                 else Ticket.contact_phone == query)
        stmt = stmt.where(or_(Ticket.number.contains(query, autoescape=True),
                              Ticket.subject.contains(query, autoescape=True), phone))
    closed_last = (Ticket.status == TicketStatus.CLOSED)
    stmt = stmt.order_by(closed_last, Ticket.due_at.is_(None), Ticket.due_at, Ticket.id.desc())
    # The list shows each ticket's customer: one query for all of them.
    return list(session.scalars(stmt.options(selectinload(Ticket.customer)).limit(limit).offset(offset)))


def missed(ticket: Ticket, now: dt.datetime | None = None) -> dict[str, bool]:
    """Which deadlines of an open ticket have passed (the panel marks them)."""
    now = now or utcnow()
    if ticket.status == TicketStatus.CLOSED:
        return {"due": False, "promise": False, "department": False}
    return {
        "due": ticket.due_at is not None and ticket.due_at < now,
        "promise": ticket.promised_reply_at is not None and ticket.promised_reply_at < now,
        "department": ticket.department_due_at is not None and ticket.department_due_at < now,
    }
