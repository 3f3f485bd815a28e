"""Creating, updating, closing and reopening tickets: history, ownership, survey hook."""

from __future__ import annotations

import inspect

import pytest
from sqlalchemy import select

from callcenter.models import SurveyRequest, SurveyStatus, Ticket, TicketHistory, TicketStatus
from callcenter.services.tickets import signals as ticket_signals
from callcenter.services.tickets import tickets
from callcenter.services.tickets.tickets import (
    TicketError,
    TicketPermissionError,
    close_ticket,
    create_ticket,
    reopen_ticket,
    tickets_for_call,
    tickets_for_customer,
    update_ticket,
)

from .helpers import COMPLAINT_FIELDS, local

NOW = local(2026, 9, 15, 10, 0)
pytestmark = pytest.mark.usefixtures("office_hours")


def new_complaint(session, settings, actor, **kw):
    kw.setdefault("now", NOW)
    kw.setdefault("severity", "ordinary")
    kw.setdefault("urgency", "urgent")
    kw.setdefault("fields", dict(COMPLAINT_FIELDS))
    return create_ticket(session, settings, actor=actor, type="complaint", subject="保洁投诉",
                         contact_phone="13800138000", **kw)


def new_repair(session, settings, actor, **kw):
    return create_ticket(session, settings, actor=actor, type="repair", subject="漏水", now=NOW,
                         contact_phone="13800138000", paid=False,
                         fields={"name": "张三", "address": "3栋2单元501", "item": "卫生间漏水"}, **kw)


def history(session, ticket):
    return list(session.scalars(select(TicketHistory).where(TicketHistory.ticket_id == ticket.id)
                                .order_by(TicketHistory.id)))


# --- creation and validation ---------------------------------------------------------------

def test_create_from_a_call_records_everything(session, settings, people, customer):
    t = new_complaint(session, settings, people["agent1"], customer_id=customer.id, call_linkedid="1763800000.12",
                      description="楼道没有打扫")
    assert t.number.startswith("GD20260915-")
    assert t.owner_id == t.assignee_id == people["agent1"].id
    assert t.status == TicketStatus.OPEN and t.escalation_level == 0
    (created,) = history(session, t)
    assert created.action == "created" and created.user_id == people["agent1"].id and created.at == NOW
    assert created.changes["subject"] == [None, "保洁投诉"]
    assert created.changes["fields.target"] == [None, "保洁员态度"]
    assert created.changes["call_linkedid"] == [None, "1763800000.12"]
    assert created.changes["due_at"] == [None, local(2026, 9, 15, 12, 0).isoformat()]
    assert tickets_for_call(session, "1763800000.12") == [t]
    assert tickets_for_customer(session, customer.id, open_only=True) == [t]


@pytest.mark.parametrize("kind, fields, missing", [
    ("complaint", {"complainant": "张三", "channel": "phone"}, "target"),
    ("repair", {"name": "张三", "item": "漏水"}, "address"),
    ("order", {"order_number": "A1", "item": "灯"}, "request"),
    ("consultation", {}, "topic"),
    ("suggestion", {"answer": "谢谢"}, "topic"),
])
def test_required_fields_per_type(session, settings, people, kind, fields, missing):
    extra = {"severity": "ordinary", "urgency": "urgent"} if kind == "complaint" else {}
    with pytest.raises(TicketError) as err:
        create_ticket(session, settings, actor=people["agent1"], type=kind, subject="s",
                      contact_phone="138", fields=fields, now=NOW, **extra)
    assert missing in err.value.errors
    assert "required" in err.value.errors[missing]
    assert session.scalar(select(Ticket.id)) is None


def test_bad_values_get_clear_messages(session, settings, people):
    with pytest.raises(TicketError) as err:
        new_complaint(session, settings, people["agent1"], severity="huge", urgency="",
                      fields=dict(COMPLAINT_FIELDS, channel="pigeon", colour="red"))
    errors = err.value.errors
    assert "severity" in errors and "'huge'" in errors["severity"]
    assert "urgency" in errors
    with pytest.raises(TicketError) as err:
        new_complaint(session, settings, people["agent1"], fields=dict(COMPLAINT_FIELDS, channel="pigeon",
                                                                        colour="red"))
    assert "'pigeon' is not one of phone, in_person, letter, other" in err.value.errors["channel"]
    assert "unknown field 'colour'" in err.value.errors["colour"]
    with pytest.raises(TicketError, match="applies to complaints only"):
        create_ticket(session, settings, actor=people["agent1"], type="consultation", subject="s",
                      fields={"topic": "t"}, severity="serious", now=NOW)
    with pytest.raises(TicketError, match="applies to repairs only"):
        create_ticket(session, settings, actor=people["agent1"], type="consultation", subject="s",
                      fields={"topic": "t"}, paid=True, now=NOW)
    with pytest.raises(TicketError, match="unknown ticket type"):
        create_ticket(session, settings, actor=people["agent1"], type="praise", subject="s", now=NOW)
    with pytest.raises(TicketError, match="subject"):
        create_ticket(session, settings, actor=people["agent1"], type="consultation", subject="  ",
                      fields={"topic": "t"}, now=NOW)


def test_chinese_choice_labels_are_accepted(session, settings, people):
    t = new_complaint(session, settings, people["agent1"],
                      fields=dict(COMPLAINT_FIELDS, channel="信函", category="工程管理",
                                  complained_at="2026-09-15 09:30"))
    assert t.fields["channel"] == "letter"
    assert t.fields["category"] == "project_management"
    assert t.fields["complained_at"] == "2026-09-15T09:30:00"


def test_qa_reads_only(session, settings, people):
    with pytest.raises(TicketPermissionError):
        new_complaint(session, settings, people["qa"])
    t = new_complaint(session, settings, people["agent1"])
    for call in (lambda: update_ticket(session, settings, t, actor=people["qa"], subject="x"),
                 lambda: close_ticket(session, settings, t, actor=people["qa"], resolution="x")):
        with pytest.raises(TicketPermissionError):
            call()
    assert len(history(session, t)) == 1


# --- updates, history and ownership -----------------------------------------------------------

def test_every_change_is_in_the_history_with_old_and_new(session, settings, people):
    t = new_complaint(session, settings, people["agent1"])
    later = local(2026, 9, 15, 10, 20)
    update_ticket(session, settings, t, actor=people["agent1"], now=later, description="补充：三次未打扫",
                  fields={"customer_wants": "更换保洁员", "channel": "in_person"},
                  promised_reply_at=local(2026, 9, 15, 11, 0), status="in_progress")
    entry = history(session, t)[-1]
    assert entry.action == "updated" and entry.at == later and entry.user_id == people["agent1"].id
    assert entry.changes["description"] == ["", "补充：三次未打扫"]
    assert entry.changes["fields.customer_wants"] == [None, "更换保洁员"]
    assert entry.changes["fields.channel"] == ["phone", "in_person"]
    assert entry.changes["promised_reply_at"] == [None, local(2026, 9, 15, 11, 0).isoformat()]
    assert entry.changes["status"] == ["open", "in_progress"]
    assert "fields.target" not in entry.changes  # untouched fields stay and are not logged
    assert t.fields["target"] == "保洁员态度"


def test_no_change_no_history_and_notes_are_logged(session, settings, people):
    t = new_complaint(session, settings, people["agent1"])
    update_ticket(session, settings, t, actor=people["agent1"], subject="保洁投诉", now=NOW)
    assert len(history(session, t)) == 1
    update_ticket(session, settings, t, actor=people["agent1"], note="已致电客户，说明处理进度", now=NOW)
    assert history(session, t)[-1].changes == {"note": "已致电客户，说明处理进度"}


def test_removing_a_required_field_is_refused(session, settings, people):
    t = new_complaint(session, settings, people["agent1"])
    with pytest.raises(TicketError) as err:
        update_ticket(session, settings, t, actor=people["agent1"], fields={"target": ""})
    assert "target" in err.value.errors
    with pytest.raises(TicketError):
        update_ticket(session, settings, t, actor=people["agent1"], contact_phone="")
    assert t.fields["target"] == "保洁员态度" and t.contact_phone == "13800138000"


def test_owner_never_changes_across_a_transfer(session, settings, people):
    t = new_complaint(session, settings, people["agent1"], call_linkedid="1763800000.12")
    # The call is transferred; agent2 finds the ticket by the call and updates it.
    (found,) = tickets_for_call(session, "1763800000.12")
    update_ticket(session, settings, found, actor=people["agent2"], note="转接后继续处理",
                  now=local(2026, 9, 15, 10, 30))
    assert found.owner_id == people["agent1"].id
    assert found.assignee_id == people["agent2"].id
    assert history(session, t)[-1].changes["assignee_id"] == [people["agent1"].id, people["agent2"].id]
    with pytest.raises(TicketError, match="首问负责制"):
        update_ticket(session, settings, found, actor=people["sup"], owner_id=people["agent2"].id)
    update_ticket(session, settings, found, actor=people["sup"], assignee_id=people["agent1"].id)
    assert found.owner_id == people["agent1"].id and found.assignee_id == people["agent1"].id
    with pytest.raises(TicketError, match="cannot be assigned"):
        update_ticket(session, settings, found, actor=people["sup"], assignee_id=people["qa"].id)


def test_protected_columns_cannot_be_edited(session, settings, people):
    t = new_complaint(session, settings, people["agent1"])
    for change in ({"number": "GD1"}, {"type": "repair"}, {"due_at": NOW}, {"escalation_level": 0},
                   {"closed_at": NOW}):
        with pytest.raises(TicketError, match="cannot change"):
            update_ticket(session, settings, t, actor=people["sup"], **change)
    with pytest.raises(TicketError, match="resolution"):
        update_ticket(session, settings, t, actor=people["agent1"], status="closed")


def test_there_is_no_way_to_delete_a_ticket():
    names = [name for name, _ in inspect.getmembers(tickets, inspect.isfunction)]
    assert not [n for n in names if any(w in n for w in ("delete", "remove", "purge", "destroy"))]
    # The ORM relationship does not cascade deletes to the history either.
    assert "delete" not in Ticket.history.property.cascade


# --- closing, the survey hook, reopening --------------------------------------------------------

def test_closing_needs_a_resolution(session, settings, people):
    t = new_complaint(session, settings, people["agent1"])
    with pytest.raises(TicketError, match="resolution"):
        close_ticket(session, settings, t, actor=people["agent1"], resolution="   ")
    assert t.status == TicketStatus.OPEN
    assert session.scalar(select(SurveyRequest.id)) is None


def test_closing_a_complaint_requests_a_survey_within_three_days(session, settings, people, customer):
    t = new_complaint(session, settings, people["agent1"], customer_id=customer.id)
    seen = []
    with ticket_signals.ticket_closed.connected_to(lambda sender, **kw: seen.append((sender, kw["survey"]))):
        close_ticket(session, settings, t, actor=people["agent2"], resolution="已更换保洁员",
                     now=local(2026, 9, 15, 11, 0))
    assert t.status == TicketStatus.CLOSED and t.closed_by_id == people["agent2"].id
    assert t.closed_at == local(2026, 9, 15, 11, 0) and t.escalation_due_at is None
    (survey,) = session.scalars(select(SurveyRequest))
    assert survey.ticket_id == t.id and survey.customer_id == customer.id
    assert survey.number == "13800138000" and survey.status == SurveyStatus.PENDING
    assert survey.due_at == local(2026, 9, 18, 11, 0)
    assert seen == [(t, survey)]
    entry = history(session, t)[-1]
    assert entry.action == "closed" and entry.changes["resolution"] == [None, "已更换保洁员"]
    with pytest.raises(TicketError, match="already closed"):
        close_ticket(session, settings, t, actor=people["agent1"], resolution="again")
    with pytest.raises(TicketError, match="reopen it first"):
        update_ticket(session, settings, t, actor=people["agent1"], subject="x")


def test_closing_a_repair_requests_a_survey_within_two_days(session, settings, people):
    t = new_repair(session, settings, people["agent1"])
    close_ticket(session, settings, t, actor=people["agent1"], resolution="已修复", now=local(2026, 9, 16, 9, 0))
    (survey,) = session.scalars(select(SurveyRequest))
    assert survey.due_at == local(2026, 9, 18, 9, 0)


def test_closing_a_consultation_requests_no_survey(session, settings, people):
    t = create_ticket(session, settings, actor=people["agent1"], type="consultation", subject="物业费",
                      fields={"topic": "物业费标准"}, now=NOW)
    close_ticket(session, settings, t, actor=people["agent1"], resolution="已答复", now=NOW)
    assert session.scalar(select(SurveyRequest.id)) is None


def test_reopen_records_why_and_cancels_the_pending_survey(session, settings, people):
    t = new_complaint(session, settings, people["agent1"])
    close_ticket(session, settings, t, actor=people["agent1"], resolution="已处理", now=local(2026, 9, 15, 11, 0))
    with pytest.raises(TicketError, match="reason"):
        reopen_ticket(session, settings, t, actor=None, reason="")
    reopened_at = local(2026, 9, 16, 15, 0)
    reopen_ticket(session, settings, t, actor=None, reason="回访不满意：保洁仍未到位", now=reopened_at)
    assert t.status == TicketStatus.REOPENED and t.closed_at is None
    assert session.scalar(select(SurveyRequest.status)) == SurveyStatus.CANCELLED
    entry = history(session, t)[-1]
    assert entry.action == "reopened" and entry.user_id is None
    assert entry.changes["reason"] == "回访不满意：保洁仍未到位"
    assert entry.changes["status"] == ["closed", "reopened"]
    assert t.due_at == local(2026, 9, 16, 17, 0)  # the urgent rule restarts at the reopening
    assert t.escalation_due_at == t.due_at
    # A later change to the rule inputs counts from the reopening, not from the first call.
    update_ticket(session, settings, t, actor=people["agent1"], urgency="not_urgent", now=local(2026, 9, 16, 15, 5))
    assert t.due_at == local(2026, 9, 16, 18, 0)
    with pytest.raises(TicketError, match="not closed"):
        reopen_ticket(session, settings, t, actor=people["agent1"], reason="again")
    close_ticket(session, settings, t, actor=people["agent1"], resolution="已更换保洁员", now=local(2026, 9, 17, 9, 0))
    assert [s.status for s in session.scalars(select(SurveyRequest).order_by(SurveyRequest.id))] \
        == [SurveyStatus.CANCELLED, SurveyStatus.PENDING]


def test_history_is_complete_for_a_whole_life(session, settings, people):
    t = new_complaint(session, settings, people["agent1"], severity="serious")
    update_ticket(session, settings, t, actor=people["agent2"], department="工程部", now=local(2026, 9, 15, 10, 10))
    close_ticket(session, settings, t, actor=people["agent1"], resolution="ok", now=local(2026, 9, 15, 11, 0))
    reopen_ticket(session, settings, t, actor=people["sup"], reason="客户再次来电", now=local(2026, 9, 15, 12, 0))
    actions = [(h.action, h.user_id) for h in history(session, t)]
    assert actions == [("created", people["agent1"].id), ("escalated", people["agent1"].id),
                       ("updated", people["agent2"].id), ("closed", people["agent1"].id),
                       ("reopened", people["sup"].id)]
    assert all(h.at is not None for h in history(session, t))


def test_rollback_leaves_nothing_behind(session, settings, people):
    people_ids = {k: v.id for k, v in people.items()}
    session.commit()
    new_complaint(session, settings, session.get(type(people["agent1"]), people_ids["agent1"]))
    session.rollback()
    assert session.scalar(select(Ticket.id)) is None
    assert session.scalar(select(TicketHistory.id)) is None
