"""The ticket pages through the Flask test client, for every role that may use them."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from callcenter.db import session_factory
from callcenter.models import AuditEntry, Notification, SurveyRequest, Ticket, TicketHistory, TicketStatus
from callcenter.services.tickets import escalation
from callcenter.services.tickets.tickets import create_ticket

from .helpers import COMPLAINT_FIELDS, local


def db(settings):
    return session_factory(settings.database_url)()


def make_complaint(settings, people, **kw):
    with db(settings) as s:
        t = create_ticket(s, settings, actor=s.get(type(people["agent1"]), people["agent1"].id), type="complaint",
                          subject=kw.pop("subject", "保洁投诉"), contact_phone="13800138000", severity="ordinary",
                          urgency="urgent", fields=dict(COMPLAINT_FIELDS), **kw)
        s.commit()
        return t.id


def ticket(settings, ticket_id) -> Ticket:
    with db(settings) as s:
        t = s.get(Ticket, ticket_id)
        s.expunge(t)
        return t


def complaint_form(**extra):
    form = {"type": "complaint", "subject": "电梯噪音", "contact_phone": "13800138000",
            "f_complainant": "张三", "f_channel": "phone", "f_target": "电梯", "severity": "ordinary",
            "urgency": "not_urgent"}
    form.update(extra)
    return form


# --- creating from the console -------------------------------------------------------------

def test_console_link_prefills_the_form(browser, customer, settings):
    agent = browser("agent1")
    page = agent.get(f"/tickets/new?customer_id={customer.id}&linkedid=1763800000.12&phone=13800138000"
                     "&category=complaint").get_data(as_text=True)
    assert 'name="type" value="complaint"' in page
    assert 'name="f_complainant" value="张三"' in page
    assert 'name="f_area" value="阳光花园"' in page
    assert 'name="call_linkedid" value="1763800000.12"' in page
    assert 'name="contact_phone" value="13800138000"' in page


def test_console_link_without_a_ticket_category_asks_for_the_type(browser, customer):
    page = browser("agent1").get(f"/tickets/new?customer_id={customer.id}&linkedid=L1&category=human")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "选择类型" in text and "type=repair" in text and "linkedid=L1" in text


def test_agent_creates_a_ticket_and_lands_on_it(browser, settings, people, customer):
    agent = browser("agent1")
    response = agent.post("/tickets/new", complaint_form(customer_id=str(customer.id), call_linkedid="L-42"))
    assert response.status_code == 302
    with db(settings) as s:
        t = s.scalar(select(Ticket))
        assert t.owner_id == people["agent1"].id and t.call_linkedid == "L-42" and t.customer_id == customer.id
        assert response.location.endswith(f"/tickets/{t.id}")
        assert t.fields["target"] == "电梯"
    page = agent.get(response.location).get_data(as_text=True)
    assert t.number in page and "电梯噪音" in page and "创建" in page


def test_a_rejected_form_keeps_what_was_typed(browser, settings):
    response = browser("agent1").post("/tickets/new", complaint_form(f_target="", description="楼上漏水三天了"))
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "投诉对象 (what is complained about) is required" in page
    assert "楼上漏水三天了" in page and 'value="电梯噪音"' in page
    with db(settings) as s:
        assert s.scalar(select(Ticket.id)) is None


def test_transferred_call_shows_the_existing_ticket(browser, settings, people):
    make_complaint(settings, people, call_linkedid="L-7")
    page = browser("agent2").get("/tickets/new?linkedid=L-7&category=complaint").get_data(as_text=True)
    assert "本次来电已有工单" in page


def test_prefill_and_create_as_json(browser, settings, people, customer):
    tid = make_complaint(settings, people, call_linkedid="L-9")
    agent = browser("agent2")
    data = agent.get(f"/api/tickets/prefill?customer_id={customer.id}&linkedid=L-9&category=repair").get_json()
    assert data["type"] == "repair" and data["fields"]["name"] == "张三"
    assert [e["id"] for e in data["existing"]] == [tid]
    assert {f["name"] for f in data["field_specs"]["repair"]} == {"name", "address", "item"}
    created = agent.post_json("/api/tickets", {"type": "repair", "subject": "漏水", "contact_phone": "138",
                                               "customer_id": customer.id, "call_linkedid": "L-9", "paid": False,
                                               "appointment_at": "2026-09-16 14:00",
                                               "fields": {"name": "张三", "address": "3栋", "item": "漏水"}})
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    assert body["number"].startswith("GD") and body["url"].endswith(f"/tickets/{body['id']}")
    assert ticket(settings, body["id"]).appointment_at == local(2026, 9, 16, 14, 0)
    bad = agent.post_json("/api/tickets", {"type": "repair", "subject": "漏水", "fields": {"name": "张三"}})
    assert bad.status_code == 400 and "address" in bad.get_json()["errors"]
    assert agent.post_json("/api/tickets", {"type": "repair", "invalid": "yes"}).status_code == 400
    assert agent.post_json("/api/tickets", ["not", "an", "object"]).status_code == 400


# --- detail, history, escaping, audit --------------------------------------------------------

def test_customer_data_is_escaped(browser, settings, people, customer):
    with db(settings) as s:
        s.get(type(customer), customer.id).name = '<img src=x onerror=alert(1)>'
        s.commit()
    tid = make_complaint(settings, people, subject="<script>alert('x')</script>", customer_id=customer.id,
                         description='"><b>bold</b>')
    for url in (f"/tickets/{tid}", "/tickets/?scope=open"):
        page = browser("sup").get(url).get_data(as_text=True)
        assert "<script>alert" not in page and "<img src=x" not in page and "<b>bold</b>" not in page
        assert "&lt;script&gt;" in page


def test_detail_shows_history_and_is_audited(browser, settings, people):
    tid = make_complaint(settings, people)
    sup = browser("sup")
    assert sup.post(f"/tickets/{tid}/note", {"text": "已联系工程部"}).status_code == 302
    page = sup.get(f"/tickets/{tid}").get_data(as_text=True)
    assert "处理记录" in page and "已联系工程部" in page and "主管" in page and "小王" in page
    with db(settings) as s:
        entry = s.scalar(select(AuditEntry).where(AuditEntry.object_type == "ticket"))
        assert entry.object_id == str(tid) and entry.user_id == people["sup"].id


def test_edit_by_another_agent_keeps_the_owner(browser, settings, people):
    tid = make_complaint(settings, people)
    agent2 = browser("agent2")
    form = agent2.get(f"/tickets/{tid}/edit").get_data(as_text=True)
    assert 'name="f_target" value="保洁员态度"' in form
    response = agent2.post(f"/tickets/{tid}/edit", {
        "subject": "保洁投诉", "contact_phone": "13800138000", "f_complainant": "张三", "f_channel": "phone",
        "f_target": "保洁员态度", "f_customer_wants": "道歉", "severity": "ordinary", "urgency": "urgent",
        "status": "in_progress", "assignee_id": str(people["agent2"].id), "note": "转接后跟进"})
    assert response.status_code == 302, response.get_data(as_text=True)
    t = ticket(settings, tid)
    assert t.owner_id == people["agent1"].id and t.assignee_id == people["agent2"].id
    assert t.status == TicketStatus.IN_PROGRESS and t.fields["customer_wants"] == "道歉"


def test_close_needs_a_resolution_then_reopen(browser, settings, people):
    tid = make_complaint(settings, people)
    agent = browser("agent1")
    response = agent.post(f"/tickets/{tid}/close", {"text": "  "}, follow_redirects=True)
    assert "resolution" in response.get_data(as_text=True)
    assert ticket(settings, tid).status == TicketStatus.OPEN
    agent.post(f"/tickets/{tid}/close", {"text": "已更换保洁员"})
    assert ticket(settings, tid).status == TicketStatus.CLOSED
    with db(settings) as s:
        assert s.scalar(select(SurveyRequest.ticket_id)) == tid
    page = agent.get(f"/tickets/{tid}").get_data(as_text=True)
    assert "重新打开" in page and "关闭工单" not in page
    assert agent.get(f"/tickets/{tid}/edit").status_code == 302
    agent.post(f"/tickets/{tid}/reopen", {"text": "回访不满意"})
    assert ticket(settings, tid).status == TicketStatus.REOPENED
    with db(settings) as s:
        entry = s.scalar(select(TicketHistory).where(TicketHistory.action == "reopened"))
        assert entry.changes["reason"] == "回访不满意" and entry.user_id == people["agent1"].id


# --- roles ------------------------------------------------------------------------------------

def test_qa_reads_with_masked_numbers_and_cannot_write(browser, settings, people):
    tid = make_complaint(settings, people)
    qa = browser("qa")
    page = qa.get(f"/tickets/{tid}").get_data(as_text=True)
    assert "138****8000" in page and "13800138000" not in page
    assert "关闭工单" not in page and "修改" not in page
    assert "138****8000" in qa.get("/tickets/?scope=all").get_data(as_text=True)
    for url, data in ((f"/tickets/{tid}/close", {"text": "x"}), (f"/tickets/{tid}/edit", {"subject": "x"}),
                      ("/tickets/new", complaint_form()), (f"/tickets/{tid}/reopen", {"text": "x"})):
        assert qa.post(url, data).status_code == 403
    assert qa.get("/tickets/new").status_code == 403
    assert ticket(settings, tid).status == TicketStatus.OPEN


@pytest.mark.parametrize("role, scope, code", [
    ("agent1", "mine", 200), ("agent1", "overdue", 200), ("agent1", "all", 403),
    ("sup", "all", 200), ("dgm", "all", 200), ("qa", "all", 200), ("qa", "mine", 403),
])
def test_lists_per_role(browser, role, scope, code):
    assert browser(role).get(f"/tickets/?scope={scope}").status_code == code


def test_overdue_list_shows_missed_deadlines_and_promises(browser, settings, people):
    make_complaint(settings, people, subject="早已逾期", now=local(2020, 1, 6, 10, 0))
    make_complaint(settings, people, subject="尚未到期", now=local(2099, 1, 5, 10, 0),
                   promised_reply_at=local(2020, 1, 6, 10, 0))
    make_complaint(settings, people, subject="按时", now=local(2099, 1, 5, 10, 0))
    page = browser("sup").get("/tickets/?scope=overdue").get_data(as_text=True)
    assert "早已逾期" in page and "尚未到期" in page and "按时" not in page
    assert "（未兑现）" in page and "（逾期）" in page


def test_anonymous_is_sent_to_sign_in_and_json_gets_401(browser):
    anonymous = browser()
    assert "/auth/login" in anonymous.get("/tickets/").location
    assert anonymous.get("/api/tickets/prefill").status_code == 401
    assert anonymous.get("/api/notifications").status_code == 401


def test_forms_need_the_csrf_token(browser, settings, people):
    tid = make_complaint(settings, people)
    agent = browser("agent1")
    response = agent.client.post(f"/tickets/{tid}/close", data={"text": "no token"})
    assert response.status_code == 400
    assert agent.client.post("/api/tickets", json={"type": "consultation"}).status_code == 400
    assert ticket(settings, tid).status == TicketStatus.OPEN


def test_there_is_no_delete_route(app, browser, settings, people):
    tid = make_complaint(settings, people)
    ticket_rules = [r for r in app.url_map.iter_rules() if r.endpoint.startswith("tickets.")]
    assert ticket_rules
    assert not [r for r in ticket_rules if "DELETE" in r.methods or "delete" in r.rule or "delete" in r.endpoint]
    assert browser("dgm").client.delete(f"/tickets/{tid}").status_code == 405
    assert ticket(settings, tid) is not None


# --- notifications ------------------------------------------------------------------------------

def test_notifications_list_and_mark_read(browser, settings, people):
    tid = make_complaint(settings, people, now=local(2026, 9, 15, 10, 0))
    with db(settings) as s:
        escalation.sweep(s, settings, now=local(2026, 9, 15, 12, 30))
        s.commit()
    sup = browser("sup")
    data = sup.get("/api/notifications").get_json()
    assert data["unread"] == 1 and data["items"][0]["ticket_id"] == tid
    page = sup.get("/notifications/").get_data(as_text=True)
    assert "已升级" in page and f"/tickets/{tid}" in page
    assert sup.post("/notifications/read", {"id": str(data["items"][0]["id"])}).status_code == 302
    assert sup.get("/api/notifications").get_json()["unread"] == 0
    agent = browser("agent1")
    assert agent.post_json("/api/notifications/read", {"ids": "all"}).status_code == 400
    assert agent.post_json("/api/notifications/read", {}).get_json() == {"marked": 1}
    with db(settings) as s:
        assert s.scalar(select(Notification).where(Notification.read_at.is_(None))) is None


def test_creating_a_serious_complaint_notifies_an_open_console(browser, bus, people):
    with bus.subscribe("notify") as sub:
        browser("agent1").post("/tickets/new", complaint_form(severity="serious"))
        events = [payload for _topic, payload in sub.drain()]
    assert people["dgm"].id in {e["user_id"] for e in events}


@pytest.mark.parametrize("kind, form", [
    ("consultation", {"f_topic": "物业费标准", "f_answer": "每平米 2 元"}),
    ("suggestion", {"f_topic": "增加充电桩"}),
    ("order", {"f_order_number": "A-1001", "f_item": "水龙头", "f_request": "exchange", "f_reason": "漏水"}),
    ("repair", {"f_name": "张三", "f_address": "3栋2单元501", "f_item": "门锁坏", "paid": "warranty",
                "appointment_at": "2026-09-16T14:00"}),
])
def test_every_type_has_a_working_form_and_page(browser, settings, kind, form):
    agent = browser("agent1")
    page = agent.get(f"/tickets/new?type={kind}").get_data(as_text=True)
    assert f'name="type" value="{kind}"' in page
    for name in (k for k in form if k.startswith("f_")):
        assert f'name="{name}"' in page
    response = agent.post("/tickets/new", {"type": kind, "subject": "来电", "contact_phone": "13800138000", **form})
    assert response.status_code == 302, response.get_data(as_text=True)
    detail = agent.get(response.location)
    assert detail.status_code == 200
    edit = agent.get(response.location + "/edit")
    assert edit.status_code == 200 and 'name="status"' in edit.get_data(as_text=True)


# --- searching by a number --------------------------------------------------------------------

def test_a_masked_role_cannot_recover_a_number_digit_by_digit(browser, settings, people):
    """qa sees 138****8000; a search by part of the number must not tell it the hidden digits."""
    make_complaint(settings, people, subject="保洁投诉")
    qa = browser("qa")
    found = lambda q: "保洁投诉" in qa.get("/tickets/", query_string={"scope": "all", "q": q}).get_data(as_text=True)
    assert not any(found(prefix) for prefix in ("1380", "13800", "138001", "1380013", "0013800"))
    assert found("13800138000")                       # the whole number: nothing is revealed
    assert found("保洁")                               # words still search as before
    sup = browser("sup")                               # a role that sees numbers searches freely
    assert "保洁投诉" in sup.get("/tickets/", query_string={"scope": "all", "q": "380013"}).get_data(as_text=True)


def test_ticket_search_takes_wildcards_and_nul_literally(browser, settings, people):
    make_complaint(settings, people, subject="保洁投诉")
    sup = browser("sup")
    for query in ("%", "_", "%\x00%", "_\x00"):
        page = sup.get("/tickets/", query_string={"scope": "all", "q": query}).get_data(as_text=True)
        assert "保洁投诉" not in page, query
    # A query that is nothing but a NUL is no query: the list as without one, not an error.
    response = sup.get("/tickets/", query_string={"scope": "all", "q": "\x00"})
    assert response.status_code == 200 and "保洁投诉" in response.get_data(as_text=True)
