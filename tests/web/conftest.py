"""Web panel fixtures in the Flask tutorial's style: ``app``, ``client``, ``auth``.

``app`` runs on SQLite and PostgreSQL (through the shared ``settings`` fixture) with
its own in-process bus. Test users get a cheap PBKDF2 hash computed once per run:
sign-in still goes through the real password check, only faster than scrypt.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from werkzeug.security import generate_password_hash

from callcenter.bus.core import InProcessBus
from callcenter.db import session_scope
from callcenter.models import Role, User
from callcenter.web import create_app

ROLES = ("agent", "qa", "supervisor", "admin")
PASSWORD = "correct-horse-1"
_CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


@pytest.fixture(scope="session")
def test_password_hash() -> str:
    return generate_password_hash(PASSWORD, method="pbkdf2:sha256:1000")


def add_user(url: str, password_hash: str, username: str, role: str, *,
             default_interface: str | None = None, display_name: str = "") -> int:
    with session_scope(url) as s:
        user = User(username=username, password_hash=password_hash, role=Role(role),
                    display_name=display_name or username, default_interface=default_interface)
        s.add(user)
        s.flush()
        return user.id


@pytest.fixture
def bus():
    return InProcessBus()


@pytest.fixture
def app(settings, bus, tmp_path):
    app = create_app(settings, bus, instance_path=tmp_path / "instance")
    app.config.update(TESTING=True)
    return app


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def users(settings, test_password_hash) -> dict[str, int]:
    """One user per role, named after it; the agent sits at PJSIP/1001 by default."""
    return {
        role: add_user(settings.database_url, test_password_hash, role,
                       role, default_interface="PJSIP/1001" if role == "agent" else None,
                       display_name=f"{role}-张")
        for role in ROLES
    }


def csrf_token(client) -> str:
    page = client.get("/auth/login", follow_redirects=True)
    match = _CSRF_META.search(page.get_data(as_text=True))
    assert match, "every page carries the CSRF token in a meta tag"
    return match.group(1)


@dataclass
class AuthActions:
    client: object

    def login(self, username: str = "agent", password: str = PASSWORD, **extra):
        token = csrf_token(self.client)
        return self.client.post("/auth/login", data={"username": username, "password": password,
                                                     "csrf_token": token, **extra})

    def logout(self):
        return self.client.post("/auth/logout", data={"csrf_token": csrf_token(self.client)})

    def post_json(self, path: str, body: dict):
        return self.client.post(path, json=body, headers={"X-CSRFToken": csrf_token(self.client)})

    def post_form(self, path: str, data: dict | None = None):
        return self.client.post(path, data={"csrf_token": csrf_token(self.client), **(data or {})})


@pytest.fixture
def auth(client, users) -> AuthActions:
    return AuthActions(client)
