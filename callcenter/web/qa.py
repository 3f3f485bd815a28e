"""The QA inspector's list of today's recorded calls (sampling and scoring build on it)."""

from __future__ import annotations

from flask import Blueprint, render_template
from flask_login import current_user

from callcenter.labels import CATEGORIES, label
from callcenter.services.people import console
from callcenter.services.people.masking import phone_for
from callcenter.timeutil import to_local
from callcenter.web.context import panel, unit_of_work
from callcenter.web.roles import QA, SUPERVISOR, roles_required

bp = Blueprint("qa", __name__, url_prefix="/qa")


@bp.route("/")
@roles_required(QA, SUPERVISOR)
def index():
    settings = panel().settings
    with unit_of_work() as s:
        calls = [
            {
                "id": c.id,
                "started_at": to_local(c.started_at, settings.timezone).strftime("%H:%M:%S"),
                "number": phone_for(settings, current_user.role, c.caller_number),
                "queue": c.queue,
                "category": label(CATEGORIES, c.category),
                "agent": c.answered_by_interface,
                "talk_seconds": c.talk_seconds,
                "recording": c.recording_file.rsplit("/", 1)[-1],
            }
            for c in console.recorded_calls(s, settings)
        ]
    return render_template("qa/index.html", calls=calls)
