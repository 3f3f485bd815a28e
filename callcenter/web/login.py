"""The login manager (Flask-Login): who the signed-in user is on each request, and where
an anonymous visitor is sent. ``roles`` uses it to turn visitors away, ``auth`` to sign
users in and out; it imports neither."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import jsonify, redirect, request, session, url_for
from flask_login import LoginManager, UserMixin

from callcenter.models import User
from callcenter.services.people import users
from callcenter.web.context import unit_of_work

SESSION_VERSION_KEY = "sv"

login_manager = LoginManager()
login_manager.login_view = "auth.login"
login_manager.login_message = "请先登录 (please sign in)"


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
        # A deactivated account, or one whose sessions were ended (sign-out, a password
        # reset), loses its open sessions at their next request.
        user = users.active_user(s, key, session_version())
        return PanelUser(user) if user is not None else None


def session_version() -> int | None:
    """The user's session version this browser session was opened with."""
    value = session.get(SESSION_VERSION_KEY)
    return value if isinstance(value, int) else None


@login_manager.unauthorized_handler
def _unauthorized():
    if request.path.startswith("/api/"):
        return jsonify(error="sign in required"), 401
    return redirect(url_for("auth.login", next=safe_next(request.full_path)))


def safe_next(target: str | None) -> str | None:
    """Only same-site paths: an attacker's link must not bounce a user off-site."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") \
            or "\\" in target or target.startswith("/auth/"):
        return None
    return target.rstrip("?")
