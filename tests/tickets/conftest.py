"""People, a customer and opening hours for the ticket tests; a signed-in browser
for the panel's ticket pages."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from werkzeug.security import generate_password_hash

from callcenter.bus.core import InProcessBus
from callcenter.models import BusinessHours, Customer, CustomerPhone, Role, User
from callcenter.web import create_app

PASSWORD = "correct horse battery"
# Cheap PBKDF2: sign-in still checks the password for real, only faster than scrypt.
PASSWORD_HASH = generate_password_hash(PASSWORD, method="pbkdf2:sha256:1000")


@pytest.fixture
def people(session):
    """agent1 → sup (supervisor) → dgm (admin): the owner's escalation chain.
    agent2 has no manager; qa reads only."""
    def user(username, role, name, manager=None):
        # A precomputed hash: hashing a password per test costs more than the test.
        u = User(username=username, role=role, display_name=name, password_hash=PASSWORD_HASH,
                 manager_id=manager.id if manager else None)
        session.add(u)
        session.flush()
        return u

    dgm = user("dgm", Role.ADMIN, "副总")
    sup = user("sup", Role.SUPERVISOR, "主管", dgm)
    agent1 = user("agent1", Role.AGENT, "小王", sup)
    agent2 = user("agent2", Role.AGENT, "小李")
    qa = user("qa", Role.QA, "质检")
    return {"dgm": dgm, "sup": sup, "agent1": agent1, "agent2": agent2, "qa": qa}


@pytest.fixture
def customer(session):
    c = Customer(name="张三", area="阳光花园", building="3", unit="2", room="501")
    c.phones.append(CustomerPhone(e164="+8613800138000", raw="13800138000"))
    session.add(c)
    session.flush()
    return c


@pytest.fixture
def office_hours(session):
    """Site-wide opening hours Monday-Friday 09:00-18:00 (swapped Saturdays use Monday's)."""
    session.add_all(BusinessHours(line_id=None, weekday=wd, opens=dt.time(9), closes=dt.time(18))
                    for wd in range(5))
    session.flush()



# --- the web panel ------------------------------------------------------------------------

_CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


@pytest.fixture
def bus():
    return InProcessBus()


@pytest.fixture
def app(settings, bus, tmp_path, session, people, customer, office_hours):
    session.commit()  # the app reads with its own sessions
    app = create_app(settings, bus, instance_path=tmp_path / "instance")
    app.config.update(TESTING=True)
    return app


class Browser:
    """A signed-in test client that sends the CSRF token like the panel's pages do."""

    def __init__(self, app, username: str | None) -> None:
        self.client = app.test_client()
        if username:
            response = self.client.post("/auth/login", data={"username": username, "password": PASSWORD,
                                                             "csrf_token": self.token()})
            assert response.status_code == 302, f"{username} could not sign in"

    def token(self) -> str:
        page = self.client.get("/auth/login", follow_redirects=True).get_data(as_text=True)
        return _CSRF_META.search(page).group(1)

    def get(self, url: str, **kw):
        return self.client.get(url, **kw)

    def post(self, url: str, data: dict | None = None, **kw):
        return self.client.post(url, data={"csrf_token": self.token(), **(data or {})}, **kw)

    def post_json(self, url: str, body):
        return self.client.post(url, json=body, headers={"X-CSRFToken": self.token()})


@pytest.fixture
def browser(app):
    return lambda username=None: Browser(app, username)
