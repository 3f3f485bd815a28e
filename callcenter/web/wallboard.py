"""The supervisors' wallboard: a page that redraws when the supervisor event stream says
something changed (a caller joined, an agent's state moved), with its clocks ticking in
the browser between events — no polling."""

from __future__ import annotations

import logging

from flask import Blueprint, jsonify, render_template, request
from flask_login import current_user

from callcenter.bus.core import BusUnavailable
from callcenter.services.calls import aging
from callcenter.services.people import audit, console, supervision, users
from callcenter.services.people.console import new_request_id
from callcenter.services.people.masking import phone_for
from callcenter.services.reports import wallboard
from callcenter.web.context import panel, unit_of_work
from callcenter.web.roles import SUPERVISOR, roles_required

log = logging.getLogger(__name__)

bp = Blueprint("wallboard", __name__)


@bp.route("/supervisor/wallboard")
@roles_required(SUPERVISOR)
def index():
    with unit_of_work() as s:
        snap = _snapshot(s)
        queues = console.queue_names(s)
    return render_template("supervisor/wallboard.html", snap=snap, queues=queues, full=request.args.get("full") == "1")


def _snapshot(session) -> dict:
    """The snapshot with callers' numbers as this role may see them."""
    settings = panel().settings
    snap = wallboard.snapshot(session, settings)
    for caller in snap["waiting_callers"]:
        caller["caller_number"] = phone_for(settings, current_user.role, caller["caller_number"])
    return snap


@bp.route("/api/supervisor/wallboard")
@roles_required(SUPERVISOR)
def data():
    with unit_of_work() as s:
        return jsonify(_snapshot(s))


@bp.route("/api/supervisor/caller", methods=["POST"])
@roles_required(SUPERVISOR)
def caller():
    """A supervisor's hand on a waiting caller: {call_id, op: raise|move, target (queue)} →
    202; the outcome arrives on the supervisor's event stream (``action``)."""
    data = request.get_json(silent=True) or {}
    settings = panel().settings
    op = str(data.get("op") or "")
    with unit_of_work() as s:
        try:
            call = aging.waiting_caller(s, int(data.get("call_id") or 0))
        except (TypeError, ValueError):
            call = None
        if call is None:
            return jsonify(error="这位来电已不在排队中"), 404
        base = {"call_id": call.id, "channel": call.channel, "request_id": new_request_id(current_user.id),
                "user_id": current_user.id}
        if op == "raise":
            message = {"action": "CallerPriority", "queue": call.queue, "priority": settings.priority_raised, **base}
        elif op == "move":
            target = str(data.get("target") or "")
            if target not in console.queue_names(s) or target == call.queue:
                return jsonify(error="请选择另一个队列"), 400
            audit.record(s, user_id=current_user.id, action="caller_move", object_type="call",
                         object_id=call.linkedid, detail=f"{call.queue} -> {target}")
            message = {"action": "CallerMove", "target": target, **base}
        else:
            return jsonify(error="op 应为 raise（提前）或 move（转队列）"), 400
    try:
        panel().bus.publish("ami.action", message)
    except BusUnavailable as exc:
        log.error("caller request not sent: %s", exc)
        return jsonify(error="事件总线不可用 (event bus unavailable)"), 503
    return jsonify(request_id=message["request_id"]), 202


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
