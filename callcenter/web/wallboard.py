"""The supervisors' wallboard: a page that redraws when the supervisor event stream says
something changed (a caller joined, an agent's state moved), with its clocks ticking in
the browser between events — no polling."""

from __future__ import annotations

import logging

from flask import Blueprint, jsonify, render_template, request
from flask_login import current_user

from callcenter.bus.core import BusUnavailable
from callcenter.services.people import supervision, users
from callcenter.services.reports import wallboard
from callcenter.web.context import panel, unit_of_work
from callcenter.web.roles import SUPERVISOR, roles_required

log = logging.getLogger(__name__)

bp = Blueprint("wallboard", __name__)


@bp.route("/supervisor/wallboard")
@roles_required(SUPERVISOR)
def index():
    settings = panel().settings
    with unit_of_work() as s:
        snap = wallboard.snapshot(s, settings)
    return render_template("supervisor/wallboard.html", snap=snap, full=request.args.get("full") == "1")


@bp.route("/api/supervisor/wallboard")
@roles_required(SUPERVISOR)
def data():
    with unit_of_work() as s:
        return jsonify(wallboard.snapshot(s, panel().settings))


@bp.route("/api/supervisor/spy", methods=["POST"])
@roles_required(SUPERVISOR)
def spy():
    """{agent_id, mode: listen|whisper|barge} → 202; the supervisor's phone rings, and the
    outcome arrives on the supervisor's event stream (``action``)."""
    data = request.get_json(silent=True) or {}
    try:
        with unit_of_work() as s:
            message = supervision.spy_request(s, users.get_user(s, current_user.id),
                                              int(data.get("agent_id") or 0), str(data.get("mode") or ""))
    except (supervision.SupervisionError, ValueError, TypeError) as exc:
        return jsonify(error=str(exc)), 400
    try:
        panel().bus.publish("ami.action", message)
    except BusUnavailable as exc:
        log.error("spy request not sent: %s", exc)
        return jsonify(error="事件总线不可用 (event bus unavailable)"), 503
    return jsonify(request_id=message["request_id"], mode=message["mode"]), 202
