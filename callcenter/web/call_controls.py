"""The live call at the agent console: hang up, hold/unhold, transfer (sent to the AMI
owner on the bus, answered on the console's event stream like ready/pause), the call's
legs, the wrap-up code per call, and the admins' list of wrap-up codes."""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user

from callcenter.bus.core import BusUnavailable
from callcenter.services.calls import controls
from callcenter.services.people import console, users
from callcenter.web.context import panel, unit_of_work
from callcenter.web.roles import ADMIN, CALL_HANDLERS, roles_required

log = logging.getLogger(__name__)

bp = Blueprint("calls_ui", __name__)


def _input() -> dict[str, Any]:
    data = request.get_json(silent=True)
    return data if isinstance(data, dict) else request.form.to_dict()


@bp.route("/api/agent/call", methods=["POST"])
@roles_required(*CALL_HANDLERS)
def control():
    """{op: hangup|hold|unhold|transfer, linkedid, target_kind, target, attended} → 202 with the
    request id; the outcome arrives on the event stream (``action``)."""
    data = _input()
    try:
        with unit_of_work() as s:
            user = users.get_user(s, current_user.id)
            call = controls.live_call(s, str(data.get("linkedid") or ""))
            if call is None:
                return jsonify(error="没有这通电话 (no such call)"), 404
            message = controls.control_request(console.state_for(s, user), call, str(data.get("op") or ""),
                                               target_kind=str(data.get("target_kind") or ""),
                                               target=str(data.get("target") or ""),
                                               attended=data.get("attended") in (True, "1", "true"))
    except (controls.ControlError, console.ConsoleError) as exc:
        return jsonify(error=str(exc)), 400
    try:
        panel().bus.publish("ami.action", message)
    except BusUnavailable as exc:
        log.error("call control not sent: %s", exc)
        return jsonify(error="事件总线不可用 (event bus unavailable)"), 503
    return jsonify(request_id=message["request_id"], op=message["op"]), 202


@bp.route("/api/agent/transfer-targets")
@roles_required(*CALL_HANDLERS)
def transfer_targets():
    with unit_of_work() as s:
        return jsonify(agents=controls.transfer_targets(s, current_user.id), queues=console.queue_names(s))


@bp.route("/api/agent/wrapup-codes")
@roles_required(*CALL_HANDLERS)
def wrapup_codes():
    with unit_of_work() as s:
        controls.ensure_default_codes(s)
        return jsonify(codes=controls.active_codes(s))


@bp.route("/api/agent/wrapup", methods=["POST"])
@roles_required(*CALL_HANDLERS)
def wrapup():
    data = _input()
    try:
        code_id = int(data.get("code_id") or 0)
    except (TypeError, ValueError):
        return jsonify(error="请选择话后处理代码 (choose a wrap-up code)"), 400
    try:
        with unit_of_work() as s:
            call = controls.live_call(s, str(data.get("linkedid") or ""))
            if call is None:
                return jsonify(error="没有这通电话 (no such call)"), 404
            row = controls.choose(s, user_id=current_user.id, call_id=call.id, code_id=code_id,
                                  note=str(data.get("note") or ""))
            label = row.code.label
    except controls.ControlError as exc:
        return jsonify(error=str(exc)), 400
    return jsonify(ok=True, label=label)


@bp.route("/api/calls/<int:call_id>/legs")
@roles_required(*CALL_HANDLERS)
def legs(call_id: int):
    with unit_of_work() as s:
        rows = controls.call_legs(s, call_id)
    return jsonify(legs=[{**leg, "at": leg["at"].isoformat()} for leg in rows])


# --- admin: the wrap-up code list --------------------------------------------------------------
@bp.route("/admin/wrapup-codes", endpoint="codes_page")
@roles_required(ADMIN)
def codes_page():
    with unit_of_work() as s:
        controls.ensure_default_codes(s)
        rows = [{"code": c.code, "label": c.label, "active": c.active, "sort": c.sort} for c in controls.all_codes(s)]
    return render_template("agent/wrapup_codes.html", codes=rows)


@bp.route("/admin/wrapup-codes", methods=["POST"])
@roles_required(ADMIN)
def save_code():
    form = request.form
    try:
        sort = int(form.get("sort") or 0)
    except ValueError:
        abort(400)
    try:
        with unit_of_work() as s:
            row = controls.save_code(s, code=form.get("code", ""), label=form.get("label", ""),
                                     active=form.get("active") == "1", sort=sort)
            flash(f"已保存：{row.label}")
    except controls.ControlError as exc:
        flash(f"未保存：{exc}", "error")
    return redirect(url_for("calls_ui.codes_page")), 303
