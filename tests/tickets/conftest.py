"""People and a customer for the ticket tests, and a clock at a known local instant."""

from __future__ import annotations

import datetime as dt

import pytest

from werkzeug.security import generate_password_hash

from callcenter.models import BusinessHours, Customer, CustomerPhone, Role, User

PASSWORD = "correct horse battery"
PASSWORD_HASH = generate_password_hash(PASSWORD)


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

