"""Sign-in, sign-out and idle expiry. The sign-in rules (lockout, throttling, audit) are
``services.people.signin``; who the signed-in user is, ``web.login``."""

from __future__ import annotations

import math
import time

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user, login_user, logout_user

from callcenter.bus.core import BusUnavailable
from callcenter.services.people import console, signin, users
from callcenter.web import sse
from callcenter.web.context import panel, unit_of_work
from callcenter.web.login import SESSION_VERSION_KEY, PanelUser, safe_next
from callcenter.web.roles import public, signed_in

bp = Blueprint("auth", __name__, url_prefix="/auth")

LOCKED_MESSAGE = "登录失败次数过多，请 {minutes} 分钟后再试 (too many failed sign-ins; try again later)"
INVALID_MESSAGE = "用户名或密码错误 (wrong username or password)"
SEEN_KEY = "seen"


def session_deadline() -> float:
    """Epoch second at which the current session expires without further activity."""
    minutes = panel().settings.session_minutes
    return float(session.get(SEEN_KEY, time.time())) + minutes * 60


@bp.before_app_request
def _expire_idle_sessions() -> None:
    if not current_user.is_authenticated:
        return
    now = time.time()
    seen = session.get(SEEN_KEY)
    if seen is not None and now - float(seen) > panel().settings.session_minutes * 60:
        logout_user()
        session.clear()
        flash("会话已过期，请重新登录 (session expired)")
        return
    session.permanent = True
    # An event stream is a connection that stays open, not activity: it does not
    # keep an unattended console signed in.
    if not sse.is_event_stream(current_app.view_functions.get(request.endpoint)):
        session[SEEN_KEY] = now


def _client_ip() -> str:
    return request.remote_addr or "unknown"


@bp.route("/login", methods=["GET", "POST"])
@public
def login():
    if request.method == "GET":
        if current_user.is_authenticated:
            return redirect(url_for("main.index"))
        return render_template("auth/login.html", next=safe_next(request.args.get("next")))

    username = request.form.get("username", "").strip()[:64]
    next_url = safe_next(request.form.get("next"))
    p = panel()
    outcome = signin.attempt_sign_in(p.unit_of_work, p.settings, p.throttle, username=username,
                                     password=request.form.get("password", ""), ip=_client_ip())
    if outcome.locked:
        return _locked(outcome.locked_s, username, next_url)
    if not outcome.signed_in:
        return render_template("auth/login.html", error=INVALID_MESSAGE, username=username,
                               next=next_url), 401

    session.clear()  # no session fixation: a fresh session for the signed-in user
    login_user(PanelUser(outcome.user))
    session[SESSION_VERSION_KEY] = outcome.user.session_version
    session.permanent = True
    session[SEEN_KEY] = time.time()
    return redirect(next_url or url_for("main.index"))


def _locked(seconds: float, username: str, next_url: str | None):
    minutes = max(1, math.ceil(seconds / 60))
    response = render_template("auth/login.html", error=LOCKED_MESSAGE.format(minutes=minutes),
                               username=username, next=next_url)
    return response, 429, {"Retry-After": str(math.ceil(seconds))}


@bp.route("/logout", methods=["POST"])
@signed_in
def logout():
    user_id = current_user.id
    with unit_of_work() as s:
        state = console.leave(s, user_id)
        interface = state.interface if state is not None else None
        # Every session of the user ends, not only this browser's cookie.
        users.end_sessions_of(s, user_id)
    if interface:
        # Signing out must not leave the phone ringing for queue calls.
        request_payload = {"action": "QueuePause", "interface": interface, "paused": True,
                           "reason": "已退出", "queue": None, "request_id": console.new_request_id(user_id),
                           "user_id": user_id}
        try:
            panel().bus.publish("ami.action", request_payload)
        except BusUnavailable:
            pass
    logout_user()
    session.clear()
    return redirect(url_for("auth.login"))
