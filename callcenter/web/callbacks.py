"""Callback tasks (不漏接一个电话): the open list and "done"."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from callcenter.labels import CALLBACK_REASONS, label
from callcenter.models import CallbackStatus
from callcenter.services.calls import callbacks
from callcenter.services.people.masking import phone_for
from callcenter.timeutil import to_local
from callcenter.web.context import panel, unit_of_work
from callcenter.web.roles import CALL_HANDLERS, roles_required

bp = Blueprint("callbacks", __name__, url_prefix="/callbacks")


@bp.route("/")
@roles_required(*CALL_HANDLERS)
def index():
    settings = panel().settings
    with unit_of_work() as s:
        tasks = [
            {
                "id": t.id,
                "number": phone_for(settings, current_user.role, t.number),
                "customer": t.customer.name if t.customer else "",
                "customer_id": t.customer_id,
                "reason": label(CALLBACK_REASONS, t.reason),
                "created_at": to_local(t.created_at, settings.timezone).strftime("%m-%d %H:%M"),
                "due_at": to_local(t.due_at, settings.timezone).strftime("%m-%d %H:%M") if t.due_at else "",
                "has_message": bool(t.message_file),
                "notes": t.notes,
            }
            for t in callbacks.open_callbacks(s)
        ]
    return render_template("callbacks/index.html", tasks=tasks)


@bp.route("/<int:task_id>/done", methods=["POST"])
@roles_required(*CALL_HANDLERS)
def done(task_id: int):
    notes = request.form.get("notes", "").strip()[:1000]
    with unit_of_work() as s:
        task = callbacks.get_callback(s, task_id)
        if task is None:
            abort(404)
        if task.status is not CallbackStatus.OPEN:
            flash(f"回访任务 {task_id} 已处理 (already closed)")
            return redirect(url_for("callbacks.index"))
        callbacks.complete_callback(s, task, current_user.id, notes)
    flash(f"回访任务 {task_id} 已完成")
    return redirect(url_for("callbacks.index"))
