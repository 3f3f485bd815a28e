"""People, customers and closed tickets for the survey tests."""

from __future__ import annotations

import datetime as dt

import pytest

import callcenter.services.surveys  # noqa: F401 - connects the survey receivers to the ticket signals
from callcenter.models import BusinessHours, Customer, CustomerPhone, Role, Tier, User
from callcenter.services.tickets.tickets import close_ticket, create_ticket
from callcenter.timeutil import to_utc_naive

TZ = "Asia/Shanghai"


def local(*args: int) -> dt.datetime:
    """Shanghai wall-clock time as the naive UTC the services store."""
    return to_utc_naive(dt.datetime(*args), TZ)


@pytest.fixture
def agent(session):
    user = User(username="agent1", role=Role.AGENT, display_name="小王", password_hash="x")
    session.add(user)
    session.flush()
    return user


@pytest.fixture
def office_hours(session):
    session.add_all(BusinessHours(line_id=None, weekday=wd, opens=dt.time(9), closes=dt.time(18))
                    for wd in range(5))
    session.flush()


def make_customer(session, name="张三", phone="+8613800138000", tier=Tier.ORDINARY):
    customer = Customer(name=name, tier=tier)
    customer.phones.append(CustomerPhone(e164=phone, raw=phone))
    session.add(customer)
    session.flush()
    return customer


def closed_ticket(session, settings, agent, *, kind="complaint", customer=None, phone="13800138000",
                  closed_at=None, subject="保洁投诉", fields=None, linkedid=""):
    """A ticket created and closed at ``closed_at`` (a Tuesday 10:00 by default)."""
    closed_at = closed_at or local(2026, 9, 15, 10, 0)
    extra = {}
    if kind == "complaint":
        extra = {"severity": "ordinary", "urgency": "urgent",
                 "fields": fields or {"complainant": "张三", "channel": "phone", "target": "保洁员态度"}}
    elif fields:
        extra = {"fields": fields}
    ticket = create_ticket(session, settings, actor=agent, type=kind, subject=subject, contact_phone=phone,
                           customer_id=customer.id if customer else None, call_linkedid=linkedid,
                           now=closed_at - dt.timedelta(hours=1), **extra)
    close_ticket(session, settings, ticket, actor=agent, resolution="已处理", now=closed_at)
    session.flush()
    return ticket
