"""The supervisor's live queue view: per-queue counts from the calls table, agents and
their states, refreshed by the live ``agent`` events of the bus."""

from __future__ import annotations

import time
from collections.abc import Iterator

from flask import Blueprint, jsonify, render_template
from flask_login import current_user

from callcenter.bus.core import Event
from callcenter.services.people import console, users
from callcenter.services.people.masking import phone_for
from callcenter.web import sse
from callcenter.web.auth import session_deadline
from callcenter.web.context import panel, unit_of_work
from callcenter.web.login import session_version
from callcenter.web.roles import SUPERVISOR, roles_required

bp = Blueprint("supervisor", __name__)

# What a supervisor's stream forwards of an agent event.
FORWARDED = ("type", "interface", "queue", "linkedid", "member_name", "paused", "reason", "status", "success")


@bp.route("/supervisor/")
@roles_required(SUPERVISOR)
def index():
    with unit_of_work() as s:
        overview = console.queue_overview(s, panel().settings)
    return render_template("supervisor/index.html", overview=overview)


@bp.route("/api/supervisor/overview")
@roles_required(SUPERVISOR)
def overview():
    with unit_of_work() as s:
        return jsonify(console.queue_overview(s, panel().settings))


@bp.route("/api/supervisor/events")
@sse.event_stream
@roles_required(SUPERVISOR)
def events():
    p = panel()
    token = p.streams.acquire(current_user.id, "supervisor")
    if token is None:
        return jsonify(error="too many open streams on this server; retrying"), 503, {"Retry-After": "5"}
    subscription = p.bus.subscribe("agent")
    user_id, role, deadline, version = current_user.id, current_user.role, session_deadline(), session_version()

    def handle(event: Event) -> Iterator[str]:
        if event.payload.get("type") == "action_result":
            # Only the answer to this supervisor's own request (listen/whisper/barge).
            if event.payload.get("user_id") == user_id:
                yield sse.format_event({k: event.payload.get(k) for k in ("request_id", "action", "mode", "ok",
                                                                          "message")}, event="action")
            return
        data = {k: event.payload[k] for k in FORWARDED if k in event.payload}
        if "caller_number" in event.payload:
            data["caller_number"] = phone_for(p.settings, role, str(event.payload["caller_number"]))
        yield sse.format_event(data, event="agent", id=sse.event_id(p.bus.epoch, event.seq))

    def still_valid() -> bool:
        if time.time() > deadline:
            return False
        with p.unit_of_work() as s:
            return users.is_active(s, user_id, version)

    return sse.stream_response(p, subscription=subscription, token=token, opening=iter(()),
                               handle=handle, still_valid=still_valid)
