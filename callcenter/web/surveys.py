"""回访 (follow-up survey calls): the queue, today's results, the human callback list,
a ticket's survey history, completion against the 100% target, satisfaction by question;
the plans and the do-not-call list for admins."""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from callcenter.db import utcnow
from callcenter.labels import TICKET_TYPES, label
from callcenter.models import Ticket
from callcenter.services.people.masking import phone_for
from callcenter.services.surveys import dispatch, plans, report, requests
from callcenter.services.surveys.dispatch import OUTCOME_LABELS, REQUEST_LABELS
from callcenter.timeutil import to_local
from callcenter.web.context import panel, unit_of_work
from callcenter.web.roles import ADMIN, AGENT, SUPERVISOR, roles_required

bp = Blueprint("surveys", __name__, url_prefix="/surveys")
VIEWERS = (AGENT, SUPERVISOR, ADMIN)


def _when(value: dt.datetime | None, fmt: str = "%m-%d %H:%M") -> str:
    return to_local(value, panel().settings.timezone).strftime(fmt) if value else ""


def _number(number: str) -> str:
    return phone_for(panel().settings, current_user.role, number)


@bp.route("/")
@roles_required(*VIEWERS)
def index():
    settings, now = panel().settings, utcnow()
    day_start, day_end = report.local_period(settings, now, "day")
    with unit_of_work() as s:
        queue = [{"id": sv.id, "ticket": t.number, "ticket_id": t.id, "number": _number(sv.number),
                  "next": _when(sv.next_attempt_at), "deadline": _when(sv.deadline_at), "attempts": sv.attempts,
                  "overdue": bool(sv.deadline_at and sv.deadline_at < now)}
                 for sv, t in report.queue(s, limit=100)]
        calling = [{"id": a.id, "number": _number(a.number), "since": _when(a.started_at, "%H:%M:%S"),
                    "answered": a.answered_at is not None} for a in report.in_flight(s)]
        today = [{"id": a.id, "ticket": t.number, "ticket_id": t.id, "number": _number(a.number),
                  "at": _when(a.started_at, "%H:%M"), "outcome": OUTCOME_LABELS.get(a.outcome, a.outcome),
                  "satisfaction": a.satisfaction}
                 for a, t in report.attempts_between(s, day_start, day_end)]
        callbacks = [{"id": sv.id, "ticket": t.number, "ticket_id": t.id, "number": _number(sv.number),
                      "deadline": _when(sv.deadline_at), "attempts": sv.attempts}
                     for sv, t in report.callback_list(s)]
        week, month = (report.completion(s, settings, now, p) for p in ("week", "month"))
        start, _ = report.local_period(settings, now, "month")
        satisfaction = report.satisfaction_by_question(s, start, now + dt.timedelta(seconds=1))
    return render_template("surveys/index.html", queue=queue, calling=calling, today=today, callbacks=callbacks,
                           completions=[("本周", week), ("本月", month)], satisfaction=satisfaction,
                           type_label=lambda k: label(TICKET_TYPES, k))


@bp.route("/<int:survey_id>/callback-done", methods=["POST"])
@roles_required(*VIEWERS)
def callback_done(survey_id: int):
    satisfaction = request.form.get("satisfaction", "")
    if satisfaction not in ("", "满意", "一般", "不满意"):
        abort(400)
    with unit_of_work() as s:
        try:
            dispatch.complete_callback(s, survey_id, user_id=current_user.id, satisfaction=satisfaction,
                                       now=utcnow())
        except LookupError:
            abort(404)
        except ValueError as exc:
            flash(f"回访 {survey_id} 未更改：{exc}")
            return redirect(url_for("surveys.index"))
    flash(f"回访 {survey_id} 已由人工完成")
    return redirect(url_for("surveys.index"))


@bp.route("/ticket/<int:ticket_id>")
@roles_required(*VIEWERS)
def ticket(ticket_id: int):
    with unit_of_work() as s:
        ticket_row = s.get(Ticket, ticket_id)
        if ticket_row is None:
            abort(404)
        history = [{"id": sv.id, "due": _when(sv.deadline_at), "status": REQUEST_LABELS.get(sv.outcome, sv.outcome)
                    if sv.outcome or sv.status.value != "cancelled" else "已取消",
                    "satisfaction": sv.satisfaction,
                    "attempts": [{"id": a.id, "at": _when(a.started_at), "outcome": OUTCOME_LABELS.get(a.outcome, a.outcome),
                                  "answers": report.describe_answers(s, a), "satisfaction": a.satisfaction, "comment": a.comment_file}
                                 for a in attempts]}
                   for sv, attempts in report.ticket_history(s, ticket_id)]
        number = ticket_row.number
    return render_template("surveys/ticket.html", number=number, ticket_id=ticket_id, history=history)


@bp.route("/plans", methods=["POST"])
@roles_required(ADMIN)
def plan_save():
    key = request.form.get("key", "")
    with unit_of_work() as s:
        try:
            plans.update_plan(s, key, offsets_days=request.form.get("offsets_days", ""),
                              deadline_days=request.form.get("deadline_days", ""),
                              max_attempts=request.form.get("max_attempts", ""),
                              retry_minutes=request.form.get("retry_minutes", ""),
                              active=request.form.get("active") == "on")
        except (plans.PlanError, ValueError) as exc:
            s.rollback()
            flash(f"回访计划 {key} 未保存：{exc}")
            return redirect(url_for("surveys.plan_list"))
    flash(f"回访计划 {key} 已保存")
    return redirect(url_for("surveys.plan_list"))


@bp.route("/plans")
@roles_required(SUPERVISOR, ADMIN)
def plan_list():
    with unit_of_work() as s:
        plans.ensure_default_plans(s)
        rows = [{"key": p.key, "name": p.name, "active": p.active,
                 "anchor": report.ANCHOR_LABELS.get(p.anchor, p.anchor),
                 "offsets": ",".join(f"{d:g}" for d in p.offsets_days) or (
                     f"至少{p.series_min_calls}次，间隔≤{p.series_max_gap_days}天" if p.series_min_calls else ""), "deadline": f"{p.deadline_days:g}",
                 "max_attempts": p.max_attempts, "retry_minutes": p.retry_minutes,
                 "questions": "、".join(q.get("label", q["key"]) for q in p.questions)}
                for p in plans.list_plans(s)]
        contacts = [{"number": _number(c.number), "dnc": c.do_not_call,
                     "preferred": f"{c.preferred_from:%H:%M}-{c.preferred_to:%H:%M}" if c.preferred_from else "",
                     "note": c.note} for c in requests.list_contacts(s)]
    return render_template("surveys/plans.html", plans=rows, contacts=contacts,
                           windows=panel().settings.survey_windows, can_edit=current_user.role == ADMIN)


@bp.route("/contacts", methods=["POST"])
@roles_required(AGENT, SUPERVISOR, ADMIN)
def contact():
    number = request.form.get("number", "").strip()
    preferred_text = request.form.get("preferred", "").strip()
    try:
        preferred: object = False
        if preferred_text:
            start, end = (dt.time.fromisoformat(p.strip()) for p in preferred_text.split("-"))
            preferred = (start, end)
        with unit_of_work() as s:
            requests.set_contact(s, number, do_not_call=request.form.get("dnc") == "on", preferred=preferred,
                                 note=request.form.get("note", "").strip()[:500], region=panel().settings.phone_region)
    except ValueError as exc:
        flash(f"未保存：{exc}（时间写作 19:00-21:00）")
        return redirect(request.referrer or url_for("surveys.index"))
    flash(f"{number} 的回访设置已保存")
    return redirect(request.referrer or url_for("surveys.index"))
