"""The ticket and notification pages (HTML, forms with CSRF tokens)."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from callcenter.db import utcnow
from callcenter.labels import TICKET_TYPES, label
from callcenter.models import TicketStatus, TicketType
from callcenter.services.people import audit, users
from callcenter.services.people.masking import sees_full_numbers
from callcenter.services.tickets import notifications, tickets
from callcenter.web.context import panel, unit_of_work
from callcenter.web.roles import AGENT, SUPERVISOR, roles_required
from callcenter.web.tickets import forms, present
from callcenter.web.tickets.blueprint import bp

# --- lists and detail --------------------------------------------------------------------------

@bp.route("/tickets/")
@roles_required(*present.READERS)
def index():
    scopes = present.SCOPES_BY_ROLE[current_user.role]
    scope = request.args.get("scope") or scopes[0]
    if scope not in scopes:
        abort(403)
    ticket_type = request.args.get("type", "")
    if ticket_type and ticket_type not in {t.value for t in TicketType}:
        ticket_type = ""
    query = request.args.get("q", "").strip()[:64]
    page = max(1, forms.parse_int("page", request.args.get("page"), {}) or 1)
    now = utcnow()
    with unit_of_work() as s:
        user = present.actor(s)
        found = tickets.list_tickets(s, scope=scope, user=user, now=now, type=ticket_type, query=query,
                                     limit=present.PAGE_SIZE + 1, offset=(page - 1) * present.PAGE_SIZE,
                                     partial_numbers=sees_full_numbers(panel().settings, current_user.role))
        names = users.display_names(s, {t.owner_id for t in found} | {t.assignee_id for t in found if t.assignee_id})
        rows = [present.summary(t, names, now) for t in found[:present.PAGE_SIZE]]
    return render_template("tickets/index.html", rows=rows, scope=scope, scopes=scopes,
                           scope_labels=present.SCOPE_LABELS, ticket_type=ticket_type, q=query, page=page,
                           has_next=len(found) > present.PAGE_SIZE, types=[(t.value, label(TICKET_TYPES, t)) for t in TicketType],
                           can_write=present.can_write())


@bp.route("/tickets/<int:ticket_id>")
@roles_required(*present.READERS)
def view(ticket_id: int):
    with unit_of_work() as s:
        ticket = present.load(s, ticket_id)
        data = present.detail(s, ticket)
        audit.record(s, user_id=current_user.id, action=audit.VIEW, object_type="ticket", object_id=ticket.id)
    return render_template("tickets/view.html", t=data, can_write=present.can_write(),
                           can_open_customer=current_user.role in (AGENT, SUPERVISOR))


# --- create ---------------------------------------------------------------------------------------

@bp.route("/tickets/new", methods=["GET"])
@roles_required(*present.WRITERS)
def new():
    with unit_of_work() as s:
        ticket_type, values, existing = forms.prefill(s, request.args)
        if ticket_type is None:
            # Choose the type first: each type has its own form (no script needed).
            context = forms.form_context(s, TicketType.CONSULTATION, values, existing=existing)
            return render_template("tickets/choose_type.html", args=request.args, **context)
        context = forms.form_context(s, ticket_type, values, existing=existing)
    return render_template("tickets/form.html", mode="new", **context)


@bp.route("/tickets/new", methods=["POST"])
@roles_required(*present.WRITERS)
def create():
    raw_type = request.form.get("type", "")
    if raw_type not in {t.value for t in TicketType}:
        abort(400)
    ticket_type = TicketType(raw_type)
    try:
        values = forms.form_values(request.form, ticket_type, creating=True)
        with unit_of_work() as s:
            ticket = tickets.create_ticket(s, panel().settings, actor=present.actor(s), type=ticket_type.value, **values)
            ticket_id, number = ticket.id, ticket.number
        present.publish(s)
    except (forms.FormError, tickets.TicketError) as exc:
        if isinstance(exc, tickets.TicketPermissionError):
            abort(403)
        with unit_of_work() as s2:
            context = forms.form_context(s2, ticket_type, forms.redisplay(request.form), errors=exc.errors or {"": str(exc)},
                                    existing=tickets.tickets_for_call(s2, request.form.get("call_linkedid", "")))
        return render_template("tickets/form.html", mode="new", **context), 400
    flash(f"工单 {number} 已创建 (ticket created)")
    return redirect(url_for("tickets.view", ticket_id=ticket_id))


# --- edit, note, close, reopen ----------------------------------------------------------------------

@bp.route("/tickets/<int:ticket_id>/edit", methods=["GET"])
@roles_required(*present.WRITERS)
def edit(ticket_id: int):
    with unit_of_work() as s:
        ticket = present.load(s, ticket_id)
        if ticket.status == TicketStatus.CLOSED:
            flash("工单已关闭，请先重新打开 (closed: reopen it first)")
            return redirect(url_for("tickets.view", ticket_id=ticket_id))
        context = forms.form_context(s, ticket.type, forms.edit_values(ticket), ticket=ticket)
    return render_template("tickets/form.html", mode="edit", **context)


@bp.route("/tickets/<int:ticket_id>/edit", methods=["POST"])
@roles_required(*present.WRITERS)
def update(ticket_id: int):
    try:
        with unit_of_work() as s:
            ticket = present.load(s, ticket_id)
            values = forms.form_values(request.form, ticket.type, creating=False)
            tickets.update_ticket(s, panel().settings, ticket, actor=present.actor(s),
                                  note=request.form.get("note", ""), **values)
            number = ticket.number
        present.publish(s)
    except (forms.FormError, tickets.TicketError) as exc:
        if isinstance(exc, tickets.TicketPermissionError):
            abort(403)
        with unit_of_work() as s2:
            ticket = present.load(s2, ticket_id)
            context = forms.form_context(s2, ticket.type, forms.redisplay(request.form), ticket=ticket,
                                    errors=exc.errors or {"": str(exc)})
        return render_template("tickets/form.html", mode="edit", **context), 400
    flash(f"工单 {number} 已保存 (saved)")
    return redirect(url_for("tickets.view", ticket_id=ticket_id))


def _transition(ticket_id: int, action: str) -> Any:
    """close / reopen / note from the detail page's small forms."""
    text = request.form.get("text", "")
    try:
        with unit_of_work() as s:
            ticket = present.load(s, ticket_id)
            settings, actor = panel().settings, present.actor(s)
            if action == "close":
                tickets.close_ticket(s, settings, ticket, actor=actor, resolution=text)
            elif action == "reopen":
                tickets.reopen_ticket(s, settings, ticket, actor=actor, reason=text)
            else:
                if not text.strip():
                    raise tickets.TicketError("备注不能为空 (the note is empty)")
                tickets.update_ticket(s, settings, ticket, actor=actor, note=text)
            number = ticket.number
        present.publish(s)
    except tickets.TicketPermissionError:
        abort(403)
    except tickets.TicketError as exc:
        flash(str(exc), "error")
        return redirect(url_for("tickets.view", ticket_id=ticket_id))
    done = {"close": "已关闭 (closed)", "reopen": "已重新打开 (reopened)", "note": "备注已添加 (note added)"}[action]
    flash(f"工单 {number} {done}")
    return redirect(url_for("tickets.view", ticket_id=ticket_id))


@bp.route("/tickets/<int:ticket_id>/close", methods=["POST"])
@roles_required(*present.WRITERS)
def close(ticket_id: int):
    return _transition(ticket_id, "close")


@bp.route("/tickets/<int:ticket_id>/reopen", methods=["POST"])
@roles_required(*present.WRITERS)
def reopen(ticket_id: int):
    return _transition(ticket_id, "reopen")


@bp.route("/tickets/<int:ticket_id>/note", methods=["POST"])
@roles_required(*present.WRITERS)
def note(ticket_id: int):
    return _transition(ticket_id, "note")


# --- notifications -------------------------------------------------------------------------------

@bp.route("/notifications/")
@roles_required(*present.READERS)
def notifications_page():
    with unit_of_work() as s:
        rows = [{"id": n.id, "message": n.message, "ticket_id": n.ticket_id, "at": present.local(n.created_at),
                 "read": n.read_at is not None}
                for n in notifications.for_user(s, current_user.id, limit=200)]
    return render_template("tickets/notifications.html", rows=rows)


@bp.route("/notifications/read", methods=["POST"])
@roles_required(*present.READERS)
def notifications_read():
    ids = None
    if request.form.get("all") != "1":
        errors: dict[str, str] = {}
        ids = [i for i in (forms.parse_int("id", v, errors) for v in request.form.getlist("id")) if i is not None]
    with unit_of_work() as s:
        count = notifications.mark_read(s, current_user.id, ids)
    flash(f"{count} 条通知已读 (marked read)")
    return redirect(url_for("tickets.notifications_page"))
