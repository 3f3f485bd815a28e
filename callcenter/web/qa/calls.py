"""One call's QA page, and what is done on it: comments, scores, corrections, appeals,
decisions. Views parse the form and call ``callcenter.services.qa.scoring``."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from callcenter.labels import CATEGORIES, TICKET_STATUSES, TICKET_TYPES, label
from callcenter.models import Call, QaAppeal, QaScore, User
from callcenter.services.people import audit
from callcenter.services.people.masking import phone_for
from callcenter.services.qa import recordings, review, scorecards, scoring
from callcenter.services.speech.transcripts import scorecard_suggestions
from callcenter.services.surveys.answers import survey_answer_for_call
from callcenter.timeutil import to_local
from callcenter.web.context import panel, unit_of_work
from callcenter.web.qa.blueprint import INSPECTORS, LISTENERS, bp, may_hear
from callcenter.web.roles import AGENT, QA, SUPERVISOR, roles_required


def _details(call: Call, settings) -> list[tuple[str, str]]:
    local = to_local(call.started_at, settings.timezone)
    return [
        ("来电时间", local.strftime("%Y-%m-%d %H:%M:%S")),
        ("来电号码", phone_for(settings, current_user.role, call.caller_number)),
        ("线路", (call.line.name if call.line else call.dialled_number) or "—"),
        ("队列", call.queue or "—"),
        ("类别", label(CATEGORIES, call.category) if call.category else "—"),
        ("IVR 路径", " → ".join(str(step) for step in call.ivr_path) or "—"),
        ("等待(秒)", "—" if call.wait_seconds is None else str(call.wait_seconds)),
        ("通话(秒)", "—" if call.talk_seconds is None else str(call.talk_seconds)),
        ("坐席", call.answered_by_interface or "—"),
    ]


@bp.route("/calls/<int:call_id>")
@roles_required(*LISTENERS)
def call_page(call_id: int):
    settings = panel().settings
    with unit_of_work() as s:
        call = may_hear(s.get(Call, call_id))
        data = review.review(s, settings, call)
        # What the follow-up survey and the speech checks say of this call (areas above QA's).
        data.survey_answer = _survey_text(survey_answer_for_call(s, call.id), settings)
        suggested = scorecard_suggestions(s, call.id)
        audit.record(s, user_id=current_user.id, action=audit.VIEW, object_type="qa_call", object_id=call.id)
        deadline = {sc.id: to_local(scoring.appeal_deadline(settings, sc), settings.timezone)
                    for sc in data.history}
        return render_template(
            "qa/call.html", r=data, call=call, details=_details(call, settings),
            survey=data.survey_answer, tz=settings.timezone, to_local=to_local, deadline=deadline,
            state_label=recordings.STATE_LABELS, can_score=current_user.role in INSPECTORS
            and call.answered_by_user_id != current_user.id,
            can_decide=current_user.role == SUPERVISOR, is_agent=current_user.role == AGENT,
            ticket_types=TICKET_TYPES, ticket_statuses=TICKET_STATUSES,
            phrase_list=lambda name: getattr(data.phrases, name, ()) if name else (), suggested=suggested,
            transcript_widget=current_user.role in (QA, SUPERVISOR))


def _survey_text(answer: dict | None, settings) -> str | None:
    """满意 / 一般 / 不满意 (the survey's worst answer) and when it was given."""
    if not answer:
        return None
    parts = [answer["satisfaction"]]
    if answer.get("at"):
        parts.append(f" · {to_local(answer['at'], settings.timezone):%Y-%m-%d %H:%M}")
    return "".join(parts)


def _answers(card_definition: dict) -> dict[str, bool]:
    answers = {}
    for check in scorecards.checks(card_definition):
        value = request.form.get(f"check_{check['key']}")
        if value in ("yes", "no"):
            answers[check["key"]] = value == "yes"
    return answers


def _back(call_id: int, anchor: str = ""):
    return redirect(url_for("qa.call_page", call_id=call_id) + anchor)


@bp.route("/calls/<int:call_id>/score", methods=["POST"])
@roles_required(*INSPECTORS)
def score(call_id: int):
    reason = request.form.get("reason", "")
    with unit_of_work() as s:
        call = may_hear(s.get(Call, call_id))
        me = s.get(User, current_user.id)
        latest = scoring.latest(s, call.id)
        card = latest.scorecard if latest else scorecards.current(s)
        try:
            if latest is None:
                row = scoring.submit(s, call, me, _answers(card.definition), comment=request.form.get("comment", ""))
            else:
                row = scoring.correct(s, call, me, _answers(card.definition), reason=reason,
                                      comment=request.form.get("comment", ""))
        except (scoring.ScoringError, scorecards.ScorecardError) as exc:
            s.rollback()
            flash(str(exc), "error")
            return _back(call_id, "#scorecard")
        flash(f"已提交评分 第 {row.version} 版：{row.total:g} 分")
    return _back(call_id, "#history")


@bp.route("/calls/<int:call_id>/comments", methods=["POST"])
@roles_required(*INSPECTORS)
def comment(call_id: int):
    try:
        at = float(request.form.get("at_seconds", ""))
    except ValueError:
        at = -1.0
    with unit_of_work() as s:
        call = may_hear(s.get(Call, call_id))
        try:
            scoring.add_comment(s, call, s.get(User, current_user.id), at, request.form.get("text", ""))
        except scoring.ScoringError as exc:
            s.rollback()
            flash(str(exc), "error")
    return _back(call_id, "#comments")


@bp.route("/scores/<int:score_id>/appeal", methods=["POST"])
@roles_required(AGENT)
def appeal(score_id: int):
    with unit_of_work() as s:
        row = s.get(QaScore, score_id)
        if row is None:
            abort(404)
        call_id = row.call_id
        try:
            scoring.appeal(s, panel().settings, row, s.get(User, current_user.id), request.form.get("reason", ""))
        except scoring.ScoringError as exc:
            s.rollback()
            flash(str(exc), "error")
            return _back(call_id, "#history")
        flash("申诉已提交，等待主管处理")
    return _back(call_id, "#appeals")


@bp.route("/appeals/<int:appeal_id>/decide", methods=["POST"])
@roles_required(SUPERVISOR)
def decide(appeal_id: int):
    decision = request.form.get("decision")
    with unit_of_work() as s:
        row = s.get(QaAppeal, appeal_id)
        if row is None:
            abort(404)
        call_id = row.call_id
        if decision not in ("upheld", "rejected"):
            flash("请选择申诉成立或驳回", "error")
            return _back(call_id, "#appeals")
        answers = _answers(row.score.scorecard.definition) if decision == "upheld" else None
        try:
            scoring.decide(s, row, s.get(User, current_user.id), upheld=decision == "upheld",
                           note=request.form.get("note", ""), answers=answers)
        except (scoring.ScoringError, scorecards.ScorecardError) as exc:
            s.rollback()
            flash(str(exc), "error")
            return _back(call_id, "#appeals")
        flash("申诉已处理：" + ("成立，已生成更正版本" if decision == "upheld" else "驳回"))
    return _back(call_id, "#history")


@bp.route("/mine")
@roles_required(AGENT)
def mine():
    settings = panel().settings
    with unit_of_work() as s:
        rows = review.agent_scores(s, current_user.id)
        items = [{"score": r, "call_id": r.call_id,
                  "at": to_local(r.submitted_at, settings.timezone).strftime("%Y-%m-%d %H:%M"),
                  "appeal": scoring.open_appeal(s, r.call_id)} for r in rows]
        return render_template("qa/mine.html", items=items)
