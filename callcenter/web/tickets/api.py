"""JSON for the agent console: prefill from a popped call, create, notifications."""

from __future__ import annotations

from typing import Any

from flask import jsonify, request, url_for
from flask_login import current_user

from callcenter.labels import TICKET_STATUSES, TICKET_TYPES, label
from callcenter.models import Ticket, TicketType
from callcenter.services.tickets import fields as ticket_fields
from callcenter.services.tickets import notifications, tickets
from callcenter.web.context import panel, unit_of_work
from callcenter.web.roles import roles_required
from callcenter.web.tickets import forms, present
from callcenter.web.tickets.blueprint import bp


def _json_ticket(ticket: Ticket) -> dict[str, Any]:
    return {"id": ticket.id, "number": ticket.number, "type": ticket.type.value,
            "type_label": label(TICKET_TYPES, ticket.type), "subject": ticket.subject,
            "status": ticket.status.value, "status_label": label(TICKET_STATUSES, ticket.status),
            "due_at": present.local(ticket.due_at), "url": url_for("tickets.view", ticket_id=ticket.id)}


@bp.route("/api/tickets/prefill")
@roles_required(*present.WRITERS)
def api_prefill():
    with unit_of_work() as s:
        ticket_type, values, existing = forms.prefill(s, request.args)
        return jsonify(
            type=ticket_type.value if ticket_type else "",
            customer_id=values["customer_id"], call_linkedid=values["call_linkedid"],
            contact_phone=values["contact_phone"], fields=values["fields"],
            existing=[_json_ticket(t) for t in existing],
            form_url=url_for("tickets.new", **{k: v for k, v in request.args.items()
                                               if k in ("customer_id", "linkedid", "phone", "category", "type")}),
            field_specs={t.value: [{"name": f.name, "label": f.label, "kind": f.kind, "required": f.required,
                                    "choices": [[c.value, c.label] for c in f.choices]}
                                   for f in ticket_fields.specs_for(t)] for t in TicketType},
        )


_JSON_TEXT_KEYS = ("subject", "description", "call_linkedid", "contact_phone", "severity", "urgency",
                   "department")
_JSON_TIME_KEYS = ("appointment_at", "promised_reply_at")


@bp.route("/api/tickets", methods=["POST"])
@roles_required(*present.WRITERS)
def api_create():
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return jsonify(error="a JSON object is expected"), 400
    errors: dict[str, str] = {}
    values: dict[str, Any] = {}
    for key in _JSON_TEXT_KEYS:
        if body.get(key) is not None:
            if isinstance(body[key], str):
                values[key] = body[key]
            else:
                errors[key] = f"{key} must be text"
    for key in ("invalid", "paid"):
        if body.get(key) is not None:
            if isinstance(body[key], bool):
                values[key] = body[key]
            else:
                errors[key] = f"{key} must be true or false"
    for key in _JSON_TIME_KEYS:
        if body.get(key):
            values[key] = forms.parse_local(key, str(body[key]), errors)
    if body.get("customer_id") not in (None, ""):
        values["customer_id"] = forms.parse_int("customer_id", str(body["customer_id"]), errors)
    if body.get("fields") is not None:
        if isinstance(body["fields"], dict):
            values["fields"] = body["fields"]
        else:
            errors["fields"] = "fields must be an object"
    if errors:
        return jsonify(error="; ".join(errors.values()), errors=errors), 400
    values.setdefault("subject", "")
    try:
        with unit_of_work() as s:
            ticket = tickets.create_ticket(s, panel().settings, actor=present.actor(s), type=str(body.get("type", "")),
                                           **values)
            result = _json_ticket(ticket)
        present.publish(s)
    except tickets.TicketPermissionError as exc:
        return jsonify(error=str(exc)), 403
    except tickets.TicketError as exc:
        return jsonify(error=str(exc), errors=exc.errors), 400
    return jsonify(result), 201


@bp.route("/api/notifications")
@roles_required(*present.READERS)
def api_notifications():
    with unit_of_work() as s:
        items = notifications.for_user(s, current_user.id, unread_only=True, limit=50)
        return jsonify(unread=notifications.unread_count(s, current_user.id),
                       items=[{"id": n.id, "message": n.message, "ticket_id": n.ticket_id,
                               "at": present.local(n.created_at)} for n in items])


@bp.route("/api/notifications/read", methods=["POST"])
@roles_required(*present.READERS)
def api_notifications_read():
    body = request.get_json(silent=True) or {}
    ids = body.get("ids") if isinstance(body, dict) else None
    if ids is not None and (not isinstance(ids, list) or not all(isinstance(i, int) for i in ids)):
        return jsonify(error="ids must be a list of numbers"), 400
    with unit_of_work() as s:
        count = notifications.mark_read(s, current_user.id, ids)
    return jsonify(marked=count)
