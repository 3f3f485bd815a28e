"""三级负责制: the escalation sweep, notifications, idempotency, the shortcut to the manager."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from callcenter.bus.core import InProcessBus
from callcenter.db import session_factory
from callcenter.models import Notification, Role, Ticket, TicketHistory, User
from callcenter.services.tickets import escalation, notifications
from callcenter.services.tickets.tickets import close_ticket, create_ticket, update_ticket

from .conftest import PASSWORD_HASH
from .helpers import COMPLAINT_FIELDS, local

pytestmark = pytest.mark.usefixtures("office_hours")
CREATED = local(2026, 9, 15, 10, 0)


def urgent_complaint(session, settings, actor, **kw):
    kw.setdefault("severity", "ordinary")
    return create_ticket(session, settings, actor=actor, type="complaint", subject="噪音投诉",
                         contact_phone="13800138000", urgency="urgent", department="工程部",
                         fields=dict(COMPLAINT_FIELDS), now=CREATED, **kw)


def inbox(session, user):
    return [n.message for n in session.scalars(select(Notification).where(Notification.user_id == user.id)
                                               .order_by(Notification.id))]


def test_overdue_ticket_climbs_one_level_per_period(session, settings, people):
    t = urgent_complaint(session, settings, people["agent1"])
    assert t.due_at == t.escalation_due_at == local(2026, 9, 15, 12, 0)

    assert escalation.sweep(session, settings, now=local(2026, 9, 15, 11, 59)) == []
    assert escalation.sweep(session, settings, now=local(2026, 9, 15, 12, 1)) == [t.id]
    assert t.escalation_level == 1 and t.escalated_at == local(2026, 9, 15, 12, 1)
    assert t.escalation_due_at == local(2026, 9, 15, 14, 0)   # one more 2-hour period
    assert t.due_at == local(2026, 9, 15, 12, 0)              # the commitment itself stays
    assert len(inbox(session, people["sup"])) == 1 and "主管" in inbox(session, people["sup"])[0]
    assert inbox(session, people["dgm"]) == []

    assert escalation.sweep(session, settings, now=local(2026, 9, 15, 13, 0)) == []
    assert escalation.sweep(session, settings, now=local(2026, 9, 15, 14, 0)) == [t.id]
    assert t.escalation_level == 2 and t.escalation_due_at is None
    assert len(inbox(session, people["dgm"])) == 1 and "副总经理" in inbox(session, people["dgm"])[0]
    assert len(inbox(session, people["agent1"])) == 2        # the owner hears of each step

    # At the top nobody is higher: later sweeps leave it alone (it stays in the overdue list).
    assert escalation.sweep(session, settings, now=local(2026, 9, 20, 0, 0)) == []
    steps = [h.changes["escalation_level"] for h in session.scalars(
        select(TicketHistory).where(TicketHistory.ticket_id == t.id, TicketHistory.action == "escalated"))]
    assert steps == [[0, 1], [1, 2]]


def test_sweeping_twice_at_the_same_instant_escalates_once(session, settings, people):
    t = urgent_complaint(session, settings, people["agent1"])
    at = local(2026, 9, 15, 12, 30)
    assert escalation.sweep(session, settings, now=at) == [t.id]
    assert escalation.sweep(session, settings, now=at) == []
    assert t.escalation_level == 1
    assert len(inbox(session, people["sup"])) == 1


def test_a_concurrent_sweep_cannot_double_escalate(db_url, settings, people, session):
    t = urgent_complaint(session, settings, people["agent1"])
    session.commit()
    at = local(2026, 9, 15, 12, 30)
    factory = session_factory(db_url)
    with factory() as first, factory() as second:
        seen_by_first = escalation.find_overdue(first, at)
        assert [o.ticket_id for o in seen_by_first] == [t.id]
        # The other process escalates and commits in between.
        assert escalation.sweep(second, settings, now=at) == [t.id]
        second.commit()
        # The first sweep now acts on what it read: the conditional update finds nothing.
        assert escalation.escalate_one(first, settings, seen_by_first[0], at) is False
        first.commit()
    session.expire_all()
    assert session.get(Ticket, t.id).escalation_level == 1
    assert len(list(session.scalars(select(TicketHistory).where(TicketHistory.action == "escalated")))) == 1
    assert len(inbox(session, people["sup"])) == 1


def test_closed_tickets_do_not_escalate(session, settings, people):
    t = urgent_complaint(session, settings, people["agent1"])
    close_ticket(session, settings, t, actor=people["agent1"], resolution="已处理", now=local(2026, 9, 15, 11, 0))
    assert escalation.sweep(session, settings, now=local(2026, 9, 16, 0, 0)) == []


def test_serious_complaint_goes_straight_to_the_manager(session, settings, people):
    t = urgent_complaint(session, settings, people["agent1"], severity="serious")
    assert t.escalation_level == 2 and t.escalation_due_at is None
    assert len(inbox(session, people["sup"])) == 1 and len(inbox(session, people["dgm"])) == 1
    assert "重大投诉" in inbox(session, people["dgm"])[0]


def test_important_customer_goes_straight_to_the_manager(session, settings, people, customer):
    customer.important = True
    t = urgent_complaint(session, settings, people["agent1"], customer_id=customer.id)
    assert t.escalation_level == 2
    assert "重要业户" in inbox(session, people["dgm"])[0]


def test_reclassified_as_serious_goes_to_the_manager(session, settings, people):
    t = urgent_complaint(session, settings, people["agent1"])
    update_ticket(session, settings, t, actor=people["sup"], severity="serious", now=local(2026, 9, 15, 10, 30))
    assert t.escalation_level == 2
    assert [h.action for h in t.history] == ["created", "updated", "escalated"]


def test_without_a_manager_chain_supervisors_then_admins_are_told(session, settings, people):
    other_sup = User(username="sup2", role=Role.SUPERVISOR, password_hash=PASSWORD_HASH)
    retired = User(username="sup3", role=Role.SUPERVISOR, password_hash=PASSWORD_HASH, active=False)
    session.add_all([other_sup, retired])
    session.flush()
    t = urgent_complaint(session, settings, people["agent2"])  # agent2 has no manager
    escalation.sweep(session, settings, now=local(2026, 9, 15, 12, 0))
    assert len(inbox(session, people["sup"])) == len(inbox(session, other_sup)) == 1
    assert inbox(session, retired) == []
    escalation.sweep(session, settings, now=local(2026, 9, 15, 14, 0))
    assert len(inbox(session, people["dgm"])) == 1            # the admins at level 2
    assert len(inbox(session, people["sup"])) == 1
    assert t.escalation_level == 2


def test_notifications_reach_an_open_console_after_commit(session, settings, people):
    bus = InProcessBus()
    t = urgent_complaint(session, settings, people["agent1"])
    with bus.subscribe("notify") as sub:
        escalation.sweep(session, settings, now=local(2026, 9, 15, 12, 0))
        assert sub.get(timeout=0) is None                     # nothing before the commit
        session.commit()
        assert notifications.publish_outbox(session, bus) == 2
        events = [payload for _topic, payload in sub.drain()]
    assert {e["user_id"] for e in events} == {people["agent1"].id, people["sup"].id}
    assert all(e["ticket_id"] == t.id and e["ticket_number"] == t.number for e in events)
    assert notifications.publish_outbox(session, bus) == 0     # sent once


def test_a_rolled_back_escalation_publishes_nothing(session, settings, people):
    bus = InProcessBus()
    urgent_complaint(session, settings, people["agent1"])
    session.commit()
    escalation.sweep(session, settings, now=local(2026, 9, 15, 12, 0))
    session.rollback()
    with bus.subscribe("notify") as sub:
        assert notifications.publish_outbox(session, bus) == 0
        assert sub.get(timeout=0) is None


def test_mark_read_only_touches_ones_own(session, settings, people):
    urgent_complaint(session, settings, people["agent1"], severity="serious")
    mine = notifications.for_user(session, people["sup"].id)
    theirs = notifications.for_user(session, people["dgm"].id)
    assert notifications.unread_count(session, people["sup"].id) == 1
    assert notifications.mark_read(session, people["sup"].id, [theirs[0].id]) == 0
    assert notifications.mark_read(session, people["sup"].id, [mine[0].id]) == 1
    assert notifications.unread_count(session, people["sup"].id) == 0
    assert notifications.unread_count(session, people["dgm"].id) == 1


def test_a_late_sweep_raises_each_ticket_one_level_per_run(session, settings, people):
    ids = [urgent_complaint(session, settings, people["agent1"]).id for _ in range(3)]
    much_later = local(2026, 9, 16, 10, 0)  # many 2-hour periods have passed
    # Small pages: a ticket escalated on one page comes back on a later one, still overdue.
    assert sorted(escalation.sweep(session, settings, now=much_later, batch=1)) == ids
    assert [session.get(Ticket, i).escalation_level for i in ids] == [1, 1, 1]
    assert sorted(escalation.sweep(session, settings, now=much_later, batch=2)) == ids
    assert [session.get(Ticket, i).escalation_level for i in ids] == [2, 2, 2]
    assert escalation.sweep(session, settings, now=much_later) == []
