"""Sign-in, throttling, session expiry, CSRF, cookies, headers, the secret key file."""

from __future__ import annotations

import os
import re
import stat
import time

import pytest
from sqlalchemy import select

from callcenter.bus.core import InProcessBus
from callcenter.db import session_scope
from callcenter.models import AuditEntry, User
from callcenter.secret_key import SECRET_FILE
from callcenter.web import create_app
from callcenter.web.auth import SEEN_KEY

from .conftest import PASSWORD, AuthActions, csrf_token


def test_sign_in_lands_on_the_role_page(client, auth):
    response = auth.login("agent")
    assert response.status_code == 302 and response.location == "/"
    assert client.get("/").location == "/agent/"
    page = client.get("/agent/")
    assert page.status_code == 200
    assert "agent-张" in page.get_data(as_text=True)


@pytest.mark.parametrize("role, landing", [("qa", "/qa/"), ("supervisor", "/supervisor/"), ("admin", "/admin/users")])
def test_each_role_has_a_landing_page(client, auth, role, landing):
    auth.login(role)
    assert client.get("/").location == landing
    assert client.get(landing).status_code == 200


def test_password_is_checked_and_failures_are_audited(client, auth, settings, users):
    response = auth.login("agent", "wrong-password")
    assert response.status_code == 401
    assert "用户名或密码错误" in response.get_data(as_text=True)
    assert client.get("/agent/").status_code == 302  # still anonymous
    with session_scope(settings.database_url) as s:
        actions = [e.action for e in s.scalars(select(AuditEntry).order_by(AuditEntry.id))]
        assert actions == ["login_failed"]
        assert s.get(User, users["agent"]).failed_logins == 1


@pytest.mark.parametrize("password", [PASSWORD, "wrong-password"])
def test_no_database_connection_is_held_while_the_password_hash_runs(client, auth, settings, monkeypatch, password):
    """The hash is slow on purpose; a shift's agents signing in at once must not hold
    every pooled connection while it runs (PostgreSQL's pool is smaller than the web
    threads)."""
    import callcenter.services.people.users as auth_module
    from callcenter.db import engine_for

    pool = engine_for(settings.database_url).pool
    checked_out_during_hash = []
    real_check = auth_module.check_password_hash

    def observing_check(stored, given):
        checked_out_during_hash.append(pool.checkedout())
        return real_check(stored, given)

    monkeypatch.setattr(auth_module, "check_password_hash", observing_check)
    response = auth.login("agent", password)
    assert response.status_code == (302 if password == PASSWORD else 401)
    assert checked_out_during_hash == [0]


def test_unknown_user_gets_the_same_answer_as_a_wrong_password(client, auth):
    wrong = auth.login("agent", "wrong-password")
    unknown = auth.login("nobody-here", "wrong-password")
    assert wrong.status_code == unknown.status_code == 401
    assert "用户名或密码错误" in unknown.get_data(as_text=True)


def test_account_locks_after_max_failures_even_with_the_right_password(client, auth, settings, users):
    for _ in range(settings.login_max_failures - 1):
        assert auth.login("agent", "wrong-password").status_code == 401
    locked = auth.login("agent", "wrong-password")
    assert locked.status_code == 429
    assert "登录失败次数过多" in locked.get_data(as_text=True)
    assert int(locked.headers["Retry-After"]) > 0
    right = auth.login("agent", PASSWORD)
    assert right.status_code == 429, "a locked account refuses even the right password"
    with session_scope(settings.database_url) as s:
        assert s.get(User, users["agent"]).locked_until is not None


def test_locked_unknown_user_looks_exactly_like_a_locked_real_user(settings, bus, tmp_path, users):
    # Separate clients from separate addresses so the per-IP lock does not interfere.
    app = create_app(settings.model_copy(update={"login_max_failures": 3}), bus, instance_path=tmp_path / "i")
    pages = {}
    for index, username in enumerate(("agent", "ghost-user")):
        client = app.test_client()
        env = {"REMOTE_ADDR": f"10.0.0.{index + 1}"}
        for _ in range(3):
            token = csrf_token(client)
            response = client.post("/auth/login", data={"username": username, "password": "bad-password",
                                                         "csrf_token": token}, environ_base=env)
        body = response.get_data(as_text=True).replace(username, "USER")
        pages[username] = (response.status_code, re.sub(r'(content|value)="[^"]{40,}"', "TOKEN", body))
    assert pages["agent"][0] == pages["ghost-user"][0] == 429
    assert pages["agent"][1] == pages["ghost-user"][1]


def test_one_address_is_locked_across_usernames(settings, bus, tmp_path, users):
    app = create_app(settings.model_copy(update={"login_max_failures": 3}), bus, instance_path=tmp_path / "i")
    client = app.test_client()
    env = {"REMOTE_ADDR": "10.9.9.9"}
    for name in ("a1", "a2", "a3"):
        client.post("/auth/login", data={"username": name, "password": "x" * 9,
                                         "csrf_token": csrf_token(client)}, environ_base=env)
    response = client.post("/auth/login", data={"username": "agent", "password": PASSWORD,
                                                "csrf_token": csrf_token(client)}, environ_base=env)
    assert response.status_code == 429
    other = app.test_client()
    ok = other.post("/auth/login", data={"username": "agent", "password": PASSWORD,
                                         "csrf_token": csrf_token(other)}, environ_base={"REMOTE_ADDR": "10.1.1.1"})
    assert ok.status_code == 302, "another address is not affected"


@pytest.mark.parametrize("hops", [0, 1])
def test_behind_a_trusted_proxy_each_client_address_is_throttled_on_its_own(settings, bus, tmp_path, users, hops):
    """Behind nginx every request comes from the proxy's address. With ``web_proxy_hops``
    = 1 the panel takes the client from the proxy's X-Forwarded-For: a guesser from one
    address is locked out, a colleague from another still signs in. With 0 (no proxy
    declared) the header is not believed - a client could write any address into it - so
    the same requests all count for the one peer address."""
    app = create_app(settings.model_copy(update={"login_max_failures": 3, "web_proxy_hops": hops}), bus,
                     instance_path=tmp_path / "i")
    proxy = {"REMOTE_ADDR": "10.0.0.1"}          # every request arrives from the proxy
    guesser = app.test_client()
    for name in ("a1", "a2", "a3"):
        guesser.post("/auth/login", data={"username": name, "password": "x" * 9,
                                          "csrf_token": csrf_token(guesser)},
                     environ_base=proxy, headers={"X-Forwarded-For": "198.51.100.7"})
    colleague = app.test_client()
    response = colleague.post("/auth/login", data={"username": "agent", "password": PASSWORD,
                                                   "csrf_token": csrf_token(colleague)},
                              environ_base=proxy, headers={"X-Forwarded-For": "203.0.113.9"})
    assert response.status_code == (302 if hops else 429)
    with session_scope(settings.database_url) as s:
        failed = s.scalars(select(AuditEntry).where(AuditEntry.action == "login_failed")).all()
    assert failed and {e.detail.rsplit("ip=", 1)[1] for e in failed} == {"198.51.100.7" if hops else "10.0.0.1"}


def test_deactivated_user_cannot_sign_in_and_loses_open_sessions(client, auth, settings, users):
    auth.login("agent")
    assert client.get("/agent/").status_code == 200
    with session_scope(settings.database_url) as s:
        s.get(User, users["agent"]).active = False
    assert client.get("/agent/").status_code == 302
    assert auth.login("agent").status_code == 401


def test_idle_session_expires_and_activity_refreshes_it(client, auth, settings):
    auth.login("agent")
    with client.session_transaction() as sess:
        sess[SEEN_KEY] = time.time() - settings.session_minutes * 60 + 120
    assert client.get("/agent/").status_code == 200
    with client.session_transaction() as sess:
        assert sess[SEEN_KEY] > time.time() - 60, "the request counted as activity"
        sess[SEEN_KEY] = time.time() - settings.session_minutes * 60 - 1
    response = client.get("/agent/")
    assert response.status_code == 302 and "/auth/login" in response.location
    assert client.get("/api/agent/state").status_code == 401


def test_posts_without_csrf_token_are_refused(client, auth):
    auth.login("agent")
    assert client.post("/api/agent/interface", json={"interface": "PJSIP/1002"}).status_code == 400
    assert client.post("/auth/logout").status_code == 400
    assert client.get("/agent/").status_code == 200, "the refused logout did not sign out"
    ok = client.post("/api/agent/interface", json={"interface": "PJSIP/1002"},
                     headers={"X-CSRFToken": csrf_token(client)})
    assert ok.status_code == 200


def test_login_form_itself_needs_the_token(client, users):
    response = client.post("/auth/login", data={"username": "agent", "password": PASSWORD})
    assert response.status_code == 400


def test_logout_signs_out(client, auth):
    auth.login("agent")
    assert auth.logout().status_code == 302
    assert client.get("/agent/").status_code == 302


def test_next_parameter_only_allows_local_paths(client, auth):
    token = csrf_token(client)
    response = client.post("/auth/login", data={"username": "agent", "password": PASSWORD, "csrf_token": token,
                                                "next": "https://evil.example/"})
    assert response.location == "/"
    auth.logout()
    token = csrf_token(client)
    response = client.post("/auth/login", data={"username": "agent", "password": PASSWORD, "csrf_token": token,
                                                "next": "/callbacks/"})
    assert response.location == "/callbacks/"


def test_cookie_flags(client, auth):
    response = auth.login("agent")
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie


def test_secure_cookie_when_configured(settings, bus, tmp_path, monkeypatch, users):
    monkeypatch.setenv("CALLCENTER_FLASK_SESSION_COOKIE_SECURE", "true")
    app = create_app(settings, bus, instance_path=tmp_path / "i")
    client = app.test_client()
    response = client.post("/auth/login", base_url="https://localhost", data={
        "username": "agent", "password": PASSWORD,
        "csrf_token": csrf_token_https(client)}, headers={"Referer": "https://localhost/auth/login"})
    assert response.status_code == 302
    assert "Secure" in response.headers["Set-Cookie"]


def csrf_token_https(client) -> str:
    page = client.get("/auth/login", base_url="https://localhost").get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def test_security_headers_on_pages(client, auth):
    auth.login("agent")
    response = client.get("/agent/")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-store"


def test_templates_have_no_inline_script_or_style():
    """The CSP forbids inline code; a template with some would silently break."""
    from pathlib import Path

    import callcenter.web

    folder = Path(callcenter.web.__file__).parent / "templates"
    for template in folder.rglob("*.html"):
        text = template.read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text), f"inline script in {template}"
        assert not re.search(r"\son[a-z]+\s*=", text), f"inline event handler in {template}"
        assert "style=" not in text and "<style" not in text, f"inline style in {template}"


def test_secret_key_is_generated_once_with_private_permissions(settings, bus, tmp_path):
    instance = tmp_path / "instance"
    no_key = settings.model_copy(update={"secret_key": ""})
    first = create_app(no_key, bus, instance_path=instance)
    path = instance / SECRET_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    second = create_app(no_key, InProcessBus(), instance_path=instance)
    assert first.config["SECRET_KEY"] == second.config["SECRET_KEY"] == path.read_text().strip()
    assert len(first.config["SECRET_KEY"]) >= 64


def test_loosened_secret_file_is_tightened(settings, bus, tmp_path):
    instance = tmp_path / "instance"
    instance.mkdir()
    (instance / SECRET_FILE).write_text("k" * 64)
    os.chmod(instance / SECRET_FILE, 0o644)
    app = create_app(settings.model_copy(update={"secret_key": ""}), bus, instance_path=instance)
    assert app.config["SECRET_KEY"] == "k" * 64
    assert stat.S_IMODE((instance / SECRET_FILE).stat().st_mode) == 0o600


def test_configured_secret_key_wins_and_writes_no_file(settings, bus, tmp_path):
    app = create_app(settings, bus, instance_path=tmp_path / "instance")
    assert app.config["SECRET_KEY"] == "test-secret-key"
    assert not (tmp_path / "instance" / SECRET_FILE).exists()


def test_create_app_accepts_a_test_config_dict(settings, bus, tmp_path):
    app = create_app({"database_url": settings.database_url, "secret_key": "from-dict"}, bus,
                     instance_path=tmp_path / "i")
    assert app.config["SECRET_KEY"] == "from-dict"


def _cookie(client) -> str:
    return client.get_cookie("callcenter_session").value


def test_a_cookie_copied_before_logout_opens_nothing_after_it(app, client, auth, users):
    """The session lives in a signed cookie: signing out must end it on the server side
    too, or a copy taken before (a shared PC, a stolen cookie) goes on reading customers."""
    auth.login("agent")
    copy = _cookie(client)
    assert auth.logout().status_code == 302
    thief = app.test_client()
    thief.set_cookie("callcenter_session", copy)
    assert thief.get("/agent/").status_code == 302
    assert thief.get("/api/search", query_string={"q": "王"}).status_code == 401


def test_logout_ends_every_session_of_the_user(app, client, auth, users):
    auth.login("agent")
    other = app.test_client()
    AuthActions(other).login("agent")
    assert other.get("/agent/").status_code == 200
    auth.logout()
    assert other.get("/agent/").status_code == 302


def test_a_password_reset_and_a_deactivation_end_open_sessions(app, client, auth, settings, users):
    from callcenter.services.people import users as users_service

    auth.login("agent")
    with session_scope(settings.database_url) as s:
        users_service.reset_password(s, s.get(User, users["agent"]), "a-new-long-password", admin_id=users["admin"])
    assert client.get("/agent/").status_code == 302
    auth.login("agent", password="a-new-long-password")
    assert client.get("/agent/").status_code == 200
    with session_scope(settings.database_url) as s:
        users_service.admin_set_active(s, users["agent"], False, admin_id=users["admin"])
        users_service.admin_set_active(s, users["agent"], True, admin_id=users["admin"])
    assert client.get("/agent/").status_code == 302, "reactivated, but the old session stays ended"
