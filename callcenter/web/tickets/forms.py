"""Reading submitted ticket forms and building the form pages' context."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.orm import Session

from callcenter.labels import TICKET_STATUSES, TICKET_TYPES, label
from callcenter.models import Ticket, TicketType
from callcenter.services.tickets import fields as ticket_fields
from callcenter.services.tickets import lookups, tickets
from callcenter.timeutil import to_utc_naive
from callcenter.web.context import panel
from callcenter.web.tickets import present


class FormError(ValueError):
    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(errors.values()))
        self.errors = errors


def parse_local(name: str, text: str, errors: dict[str, str]) -> dt.datetime | None:
    text = (text or "").strip()
    if not text:
        return None
    for fmt in ("%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"):
        try:
            return to_utc_naive(dt.datetime.strptime(text, fmt), panel().settings.timezone)
        except ValueError:
            continue
    errors[name] = f"{present.COLUMN_LABELS.get(name, name)}：{text!r} 不是有效的日期时间 (YYYY-MM-DD HH:MM)"
    return None


def parse_int(name: str, text: str | None, errors: dict[str, str]) -> int | None:
    text = (text or "").strip()
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        errors[name] = f"{present.COLUMN_LABELS.get(name, name)}：{text!r} 不是编号 (not an id)"
        return None


def parse_paid(text: str | None) -> bool | None:
    return {"paid": True, "warranty": False}.get((text or "").strip())


def form_values(form, ticket_type: TicketType, *, creating: bool) -> dict[str, Any]:
    """The service keyword arguments from a submitted ticket form (raises FormError)."""
    errors: dict[str, str] = {}
    values: dict[str, Any] = {
        "subject": form.get("subject", ""),
        "description": form.get("description", ""),
        "contact_phone": form.get("contact_phone", ""),
        "department": form.get("department", ""),
        "promised_reply_at": parse_local("promised_reply_at", form.get("promised_reply_at"), errors),
        "fields": {spec.name: form.get(f"f_{spec.name}", "") for spec in ticket_fields.specs_for(ticket_type)},
    }
    if ticket_type is TicketType.COMPLAINT:
        values.update(severity=form.get("severity", ""), urgency=form.get("urgency", ""),
                      invalid=form.get("invalid") == "1")
    if ticket_type is TicketType.REPAIR:
        values.update(appointment_at=parse_local("appointment_at", form.get("appointment_at"), errors),
                      paid=parse_paid(form.get("paid")))
        if not creating:
            values["completed_at"] = parse_local("completed_at", form.get("completed_at"), errors)
    if creating:
        values["customer_id"] = parse_int("customer_id", form.get("customer_id"), errors)
        values["call_linkedid"] = form.get("call_linkedid", "")
    else:
        if form.get("status") in ("open", "in_progress"):
            values["status"] = form["status"]
        if "assignee_id" in form:
            values["assignee_id"] = parse_int("assignee_id", form.get("assignee_id"), errors)
        if "customer_id" in form:
            values["customer_id"] = parse_int("customer_id", form.get("customer_id"), errors)
    if errors:
        raise FormError(errors)
    return values


# --- form context ----------------------------------------------------------------------------

def form_context(session: Session, ticket_type: TicketType, values: dict[str, Any], *,
                  ticket: Ticket | None = None, errors: dict[str, str] | None = None,
                  existing: list[Ticket] | None = None) -> dict[str, Any]:
    customer = lookups.customer(session, values.get("customer_id"))
    assignees = [] if ticket is None else [
        {"id": u.id, "name": u.display_name or u.username} for u in lookups.assignees(session)]
    return {
        "ticket_type": ticket_type.value, "type_label": label(TICKET_TYPES, ticket_type),
        "specs": ticket_fields.specs_for(ticket_type), "values": values, "errors": errors or {},
        "severities": ticket_fields.SEVERITIES, "urgencies": ticket_fields.URGENCIES,
        "customer": {"id": customer.id, "name": customer.name, "important": customer.important} if customer else None,
        "ticket": {"id": ticket.id, "number": ticket.number, "owner_id": ticket.owner_id} if ticket else None,
        "assignees": assignees,
        "existing": [{"id": t.id, "number": t.number, "subject": t.subject,
                      "status_label": label(TICKET_STATUSES, t.status)} for t in existing or []],
        "types": [(t.value, label(TICKET_TYPES, t)) for t in TicketType],
    }


def prefill(session: Session, args) -> tuple[TicketType | None, dict[str, Any], list[Ticket]]:
    """What the console knows about the popped call, as initial form values."""
    errors: dict[str, str] = {}
    customer_id = parse_int("customer_id", args.get("customer_id"), errors)
    customer = lookups.customer(session, customer_id)
    linkedid = (args.get("linkedid") or "").strip()[:64]
    requested = (args.get("type") or args.get("category") or "").strip()
    ticket_type = TicketType(requested) if requested in {t.value for t in TicketType} else None
    phone = (args.get("phone") or "").strip()[:64]
    if not phone and customer is not None and customer.phones:
        phone = customer.phones[0].raw or customer.phones[0].e164
    fields: dict[str, str] = {}
    if customer is not None:
        fields.update(complainant=customer.name, name=customer.name, area=customer.area,
                      building=customer.building, unit=customer.unit, room=customer.room,
                      address=customer.address or " ".join(p for p in (customer.area, customer.unit_address) if p))
    if ticket_type is not None:
        known = {s.name for s in ticket_fields.specs_for(ticket_type)}
        fields = {k: v for k, v in fields.items() if k in known and v}
        if ticket_type is TicketType.COMPLAINT and linkedid:
            fields.setdefault("channel", "phone")
    values = {"customer_id": customer.id if customer else None, "call_linkedid": linkedid,
              "contact_phone": phone, "subject": "", "description": "", "department": "",
              "fields": fields, "severity": "", "urgency": "", "invalid": False}
    return ticket_type, values, tickets.tickets_for_call(session, linkedid)


def edit_values(ticket: Ticket) -> dict[str, Any]:
    return {
        "subject": ticket.subject, "description": ticket.description, "contact_phone": ticket.contact_phone,
        "department": ticket.department, "promised_reply_at": present.input_value(ticket.promised_reply_at),
        "fields": dict(ticket.fields or {}), "severity": ticket.severity, "urgency": ticket.urgency,
        "invalid": ticket.invalid, "appointment_at": present.input_value(ticket.appointment_at),
        "completed_at": present.input_value(ticket.completed_at),
        "paid": {True: "paid", False: "warranty", None: ""}[ticket.paid],
        "status": ticket.status.value, "assignee_id": ticket.assignee_id, "customer_id": ticket.customer_id,
    }


def redisplay(form, values_or_none: dict[str, Any] | None = None) -> dict[str, Any]:
    """A rejected form shown again with what the user typed (never lose input)."""
    values = dict(values_or_none or {})
    for key in ("subject", "description", "contact_phone", "department", "severity", "urgency",
                "promised_reply_at", "appointment_at", "completed_at", "paid", "status", "call_linkedid"):
        values[key] = form.get(key, "")
    values["invalid"] = form.get("invalid") == "1"
    values["fields"] = {k[2:]: v for k, v in form.items() if k.startswith("f_")}
    values["customer_id"] = parse_int("customer_id", form.get("customer_id"), {})
    values["assignee_id"] = parse_int("assignee_id", form.get("assignee_id"), {})
    return values
