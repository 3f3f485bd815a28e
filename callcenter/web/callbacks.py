"""Callback tasks (回电, 不漏接一个电话): the open list, claiming, click-to-dial and the
logged outcome. (回访 - the follow-up survey after a ticket - is elsewhere.)"""

from __future__ import annotations

import datetime as dt
import logging

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select

from callcenter.bus.core import BusUnavailable
from callcenter.db import utcnow
from callcenter.labels import CALLBACK_DIAL_STATUSES, CALLBACK_OUTCOMES, CALLBACK_REASONS, label
from callcenter.models import CallbackStatus, CallbackTask, Role, User
from callcenter.services.calls import callbacks
from callcenter.services.people import phones, users
from callcenter.services.people.masking import phone_for
from callcenter.timeutil import to_local
from callcenter.web.context import panel, unit_of_work
from callcenter.web.roles import CALL_HANDLERS, SUPERVISOR, roles_required

log = logging.getLogger(__name__)
bp = Blueprint("callbacks", __name__, url_prefix="/callbacks")

# The outcomes an agent picks from, in the order a call back usually goes.
OUTCOME_CHOICES = [(key, CALLBACK_OUTCOMES[key]) for key in
                   ("reached", "no_answer", "busy", "unreachable", "later", "wrong_number")]


def _when(value) -> str:
    return to_local(value, panel().settings.timezone).strftime("%m-%d %H:%M") if value else ""


def _row(s, task: CallbackTask, names: dict[int, str]) -> dict:
    settings = panel().settings
    tries = callbacks.attempts(s, task.id)
    last = tries[-1] if tries else None
    return {
        "id": task.id,
        "number": phone_for(settings, current_user.role, phones.national_digits(task.number, settings.phone_region)),
        "customer": task.customer.name if task.customer else "",
        "customer_id": task.customer_id,
        "reason": label(CALLBACK_REASONS, task.reason),
        "misses": task.miss_count,
        # Each missed call of the number, for the agent who wants to know when they rang.
        "miss_list": "\n".join(f"{_when(m.missed_at)} {label(CALLBACK_REASONS, m.reason)}"
                                for m in callbacks.misses(s, task.id)),
        "priority": task.priority,
        "last_missed_at": _when(task.last_missed_at or task.created_at),
        "due_at": _when(task.due_at),
        "overdue": task.due_at is not None and task.due_at < utcnow(),
        "has_message": bool(task.message_file),
        "notes": task.notes,
        "assigned_to": names.get(task.assigned_to_id, "") if task.assigned_to_id else "",
        "assigned_to_id": task.assigned_to_id,
        "mine": task.assigned_to_id == current_user.id,
        "attempts": task.attempt_count,
        "last_attempt": f"{_when(last.started_at)} {_attempt_words(last)}" if last else "",
        "open_attempt_id": last.id if last is not None and not last.outcome else None,
    }


def _attempt_words(attempt) -> str:
    if attempt.outcome:
        return label(CALLBACK_OUTCOMES, attempt.outcome)
    stale = dt.timedelta(seconds=panel().settings.callback_agent_ring_s + 30)
    if attempt.dial_status == "dialing" and utcnow() - attempt.started_at > stale:
        # Nobody answered the request: no AMI listener running, or Asterisk away.
        return "电话系统未回应，请重试或手动拨打"
    return label(CALLBACK_DIAL_STATUSES, attempt.dial_status)


@bp.route("/")
@roles_required(*CALL_HANDLERS)
def index():
    with unit_of_work() as s:
        open_tasks = callbacks.open_callbacks(s)
        names = users.display_names(s, {t.assigned_to_id for t in open_tasks if t.assigned_to_id})
        tasks = [_row(s, t, names) for t in open_tasks]
        agents = [(u.id, u.display_name or u.username) for u in s.scalars(
            select(User).where(User.active.is_(True), User.role.in_([Role.AGENT, Role.SUPERVISOR]))
            .order_by(User.username))] if current_user.role == SUPERVISOR else []
    return render_template("callbacks/index.html", tasks=tasks, outcomes=OUTCOME_CHOICES, agents=agents)


def _open_task(s, task_id: int) -> CallbackTask:
    task = callbacks.get_callback(s, task_id)
    if task is None:
        abort(404)
    return task


def _back():
    return redirect(url_for("callbacks.index"))


@bp.route("/<int:task_id>/claim", methods=["POST"])
@roles_required(*CALL_HANDLERS)
def claim(task_id: int):
    try:
        with unit_of_work() as s:
            callbacks.claim(s, _open_task(s, task_id), current_user.id)
    except callbacks.CallbackError as exc:
        flash(str(exc), "error")
        return _back()
    flash(f"已认领回电任务 {task_id}")
    return _back()


@bp.route("/<int:task_id>/assign", methods=["POST"])
@roles_required(SUPERVISOR)
def assign(task_id: int):
    raw = request.form.get("user_id", "").strip()
    user_id = int(raw) if raw.isdigit() else None
    try:
        with unit_of_work() as s:
            callbacks.assign(s, _open_task(s, task_id), user_id)
    except callbacks.CallbackError as exc:
        flash(str(exc), "error")
        return _back()
    flash(f"回电任务 {task_id} 已{'分配' if user_id else '取消分配'}")
    return _back()


@bp.route("/<int:task_id>/dial", methods=["POST"])
@roles_required(*CALL_HANDLERS)
def dial(task_id: int):
    """Click-to-dial: published for the AMI listener, which rings the agent's phone and
    then the customer; the answer comes back on the console's event stream."""
    p = panel()
    try:
        with unit_of_work() as s:
            user = users.get_user(s, current_user.id)
            _attempt, message = callbacks.start_dial(s, p.settings, _open_task(s, task_id), user)
    except callbacks.CallbackError as exc:
        flash(str(exc), "error")
        return _back()
    try:
        p.bus.publish("ami.action", message)
    except BusUnavailable as exc:
        log.error("click-to-dial not sent: %s", exc)
        with unit_of_work() as s:
            callbacks.record_dial_result(s, {"request_id": message["request_id"], "ok": False,
                                             "message": "事件总线不可用，未能拨号"})
        flash("事件总线不可用，未能拨号 (event bus unavailable)", "error")
        return _back()
    flash(f"正在呼叫您的话机（{message['interface']}），接听后自动拨打客户")
    return _back()


@bp.route("/<int:task_id>/outcome", methods=["POST"])
@roles_required(*CALL_HANDLERS)
def outcome(task_id: int):
    raw_attempt = request.form.get("attempt_id", "").strip()
    try:
        with unit_of_work() as s:
            task = _open_task(s, task_id)
            callbacks.log_outcome(s, panel().settings, task, user_id=current_user.id,
                                  outcome=request.form.get("outcome", ""),
                                  notes=request.form.get("notes", "").strip()[:1000],
                                  attempt_id=int(raw_attempt) if raw_attempt.isdigit() else None)
            closed = task.status is not CallbackStatus.OPEN
            word = label(CALLBACK_OUTCOMES, task.outcome)
    except callbacks.CallbackError as exc:
        flash(str(exc), "error")
        return _back()
    flash(f"回电任务 {task_id}：{word}" + ("，已完成" if closed else "，稍后再试"))
    return _back()


@bp.route("/<int:task_id>/done", methods=["POST"])
@roles_required(*CALL_HANDLERS)
def done(task_id: int):
    notes = request.form.get("notes", "").strip()[:1000]
    with unit_of_work() as s:
        task = _open_task(s, task_id)
        if task.status is not CallbackStatus.OPEN:
            flash(f"回电任务 {task_id} 已处理 (already closed)")
            return _back()
        callbacks.complete_callback(s, task, current_user.id, notes)
    flash(f"回电任务 {task_id} 已完成")
    return _back()
