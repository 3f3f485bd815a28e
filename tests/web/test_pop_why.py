"""The pop says why the call came: badges (VIP line, tier, 重要业户, repeat caller with
the count in the window, open complaint with its deadline) and the IVR path in words
read from the flow definitions."""

from __future__ import annotations

import datetime as dt

from callcenter.db import utcnow
from callcenter.models import CallStatus, TicketType, Tier
from callcenter.services.calls import popwhy, screenpop

from . import data


def kinds(pop):
    return [(b["kind"], b["text"]) for b in pop["badges"]]


def test_badges_of_an_important_vip_repeat_caller_with_an_open_complaint(session, settings, users):
    line = data.vip_line(session)
    cust = data.customer(session, tier=Tier.VIP, important=True)
    for hours in (1, 3):
        data.call(session, f"earlier-{hours}", line=line, customer_id=cust.id, status=CallStatus.COMPLETED,
                  started_at=utcnow() - dt.timedelta(hours=hours))
    data.call(session, "last-week", line=line, customer_id=cust.id, status=CallStatus.COMPLETED,
              started_at=utcnow() - dt.timedelta(days=7))       # outside the 24 h window
    complaint = data.ticket(session, users["agent"], cust.id, "物业态度差", type=TicketType.COMPLAINT)
    complaint.due_at = dt.datetime(2026, 11, 23, 2, 30)          # UTC: 10:30 in Shanghai
    data.call(session, "now-1", line=line, customer_id=cust.id, route_reason="vip_line")
    session.commit()
    pop = screenpop.build_pop(session, settings, linkedid="now-1", role="agent")
    assert kinds(pop) == [
        ("vip_line", "VIP专线"), ("vip", "VIP客户"), ("important", "重要业户"),
        ("repeat", "重复来电 24小时内第3次"), ("complaint", f"未结投诉 {complaint.number} 期限 11-23 10:30"),
    ]


def test_an_ordinary_first_caller_has_no_badges_and_a_member_says_so(session, settings, users):
    cust = data.customer(session, tier=Tier.ORDINARY, number="+8613700000001")
    data.call(session, "first-1", customer_id=cust.id, number="13700000001", e164="+8613700000001")
    member = data.customer(session, name="李会员", tier=Tier.MEMBER, number="+8613700000002")
    data.call(session, "member-1", customer_id=member.id, number="13700000002", e164="+8613700000002")
    session.commit()
    assert screenpop.build_pop(session, settings, linkedid="first-1", role="agent")["badges"] == []
    assert kinds(screenpop.build_pop(session, settings, linkedid="member-1", role="agent")) == [("member", "会员")]


def test_unknown_number_seen_before_is_remembered(session, settings, users):
    data.call(session, "u-1", number="13911112222", e164="+8613911112222", status=CallStatus.ABANDONED,
              started_at=utcnow() - dt.timedelta(days=2))
    data.call(session, "u-2", number="13911112222", e164="+8613911112222")
    session.commit()
    pop = screenpop.build_pop(session, settings, linkedid="u-2", role="agent")
    assert pop["customer"] is None and pop["seen_before"] == 1
    assert pop["new_customer"]["name"] == "", "no 新来电 or caller ID name as the person's name"


def test_ivr_path_in_words_from_the_flow_definitions(settings):
    words = popwhy.ivr_words
    assert words(settings, "main", ["main", "key:3", "complaint", "key:1"]) == ["按3 投诉", "按1 服务态度投诉"]
    assert words(settings, "main", ["main", "key:2", "repair", "key:3"]) == ["按2 报修", "按3 漏水、停电等紧急报修"]
    # The demo's complaint: silence three times, then the menu's default.
    assert words(settings, "main", ["main", "timeout", "timeout", "timeout", "default"]) == ["未按键×3", "默认：转人工"]
    assert words(settings, "main", ["main", "invalid:7", "key:0"]) == ["按错(7)", "按0 人工服务"]
    assert words(settings, "after_hours", ["closed", "key:2"]) == ["按2 预约回电"]
    # A row without the line's flow name: the path's first node names the flow.
    assert words(settings, "", ["main", "3"]) == ["按3 投诉"]
    # A flow that no longer exists: the keys are still readable.
    assert words(settings, "gone", ["x", "key:2"]) == ["x", "按2"]
    # The menu broke mid-call (route_call sends the caller to the line's queue, path + "error"),
    # or its flow could not be loaded at all: the agent reads why there was no menu.
    assert words(settings, "main", ["main", "key:3", "error"]) == ["按3 投诉", "菜单故障，直接转人工"]
    assert words(settings, "gone", ["error"]) == ["菜单故障，直接转人工"]
