"""Deadline rules (services/deadlines.py) against the business calendar, on both databases.

Local times are Asia/Shanghai; 2026-09-15 is an ordinary Tuesday. Around National Day
2026: 10-01..10-07 are holidays, Saturday 10-10 is a swapped working day (调休),
Sunday 10-11 is off.
"""

from __future__ import annotations

import pytest

from callcenter.config import Settings
from callcenter.models import TicketHistory
from callcenter.services.tickets import deadlines
from callcenter.services.tickets.tickets import create_ticket, update_ticket

from .helpers import COMPLAINT_FIELDS, local

pytestmark = pytest.mark.usefixtures("office_hours")


def complaint(session, settings, actor, now, **kw):
    kw.setdefault("severity", "ordinary")
    kw.setdefault("urgency", "not_urgent")
    return create_ticket(session, settings, actor=actor, type="complaint", subject="保洁投诉",
                         contact_phone="13800138000", fields=dict(COMPLAINT_FIELDS), now=now, **kw)


def simple(session, settings, actor, now, kind, **kw):
    fields = {"topic": "物业费"} if kind in ("consultation", "suggestion") else kw.pop("fields")
    return create_ticket(session, settings, actor=actor, type=kind, subject="s", fields=fields, now=now, **kw)


def test_urgent_complaint_reply_within_two_hours(session, settings, people):
    t = complaint(session, settings, people["agent1"], local(2026, 9, 15, 10, 0), urgency="urgent")
    assert t.due_at == local(2026, 9, 15, 12, 0)
    assert t.department_due_at is None


def test_urgent_complaint_late_in_the_day_is_due_at_closing(session, settings, people):
    # 17:30 + 2 h = 19:30, but a complaint within the desk's own remit is handled the same day.
    t = complaint(session, settings, people["agent1"], local(2026, 9, 15, 17, 30), urgency="urgent")
    assert t.due_at == local(2026, 9, 15, 18, 0)
    created = t.history[0]
    assert "当个工作日内处理" in created.changes["rule"]


def test_urgent_complaint_on_a_holiday_still_two_hours(session, settings, people):
    t = complaint(session, settings, people["agent1"], local(2026, 10, 3, 10, 0), urgency="urgent",
                  department="工程部")
    assert t.due_at == local(2026, 10, 3, 12, 0)


def test_not_urgent_own_remit_same_day(session, settings, people):
    t = complaint(session, settings, people["agent1"], local(2026, 9, 15, 10, 0))
    assert t.due_at == local(2026, 9, 15, 18, 0)


def test_not_urgent_after_hours_is_due_next_working_day_closing(session, settings, people):
    t = complaint(session, settings, people["agent1"], local(2026, 9, 15, 19, 0))
    assert t.due_at == local(2026, 9, 16, 18, 0)


def test_not_urgent_passed_on_two_working_days_and_department_eight_hours(session, settings, people):
    t = complaint(session, settings, people["agent1"], local(2026, 9, 15, 10, 0), department="工程部")
    assert t.due_at == local(2026, 9, 17, 10, 0)             # 2 working days < 3 days
    assert t.department_due_at == local(2026, 9, 15, 18, 0)  # written response within 8 h


def test_passed_on_before_national_day_three_days_beat_two_working_days(session, settings, people):
    # 2 working days from 09-30 would be 10-09; the 3-day limit for a department is stricter.
    t = complaint(session, settings, people["agent1"], local(2026, 9, 30, 10, 0), department="工程部")
    assert t.due_at == local(2026, 10, 3, 10, 0)
    assert "3 天内处理" in t.history[0].changes["rule"]


def test_invalid_complaint_one_working_day_across_national_day(session, settings, people):
    t = complaint(session, settings, people["agent1"], local(2026, 9, 30, 10, 0), invalid=True)
    assert t.due_at == local(2026, 10, 8, 10, 0)


def test_invalid_complaint_on_the_friday_before_the_swapped_saturday(session, settings, people):
    t = complaint(session, settings, people["agent1"], local(2026, 10, 9, 10, 0), invalid=True,
                  department="工程部", urgency="urgent")
    assert t.due_at == local(2026, 10, 10, 10, 0)  # Saturday 10-10 is a working day
    assert t.department_due_at is None             # nothing is passed on for an invalid complaint


def test_suggestion_two_working_days_skip_the_sunday_after_the_swap(session, settings, people):
    t = simple(session, settings, people["agent1"], local(2026, 10, 9, 10, 0), "suggestion")
    assert t.due_at == local(2026, 10, 12, 10, 0)  # Sat 10-10 counts, Sun 10-11 does not


def test_consultation_on_a_holiday_is_due_on_the_first_working_day(session, settings, people):
    t = simple(session, settings, people["agent1"], local(2026, 10, 1, 10, 0), "consultation")
    assert t.due_at == local(2026, 10, 8, 18, 0)


def test_consultation_on_the_swapped_saturday_closes_that_day(session, settings, people):
    t = simple(session, settings, people["agent1"], local(2026, 10, 10, 10, 0), "consultation")
    assert t.due_at == local(2026, 10, 10, 18, 0)  # swapped Saturday keeps Monday's hours


def test_order_passed_to_another_department_three_days(session, settings, people):
    t = simple(session, settings, people["agent1"], local(2026, 9, 15, 10, 0), "order",
               fields={"order_number": "A1", "item": "水龙头", "request": "return"}, department="仓储部")
    assert t.due_at == local(2026, 9, 18, 10, 0)
    assert t.department_due_at is None


def test_repair_plan_two_days_crew_on_site_eight_hours(session, settings, people):
    t = simple(session, settings, people["agent1"], local(2026, 9, 15, 10, 0), "repair",
               fields={"name": "张三", "address": "3栋2单元501", "item": "卫生间漏水"},
               contact_phone="13800138000", paid=False)
    assert t.due_at == local(2026, 9, 17, 10, 0)
    assert t.department_due_at == local(2026, 9, 15, 18, 0)


def test_repair_with_appointment_crew_due_at_the_appointment(session, settings, people):
    t = simple(session, settings, people["agent1"], local(2026, 9, 15, 10, 0), "repair",
               fields={"name": "张三", "address": "3栋2单元501", "item": "门锁坏"},
               contact_phone="13800138000", paid=True, appointment_at=local(2026, 9, 16, 14, 0))
    assert t.department_due_at == local(2026, 9, 16, 14, 0)
    update_ticket(session, settings, t, actor=people["agent1"], appointment_at=local(2026, 9, 16, 9, 0),
                  now=local(2026, 9, 15, 11, 0))
    assert t.department_due_at == local(2026, 9, 16, 9, 0)


def test_rules_are_configurable(session, db_url, people):
    settings = Settings(database_url=db_url, deadline_urgent_hours=4, deadline_own_remit_same_day=False,
                        deadline_other_department_days=5, deadline_department_response_hours=24,
                        deadline_invalid_complaint_working_days=2, deadline_non_urgent_working_days=3)
    actor = people["agent1"]
    assert complaint(session, settings, actor, local(2026, 9, 15, 17, 30), urgency="urgent").due_at \
        == local(2026, 9, 15, 21, 30)
    t = complaint(session, settings, actor, local(2026, 9, 14, 10, 0))
    assert t.due_at == local(2026, 9, 17, 10, 0)  # 3 working days, no same-day rule
    t = complaint(session, settings, actor, local(2026, 9, 15, 10, 0), department="工程部")
    assert t.due_at == local(2026, 9, 18, 10, 0)  # 3 working days < 5 days
    assert t.department_due_at == local(2026, 9, 16, 10, 0)
    assert complaint(session, settings, actor, local(2026, 9, 30, 10, 0), invalid=True).due_at \
        == local(2026, 10, 9, 10, 0)


def test_reclassifying_recomputes_from_when_the_customer_called(session, settings, people):
    t = complaint(session, settings, people["agent1"], local(2026, 9, 15, 10, 0), department="工程部")
    update_ticket(session, settings, t, actor=people["agent1"], urgency="urgent", now=local(2026, 9, 15, 10, 30))
    assert t.due_at == local(2026, 9, 15, 12, 0)   # the clock started at 10:00, not at the change
    entry = session.query(TicketHistory).filter_by(ticket_id=t.id, action="updated").one()
    assert entry.changes["urgency"] == ["not_urgent", "urgent"]
    assert entry.changes["due_at"] == [local(2026, 9, 17, 10, 0).isoformat(), local(2026, 9, 15, 12, 0).isoformat()]
    assert "2 小时" in entry.changes["rule"]
    assert t.escalation_due_at == t.due_at


def test_passing_to_a_department_starts_its_clock_then(session, settings, people):
    t = complaint(session, settings, people["agent1"], local(2026, 9, 15, 10, 0))
    assert t.department_due_at is None
    update_ticket(session, settings, t, actor=people["agent1"], department="设计部", now=local(2026, 9, 15, 11, 0))
    assert t.department_due_at == local(2026, 9, 15, 19, 0)
    assert t.due_at == local(2026, 9, 17, 10, 0)
    update_ticket(session, settings, t, actor=people["agent1"], department="", now=local(2026, 9, 15, 12, 0))
    assert t.department_due_at is None
    assert t.due_at == local(2026, 9, 15, 18, 0)


def test_marking_invalid_switches_to_the_reasoned_reply_rule(session, settings, people):
    t = complaint(session, settings, people["agent1"], local(2026, 9, 15, 10, 0), department="工程部")
    update_ticket(session, settings, t, actor=people["agent1"], invalid=True, now=local(2026, 9, 15, 10, 5))
    assert t.due_at == local(2026, 9, 16, 10, 0)
    assert t.department_due_at is None


def test_next_period_end_of_a_same_day_rule_is_the_next_closing(session, settings, people):
    t = complaint(session, settings, people["agent1"], local(2026, 9, 30, 10, 0))
    assert t.due_at == local(2026, 9, 30, 18, 0)
    # Missed at closing on the eve of National Day: the next period ends at the first
    # working day's closing time after the holiday.
    assert deadlines.next_period_end(session, settings, t, t.due_at) == local(2026, 10, 8, 18, 0)


def test_rules_table_reads_settings_and_defaults():
    rules = deadlines.DeadlineRules.from_settings(Settings(deadline_urgent_hours=3))
    assert rules.urgent_hours == 3
    assert rules.repair_onsite_hours == 8.0 and rules.repair_plan_days == 2
    assert rules.non_urgent_working_days == 2
