"""The access matrix: EVERY registered route × every role (and anonymous).

Routes are read from ``app.url_map`` at collection time, so a route added anywhere
(including other areas' blueprints) is tested without anyone remembering to list it.
The panel's own routes are also checked against the table below, so a wrong rule on a
view fails even if the view enforces it faithfully.

Expected behaviour:
  anonymous → redirect to the sign-in page, or 401 for JSON and event streams (/api/);
  a role the route does not allow → 403;
  an allowed role → anything but 401/403 or a sign-in redirect (404 for a made-up id,
  400 for an empty form are fine: the guard let the request through).
"""

from __future__ import annotations

import shutil
import tempfile

import pytest
from werkzeug.routing import IntegerConverter, PathConverter

from callcenter.bus.core import InProcessBus
from callcenter.config import Settings
from callcenter.web import create_app
from callcenter.web.roles import PUBLIC, access_of

from .conftest import PASSWORD, ROLES, AuthActions, add_user, csrf_token

ALL = frozenset(ROLES)
CALL = frozenset({"agent", "supervisor"})
EXPECTED = {
    "static": PUBLIC,
    "auth.login": PUBLIC,
    "auth.logout": ALL,
    "main.index": ALL,
    "agent.console": CALL,
    "agent.state": CALL,
    "agent.set_interface": CALL,
    "agent.action": CALL,
    "agent.events": CALL,
    "customers.search": CALL,
    "customers.record": CALL,
    "customers.create": CALL,
    "callbacks.index": CALL,
    "callbacks.done": CALL,
    "callbacks.claim": CALL,
    "callbacks.dial": CALL,
    "callbacks.outcome": CALL,
    "callbacks.assign": frozenset({"supervisor"}),
    "supervisor.index": frozenset({"supervisor"}),
    "supervisor.overview": frozenset({"supervisor"}),
    "supervisor.events": frozenset({"supervisor"}),
    "qa.index": frozenset({"qa", "supervisor", "admin"}),
    # The agent who took a call may open its QA page and hear it (checked per call).
    "qa.call_page": ALL,
    "qa.recording": ALL,
    "qa.score": frozenset({"qa", "supervisor"}),
    "qa.comment": frozenset({"qa", "supervisor"}),
    "qa.appeal": frozenset({"agent"}),
    "qa.decide": frozenset({"supervisor"}),
    "qa.mine": frozenset({"agent"}),
    "qa.draw_sample": frozenset({"qa", "supervisor", "admin"}),
    "qa.sample_page": frozenset({"qa", "supervisor", "admin"}),
    "qa.rerun": frozenset({"qa", "supervisor", "admin"}),
    "qa.save_plan": frozenset({"supervisor", "admin"}),
    "qa.reports": frozenset({"qa", "supervisor", "admin"}),
    "qa.export": frozenset({"qa", "supervisor", "admin"}),
    "qa.scorecard_admin": frozenset({"admin"}),
    "reports.index": frozenset({"supervisor", "admin"}),
    "wallboard.index": frozenset({"supervisor"}),
    "wallboard.data": frozenset({"supervisor"}),
    "reports.export": frozenset({"supervisor", "admin"}),
    "admin.users": frozenset({"admin"}),
    "admin.create_user": frozenset({"admin"}),
    "admin.set_active": frozenset({"admin"}),
    "calls_ui.control": CALL,
    "calls_ui.transfer_targets": CALL,
    "calls_ui.wrapup_codes": CALL,
    "calls_ui.wrapup": CALL,
    "calls_ui.legs": CALL,
    "calls_ui.codes_page": frozenset({"admin"}),
    "calls_ui.save_code": frozenset({"admin"}),
    "admin.reset_password": frozenset({"admin"}),
    "account.password": ALL,
}
MISSING_ID = 987654


def _collect_routes() -> list[tuple[str, str, str]]:
    settings = Settings(database_url="sqlite://", secret_key="collect-only")
    app = create_app(settings, InProcessBus(), instance_path=tempfile.gettempdir())
    adapter = app.url_map.bind("localhost")
    routes = []
    for rule in app.url_map.iter_rules():
        values = {}
        for arg in rule.arguments:
            converter = rule._converters[arg]
            if isinstance(converter, IntegerConverter):
                values[arg] = MISSING_ID
            elif isinstance(converter, PathConverter):
                values[arg] = "css/panel.css"
            else:
                values[arg] = "no-such-thing"
        url = adapter.build(rule.endpoint, values, force_external=False)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            routes.append((rule.endpoint, method, url))
    return routes


ROUTES = _collect_routes()


@pytest.fixture(scope="module")
def matrix_app(sqlite_template, tmp_path_factory, test_password_hash):
    folder = tmp_path_factory.mktemp("access")
    shutil.copy(sqlite_template, folder / "cc.db")
    # Many deliberate sign-ins from one address: the throttle is tested elsewhere.
    settings = Settings(database_url=f"sqlite:///{folder / 'cc.db'}", secret_key="matrix",
                        recordings_dir=folder / "recordings", login_max_failures=100_000)
    for role in ROLES:
        add_user(settings.database_url, test_password_hash, role, role,
                 default_interface="PJSIP/1001" if role == "agent" else None)
    app = create_app(settings, InProcessBus(), instance_path=folder / "instance")
    app.config.update(TESTING=True)
    return app


def test_routes_were_collected():
    endpoints = {endpoint for endpoint, _, _ in ROUTES}
    assert set(EXPECTED) <= endpoints, f"panel routes missing from the app: {set(EXPECTED) - endpoints}"


def test_every_view_declares_who_may_open_it(matrix_app):
    undeclared = [e for e, view in matrix_app.view_functions.items() if access_of(view) is None]
    assert not undeclared, f"views without roles_required/public: {undeclared}"


@pytest.mark.parametrize("endpoint", sorted(EXPECTED))
def test_panel_routes_have_the_intended_rule(matrix_app, endpoint):
    assert access_of(matrix_app.view_functions[endpoint]) == EXPECTED[endpoint]


def _request(client, method: str, url: str):
    headers = {"X-CSRFToken": csrf_token(client)}
    if method == "GET":
        return client.get(url, headers=headers)
    return client.open(url, method=method, headers=headers, data={"csrf_token": headers["X-CSRFToken"]})


def _is_login_redirect(response) -> bool:
    return response.status_code in (301, 302, 303) and "/auth/login" in (response.location or "")


@pytest.mark.parametrize("role", [None, *ROLES], ids=["anonymous", *ROLES])
@pytest.mark.parametrize("endpoint, method, url", ROUTES, ids=[f"{m} {u}" for _, m, u in ROUTES])
def test_access_matrix(matrix_app, endpoint, method, url, role):
    allowed = access_of(matrix_app.view_functions[endpoint])
    client = matrix_app.test_client()
    if role is not None:
        login = AuthActions(client).login(role, PASSWORD)
        assert login.status_code == 302, f"{role} could not sign in"
    response = _request(client, method, url)
    try:
        if allowed == PUBLIC:
            assert response.status_code != 403 and not _is_login_redirect(response)
        elif role is None:
            if url.startswith("/api/"):
                assert response.status_code == 401
                assert response.is_json
            else:
                assert _is_login_redirect(response), (response.status_code, response.location)
        elif role in allowed:
            assert response.status_code not in (401, 403), response.get_data(as_text=True)[:200]
            # Signing out ends on the sign-in page by design; nothing else may.
            assert endpoint == "auth.logout" or not _is_login_redirect(response)
        else:
            assert response.status_code == 403
    finally:
        response.close()
