"""The screen-pop payload, search (简/繁), new customers, masking, audit."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from callcenter.db import utcnow
from callcenter.models import AuditEntry, Call, CallStatus, Customer, TicketStatus, TicketType, Tier
from callcenter.services.calls import screenpop
from callcenter.services.people import records, registration, search
from callcenter.services.people.masking import mask_phone, phone_for

from . import data


@pytest.fixture
def scene(session, users):
    """A VIP customer calling the VIP line after choosing 报修 in the IVR, with history."""
    line = data.vip_line(session)
    cust = data.customer(session)
    earlier = utcnow() - dt.timedelta(days=3)
    data.call(session, "old-1", line=line, customer_id=cust.id, status=CallStatus.COMPLETED,
              category="consultation", started_at=earlier, answered_by_user_id=users["agent"])
    data.ticket(session, users["agent"], cust.id, "厨房漏水", status=TicketStatus.OPEN)
    data.ticket(session, users["agent"], cust.id, "门禁卡补办", type=TicketType.CONSULTATION,
                status=TicketStatus.CLOSED, resolution="已补办", created_at=earlier)
    current = data.call(session, "1700000000.42", line=line, customer_id=cust.id, name="王秀英",
                        ivr_path=["main", "2", "repair"], category="repair")
    session.commit()
    return {"line": line, "customer": cust, "call": current}


def test_pop_names_the_kind_of_a_line_with_a_name_of_its_own(session, settings, users, scene):
    scene["line"].name = "投诉热线"
    session.commit()
    pop = screenpop.build_pop(session, settings, linkedid="1700000000.42", role="agent")
    assert (pop["line"]["name"], pop["line"]["kind_label"]) == ("投诉热线", "VIP客户专线")


def test_pop_for_a_known_vip_customer(session, settings, users, scene):
    pop = screenpop.build_pop(session, settings, linkedid="1700000000.42", role="agent", user_id=users["agent"],
                              caller_number="13800138000", caller_name="王秀英", interface="PJSIP/1001")
    assert pop["caller"] == {"number": "13800138000", "name": "王秀英"}
    assert pop["customer"]["name"] == "王秀英"
    assert pop["customer"]["vip"] is True and pop["customer"]["tier_label"] == "VIP"
    assert pop["customer"]["unit_address"] == "3栋-2单元-501"
    # The line's name already says VIP客户专线: the kind is not printed twice.
    assert pop["line"] == {"name": "VIP客户专线", "number": "4008002000", "kind": "vip", "kind_label": ""}
    assert pop["ivr"] == {"path": ["main", "2", "repair"], "category": "repair", "category_label": "报修"}
    assert [t["subject"] for t in pop["open_tickets"]] == ["厨房漏水"]
    assert [(t["subject"], t["status_label"], t["resolution"]) for t in pop["last_tickets"]] == [
        ("厨房漏水", "待处理", ""), ("门禁卡补办", "已关闭", "已补办")]
    assert [(c["linkedid"], c["status"], c["answered_by"]) for c in pop["last_calls"]] == [
        ("old-1", "completed", "agent-张")], "the ringing call itself is not history"
    assert pop["new_customer"] is None


def test_pop_is_audited_as_opening_the_customer_record(session, settings, users, scene):
    screenpop.build_pop(session, settings, linkedid="1700000000.42", role="agent", user_id=users["agent"])
    session.commit()
    entry = session.scalar(select(AuditEntry))
    assert (entry.user_id, entry.action, entry.object_type, entry.object_id) == (
        users["agent"], "screen_pop", "customer", str(scene["customer"].id))
    assert "1700000000.42" in entry.detail


def test_unknown_caller_gets_a_new_customer_prefill_and_no_audit(session, settings, users):
    pop = screenpop.build_pop(session, settings, linkedid="x-1", role="agent", user_id=users["agent"],
                              caller_number="13912345678", caller_name="<script>alert(1)</script>")
    assert pop["customer"] is None
    assert pop["new_customer"] == {"number": "13912345678", "name": ""}
    assert pop["caller"]["name"] == "<script>alert(1)</script>", "data stays data; the browser escapes it"
    assert pop["open_tickets"] == [] and pop["last_calls"] == []
    assert session.scalar(select(AuditEntry)) is None


def test_customer_found_by_number_when_the_call_row_is_missing(session, settings, users):
    cust = data.customer(session, name="李娜", number="+8613711112222", tier=Tier.ORDINARY)
    session.commit()
    pop = screenpop.build_pop(session, settings, linkedid="no-row", role="agent", caller_number="137 1111 2222")
    assert pop["customer"]["id"] == cust.id
    assert pop["customer"]["vip"] is False
    assert pop["line"]["kind"] == "" and pop["call_id"] is None


def test_shared_landline_offers_the_other_customers(session, settings):
    a = data.customer(session, name="张伟", number="+861065529988")
    b = data.customer(session, name="张丽", number="+861065529988")
    pop = screenpop.build_pop(session, settings, linkedid="l", role="agent", caller_number="01065529988")
    assert pop["customer"]["id"] == a.id
    assert pop["other_customers"] == [{"id": b.id, "name": "张丽"}]


def test_numbers_are_masked_for_roles_outside_unmasked_roles(session, settings, users, scene):
    masked = settings.model_copy(update={"unmasked_roles": ["supervisor"]})
    pop = screenpop.build_pop(session, masked, linkedid="1700000000.42", role="agent",
                              caller_number="13800138000")
    assert pop["caller"]["number"] == "138****8000"
    assert pop["customer"]["phones"][0]["number"] == "+86 138****8000"
    assert all("****" in c["number"] for c in pop["last_calls"])


@pytest.mark.parametrize("raw, masked", [
    ("13800138000", "138****8000"),
    ("+8613800138000", "+86 138****8000"),
    ("010 6552 9988", "010****9988"),
    ("95588", "9****88"),
    ("1001", "1001"),
    ("", ""),
])
def test_mask_phone(raw, masked):
    assert mask_phone(raw) == masked


def test_phone_for_follows_settings(settings):
    assert phone_for(settings, "agent", "13800138000") == "13800138000"
    assert phone_for(settings, "qa", "13800138000") == "138****8000"
    assert phone_for(settings, None, "13800138000") == "138****8000"


@pytest.mark.parametrize("query", ["王秀英", "王秀", "秀英", "13800138000", "138 0013 8000", "0138000"])
def test_search_finds_the_customer(session, settings, scene, query):
    result = search.search(session, settings, query, role="agent")
    assert [c["name"] for c in result["customers"]] == ["王秀英"]


def test_search_accepts_traditional_and_simplified(session, settings):
    data.customer(session, name="張偉", number="+8613600000001")   # stored traditional
    data.customer(session, name="刘丽", number="+8613600000002")   # stored simplified
    session.commit()
    assert [c["name"] for c in search.search(session, settings, "张伟", role="agent")["customers"]] == ["張偉"]
    assert [c["name"] for c in search.search(session, settings, "劉麗", role="agent")["customers"]] == ["刘丽"]


def test_search_by_ticket_number_and_id(session, settings, users, scene):
    ticket = data.ticket(session, users["agent"], scene["customer"].id, "电梯异响")
    session.commit()
    by_number = search.search(session, settings, ticket.number.lower(), role="agent")
    assert [t["id"] for t in by_number["tickets"]] == [ticket.id]
    assert by_number["tickets"][0]["customer_name"] == "王秀英"
    by_id = search.search(session, settings, str(ticket.id), role="agent")
    assert ticket.id in [t["id"] for t in by_id["tickets"]]


def test_search_treats_like_wildcards_as_text(session, settings, scene):
    assert search.search(session, settings, "%", role="agent")["customers"] == []
    assert search.search(session, settings, "_", role="agent")["customers"] == []
    assert search.search(session, settings, "   ", role="agent") == {"query": "", "customers": [], "tickets": []}


def test_search_masks_numbers_for_masked_roles(session, settings, scene):
    masked = settings.model_copy(update={"unmasked_roles": []})
    hit = search.search(session, masked, "王秀英", role="agent")["customers"][0]
    assert hit["phones"][0]["number"] == "+86 138****8000"


def test_register_caller_creates_the_customer_and_links_the_call(session, settings, users):
    data.call(session, "new-1", customer_id=None, number="13912345678", e164="+8613912345678")
    session.commit()
    cust = registration.register_caller(session, settings, name=" 赵敏 ", number="139-1234-5678", building="5",
                                     unit="1", room="302", linkedid="new-1", user_id=users["agent"])
    session.commit()
    assert cust.name == "赵敏" and cust.unit_address == "5栋-1单元-302"
    assert [p.e164 for p in cust.phones] == ["+8613912345678"]
    assert session.scalar(select(Call.customer_id).where(Call.linkedid == "new-1")) == cust.id
    pop = screenpop.build_pop(session, settings, linkedid="new-1", role="agent")
    assert pop["customer"]["name"] == "赵敏"
    assert session.scalar(select(AuditEntry.action).where(AuditEntry.object_id == str(cust.id))) == "create"


@pytest.mark.parametrize("fields, message", [
    (dict(name="", number="13912345678"), "name"),
    (dict(name="x" * 101, number="13912345678"), "longer"),
    (dict(name="赵敏", number="12345"), "not a valid phone number"),
    (dict(name="赵敏", number="13912345678", tier="gold"), "unknown tier"),
    (dict(name="赵敏", number="13912345678", building="1" * 33), "building"),
])
def test_register_caller_refuses_bad_input_and_writes_nothing(session, settings, fields, message):
    with pytest.raises(registration.RegistrationError, match=message):
        registration.register_caller(session, settings, **fields)
    session.rollback()
    assert session.scalar(select(Customer)) is None


def test_customer_record_is_audited(session, settings, users, scene):
    record = records.customer_record(session, settings, scene["customer"].id, role="supervisor",
                                       user_id=users["supervisor"])
    session.commit()
    assert record["customer"]["name"] == "王秀英"
    assert [t["subject"] for t in record["open_tickets"]] == ["厨房漏水"]
    entry = session.scalar(select(AuditEntry))
    assert (entry.user_id, entry.action) == (users["supervisor"], "view")
    assert records.customer_record(session, settings, 999999, role="agent", user_id=None) is None


def test_active_call_for_interface(session, settings, scene):
    assert screenpop.active_call_for_interface(session, "PJSIP/1001") is None
    data.ring(session, scene["call"], "PJSIP/1001")
    session.commit()
    current = screenpop.active_call_for_interface(session, "PJSIP/1001")
    assert current["linkedid"] == "1700000000.42" and current["type"] == "agent_called"
    scene["call"].status = CallStatus.COMPLETED
    session.commit()
    assert screenpop.active_call_for_interface(session, "PJSIP/1001") is None


def test_search_takes_nul_and_wildcards_literally(session, settings, scene):
    for query in ("\x00", "%\x00", "_\x00_", "\x00%"):
        assert search.search(session, settings, query, role="agent")["customers"] == [], repr(query)


def test_a_masked_role_finds_a_customer_by_the_whole_number_only(session, settings, scene):
    masked = settings.model_copy(update={"unmasked_roles": ["admin"]})
    number = scene["customer"].phones[0].e164
    national = number.removeprefix("+86")
    assert search.search(session, masked, national[:7], role="agent")["customers"] == []
    assert search.search(session, masked, national[3:], role="agent")["customers"] == []
    [hit] = search.search(session, masked, national, role="agent")["customers"]
    assert hit["id"] == scene["customer"].id
    assert search.search(session, settings, national[:7], role="agent")["customers"]


def test_the_pop_is_found_by_its_row_and_carries_the_calls_one_key(session, settings, users, scene):
    """The listener names the row (call_id): the builder reads it, not a search by linkedid,
    and the pop is known by the key route_call gave the call, from the dialplan to the browser."""
    call = scene["call"]
    call.screen_pop_key = "k" * 32
    session.commit()
    pop = screenpop.build_pop(session, settings, linkedid="not-the-linkedid", call_id=call.id, role="agent")
    assert (pop["call_id"], pop["pop_key"], pop["customer"]["name"]) == (call.id, "k" * 32, "王秀英")
    unknown = screenpop.build_pop(session, settings, linkedid="9.9", role="agent", caller_number="13900000000")
    assert unknown["pop_key"] == "9.9" and unknown["call_id"] is None
