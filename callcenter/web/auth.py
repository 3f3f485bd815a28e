"""Sign-in, sign-out, the signed-in user, throttling and idle expiry."""

from __future__ import annotations

import datetime as dt
import math
import time
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user
from sqlalchemy import select
from werkzeug.security import check_password_hash, generate_password_hash

from callcenter.bus import BusUnavailable
from callcenter.db import utcnow
from callcenter.models import User
from callcenter.services.people import audit, console
from callcenter.web.context import panel, unit_of_work
from callcenter.web.roles import public, signed_in

bp = Blueprint("auth", __name__, url_prefix="/auth")
login_manager = LoginManager()
login_manager.login_view = "auth.login"
login_manager.login_message = "请先登录 (please sign in)"

# Verified against when the username does not exist, so both answers take as long.
_DUMMY_HASH = generate_password_hash("not-a-real-password")
LOCKED_MESSAGE = "登录失败次数过多，请 {minutes} 分钟后再试 (too many failed sign-ins; try again later)"
INVALID_MESSAGE = "用户名或密码错误 (wrong username or password)"
SEEN_KEY = "seen"


class PanelUser(UserMixin):
    """The signed-in user as the views see it (detached from any database session)."""

    def __init__(self, user: User) -> None:
        self.id = user.id
        self.username = user.username
        self.display_name = user.display_name or user.username
        self.role = user.role.value
        self.default_interface = user.default_interface or ""
        self._active = user.active

    @property
    def is_active(self) -> bool:
        return self._active


@login_manager.user_loader
def _load_user(user_id: str) -> PanelUser | None:
    try:
        key = int(user_id)
    except ValueError:
        return None
    with unit_of_work() as s:
        user = s.get(User, key)
        # A deactivated account loses its open sessions at their next request.
        return PanelUser(user) if user is not None and user.active else None


@login_manager.unauthorized_handler
def _unauthorized():
    if request.path.startswith("/api/"):
        return jsonify(error="sign in required"), 401
    return redirect(url_for("auth.login", next=_safe_next(request.full_path)))


def _safe_next(target: str | None) -> str | None:
    """Only same-site paths: an attacker's link must not bounce a user off-site."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") \
            or "\\" in target or target.startswith("/auth/"):
        return None
    return target.rstrip("?")


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
    if request.endpoint not in STREAM_ENDPOINTS:
        session[SEEN_KEY] = now


# Filled by the blueprints that serve event streams.
STREAM_ENDPOINTS: set[str] = set()


def _client_ip() -> str:
    return request.remote_addr or "unknown"


@bp.route("/login", methods=["GET", "POST"])
@public
def login():
    if request.method == "GET":
        if current_user.is_authenticated:
            return redirect(url_for("main.index"))
        return render_template("auth/login.html", next=_safe_next(request.args.get("next")))

    username = request.form.get("username", "").strip()[:64]
    password = request.form.get("password", "")
    next_url = _safe_next(request.form.get("next"))
    throttle = panel().throttle
    user_key, ip_key = f"user:{username.lower()}", f"ip:{_client_ip()}"
    now = utcnow()

    # Three short steps, so no database connection is held during the deliberately
    # slow password hash: a wave of sign-ins at shift start must not drain the pool.
    with unit_of_work() as s:
        user = s.scalar(select(User).where(User.username == username)) if username else None
        user_id = user.id if user is not None else None
        stored_hash = user.password_hash if user is not None else _DUMMY_HASH
        active = bool(user is not None and user.active)
        locked_until = user.locked_until if user is not None else None
    locked_s = max(throttle.locked_for(user_key), throttle.locked_for(ip_key))
    if locked_until is not None and locked_until > now:
        locked_s = max(locked_s, (locked_until - now).total_seconds())
    if locked_s > 0:
        # Same answer whether or not the user exists, and no password check at all.
        return _locked(locked_s, username, next_url)

    ok = check_password_hash(stored_hash, password) and user_id is not None and active

    with unit_of_work() as s:
        user = s.get(User, user_id) if user_id is not None else None
        if ok and user is not None:
            throttle.success(user_key)
            user.failed_logins = 0
            user.locked_until = None
            user.last_login_at = now
            audit.record(s, user_id=user.id, action=audit.LOGIN, object_type="user", object_id=user.id,
                         detail=f"ip={_client_ip()}")
            panel_user = PanelUser(user)
        else:
            lock_user = throttle.failure(user_key)
            lock_ip = throttle.failure(ip_key)
            if user is not None:
                user.failed_logins += 1
                if user.failed_logins >= panel().settings.login_max_failures:
                    user.failed_logins = 0
                    user.locked_until = now + dt.timedelta(seconds=panel().settings.login_lockout_s)
                    lock_user = max(lock_user, panel().settings.login_lockout_s)
            audit.record(s, user_id=user.id if user else None, action=audit.LOGIN_FAILED, object_type="user",
                         object_id=user.id if user else "", detail=f"username={username[:40]} ip={_client_ip()}")
            panel_user = None

    if panel_user is None:
        if max(lock_user, lock_ip) > 0:
            return _locked(max(lock_user, lock_ip), username, next_url)
        return render_template("auth/login.html", error=INVALID_MESSAGE, username=username,
                               next=next_url), 401

    session.clear()  # no session fixation: a fresh session for the signed-in user
    login_user(panel_user)
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
