"""The QA home page (my calls to review, samples, plans, open appeals), drawing a sample
on demand, a sample's page and "re-run this draw"."""

from __future__ import annotations

import datetime as dt

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select

from callcenter.labels import CATEGORIES, label
from callcenter.models import QaPlan, QaSample
from callcenter.services.people import console
from callcenter.services.people.masking import phone_for
from callcenter.services.qa import draws, review, scoring
from callcenter.services.qa.sampling import PlanRules
from callcenter.timeutil import to_local
from callcenter.web.context import panel, unit_of_work
from callcenter.web.qa.blueprint import MANAGERS, bp, local_today
from callcenter.web.roles import QA, SUPERVISOR, roles_required

PERIOD_LABELS = {"week": "周", "month": "月"}


def _today_calls(s, settings) -> list[dict]:
    return [{"id": c.id, "started_at": to_local(c.started_at, settings.timezone).strftime("%H:%M:%S"),
             "number": phone_for(settings, current_user.role, c.caller_number), "queue": c.queue,
             "category": label(CATEGORIES, c.category), "agent": c.answered_by_interface,
             "talk_seconds": c.talk_seconds, "recording": c.recording_file.rsplit("/", 1)[-1]}
            for c in console.recorded_calls(s, settings)]


@bp.route("/")
@roles_required(*MANAGERS)
def index():
    settings = panel().settings
    with unit_of_work() as s:
        draws.default_plan(s)
        mine = review.my_assignments(s, current_user.id) if current_user.role == QA else []
        appeals = scoring.open_appeals(s) if current_user.role == SUPERVISOR else []
        page = render_template(
            "qa/index.html", mine=mine, samples=review.samples(s),
            plans=list(s.scalars(select(QaPlan).order_by(QaPlan.id))), appeals=appeals,
            calls=_today_calls(s, settings), today=local_today().isoformat(), period_labels=PERIOD_LABELS,
            names=review.user_names(s, [a.agent_id for a in mine]))
    return page


@bp.route("/samples/draw", methods=["POST"])
@roles_required(*MANAGERS)
def draw_sample():
    settings = panel().settings
    form = request.form
    try:
        day = dt.date.fromisoformat(form.get("day") or local_today().isoformat())
        seed = int(form["seed"]) if form.get("seed", "").strip() else None
    except ValueError:
        flash("日期或随机种子格式错误", "error")
        return redirect(url_for("qa.index"))
    filters = {"queues": [q.strip() for q in form.get("queues", "").split(",") if q.strip()],
               "lines": form.getlist("lines")}
    with unit_of_work() as s:
        plan = s.get(QaPlan, int(form.get("plan_id") or 0)) or draws.default_plan(s)
        try:
            sample = draws.make_sample(s, settings, plan, day, seed=seed, filters=filters,
                                       actor_id=current_user.id, source="panel")
        except (draws.DrawError, ValueError) as exc:
            s.rollback()
            flash(str(exc), "error")
            return redirect(url_for("qa.index"))
        sample_id, count = sample.id, len(sample.call_ids)
    flash(f"已抽取样本 #{sample_id}：{count} 通通话")
    return redirect(url_for("qa.sample_page", sample_id=sample_id))


@bp.route("/samples/<int:sample_id>")
@roles_required(*MANAGERS)
def sample_page(sample_id: int):
    with unit_of_work() as s:
        sample = s.get(QaSample, sample_id)
        if sample is None:
            abort(404)
        rows = review.sample_assignments(s, sample_id)
        names = review.user_names(s, [a.agent_id for a in rows] + [a.inspector_id for a in rows])
        return render_template("qa/sample.html", sample=sample, rows=rows, names=names,
                               period_labels=PERIOD_LABELS, rules=PlanRules.from_dict(sample.rules))


@bp.route("/samples/<int:sample_id>/rerun", methods=["POST"])
@roles_required(*MANAGERS)
def rerun(sample_id: int):
    with unit_of_work() as s:
        sample = s.get(QaSample, sample_id)
        if sample is None:
            abort(404)
        result = draws.verify(s, panel().settings, sample)
    flash(result.summary(), "info" if result.same else "error")
    return redirect(url_for("qa.sample_page", sample_id=sample_id))


@bp.route("/plans", methods=["POST"])
@roles_required(SUPERVISOR, "admin")
def save_plan():
    form = request.form
    try:
        quota = int(form.get("quota_per_agent", "5"))
        width = float(form["ci_width"]) if form.get("ci_width", "").strip() else None
        rules = PlanRules(quota_per_agent=quota, ci_width=width,
                          min_talk_seconds=int(form.get("min_talk_seconds", "20")))
        period = form.get("period", "month")
        if period not in draws.PERIODS:
            raise ValueError("周期必须是 week 或 month")
    except (ValueError, KeyError) as exc:
        flash(f"质检计划无效：{exc}", "error")
        return redirect(url_for("qa.index"))
    with unit_of_work() as s:
        plan = s.get(QaPlan, int(form.get("plan_id") or 0)) or QaPlan(created_by_id=current_user.id)
        plan.name = (form.get("name") or "质检计划").strip()[:100]
        plan.period, plan.quota_per_agent = period, rules.quota_per_agent
        data = rules.to_dict()
        data.pop("quota_per_agent")
        plan.rules = data
        s.add(plan)
    flash("质检计划已保存")
    return redirect(url_for("qa.index"))
