"""Scorecard templates (admins). A version in use is never changed: saving makes the next
version (callcenter/services/qa/scorecards.py)."""

from __future__ import annotations

import json

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user

from callcenter.services.qa import scorecards
from callcenter.web.context import unit_of_work
from callcenter.web.qa.blueprint import bp
from callcenter.web.roles import ADMIN, roles_required


@bp.route("/scorecards", methods=["GET", "POST"])
@roles_required(ADMIN)
def scorecard_admin():
    text = None
    if request.method == "POST":
        text = request.form.get("definition", "")
        try:
            definition = json.loads(text)
        except ValueError as exc:
            flash(f"评分表格式错误（JSON）：{exc}", "error")
        else:
            with unit_of_work() as s:
                try:
                    card = scorecards.edit(s, scorecards.STANDARD, name=request.form.get("name") or "服务质量评分表",
                                           definition=definition, actor_id=current_user.id)
                except scorecards.ScorecardError as exc:
                    s.rollback()
                    flash(str(exc), "error")
                else:
                    flash(f"评分表已保存：第 {card.version} 版")
                    return redirect(url_for("qa.scorecard_admin"))
    with unit_of_work() as s:
        card = scorecards.current(s)
        in_use = scorecards.in_use(s, card)
        shown = text if text is not None else json.dumps(card.definition, ensure_ascii=False, indent=2)
        return render_template("qa/scorecards.html", card=card, in_use=in_use, text=shown,
                               status=400 if text is not None else 200), 400 if text is not None else 200
