"""The supervisors' wallboard: a page that redraws when the supervisor event stream says
something changed (a caller joined, an agent's state moved), with its clocks ticking in
the browser between events — no polling."""

from __future__ import annotations

from flask import Blueprint, jsonify, render_template, request

from callcenter.services.reports import wallboard
from callcenter.web.context import panel, unit_of_work
from callcenter.web.roles import SUPERVISOR, roles_required

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
