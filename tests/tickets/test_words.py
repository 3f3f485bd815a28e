"""Issue 11 #8: the ticket pages speak Chinese and name calls as people do: the deadline
rule, the follow-up survey's state and the escalation level in words, the call as its
time and number rather than Asterisk's linkedid."""

from __future__ import annotations

import datetime as dt

from callcenter.models import Call, CallStatus
from callcenter.services.tickets.tickets import close_ticket

from .test_views import db, make_complaint


def _call(settings, linkedid="1796582322.57"):
    with db(settings) as s:
        s.add(Call(uniqueid=linkedid, linkedid=linkedid, caller_number="13800138000", ivr_path=[],
                   status=CallStatus.COMPLETED, started_at=dt.datetime(2026, 12, 7, 2, 3, 4)))
        s.commit()
    return linkedid


def test_a_ticket_shows_its_call_as_time_and_number_not_the_asterisk_id(browser, settings, people):
    linkedid = _call(settings)
    tid = make_complaint(settings, people, call_linkedid=linkedid)
    page = browser("agent1").get(f"/tickets/{tid}").get_data(as_text=True)
    assert '<dd id="ticket-call">12-07 10:03 13800138000</dd>' in page  # local time (UTC+8)
    assert linkedid not in page


def test_deadline_rule_survey_state_and_level_are_words(browser, settings, people):
    tid = make_complaint(settings, people)
    with db(settings) as s:
        from callcenter.models import Ticket
        close_ticket(s, settings, s.get(Ticket, tid), actor=s.get(type(people["agent1"]), people["agent1"].id),
                     resolution="已处理")
        s.commit()
    agent = browser("agent1")
    page = agent.get(f"/tickets/{tid}").get_data(as_text=True)
    assert "期限规则：" in page and "within" not in page and "remit" not in page
    assert "（待回访）" in page and "pending" not in page
    listing = browser("sup").get("/tickets/?scope=all").get_data(as_text=True)
    assert "<td>客服专员 (receiving agent)</td>" in listing and "<td>0</td>" not in listing
