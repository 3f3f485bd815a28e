"""decide(): the routing rules as a table, without a database."""

from __future__ import annotations

import datetime as dt

import pytest

from callcenter.agi import variables as V
from callcenter.agi.variables import decision_variables
from callcenter.config import Settings
from callcenter.services.calls.routing import IvrOutcome, RoutePlan, RouteRequest, decide

SETTINGS = Settings(database_url="sqlite://", vip_queue="vip", default_queue="general_q",
                    priority_vip=10, priority_raised=5, priority_normal=0)


def plan(**changes) -> RoutePlan:
    base = dict(
        request=RouteRequest(uniqueid="1.1", linkedid="1.1", channel="PJSIP/trunk-1", dialled="4008001000",
                             caller_number="13800138000", caller_name="张三"),
        now=dt.datetime(2026, 11, 23, 2), line_id=2, line_kind="ordinary", line_queue="general_q",
        customer_id=None, customer_name="", tier=None, caller_e164="+8613800138000",
        repeat_caller=False, open_complaint=False, is_open=True, closed_reason="",
        duty_queue=None, ivr_flow="",
    )
    base.update(changes)
    return RoutePlan(**base)


VIP_CUSTOMER = dict(customer_id=7, tier="vip")
MEMBER = dict(customer_id=8, tier="member")
ORDINARY = dict(customer_id=9, tier="ordinary")
CLOSED = dict(is_open=False, closed_reason="after_hours")
HOLIDAY = dict(is_open=False, closed_reason="holiday")


@pytest.mark.parametrize("changes, ivr, expected", [
    # open hours
    ({}, None, ("queue", "general_q", 0, "ordinary")),
    (ORDINARY, None, ("queue", "general_q", 0, "ordinary")),
    (dict(line_kind="vip", line_queue="vip"), None, ("queue", "vip", 10, "vip_line")),
    (dict(line_kind="vip", line_queue="vip", **VIP_CUSTOMER), None, ("queue", "vip", 10, "vip_line")),
    (VIP_CUSTOMER, None, ("queue", "vip", 10, "vip_customer")),
    (MEMBER, None, ("queue", "vip", 10, "member_customer")),
    (dict(open_complaint=True, repeat_caller=True, **VIP_CUSTOMER), None, ("queue", "vip", 10, "vip_customer")),
    (dict(open_complaint=True, repeat_caller=True), None, ("queue", "general_q", 5, "open_complaint")),
    (dict(open_complaint=True, **ORDINARY), None, ("queue", "general_q", 5, "open_complaint")),
    (dict(repeat_caller=True), None, ("queue", "general_q", 5, "repeat_caller")),
    # unknown hotline number: default queue, the caller still counts for priority
    (dict(line_id=None, line_kind=None, line_queue="general_q"), None, ("queue", "general_q", 0, "unknown_line")),
    (dict(line_id=None, line_kind=None, **VIP_CUSTOMER), None, ("queue", "general_q", 10, "unknown_line")),
    # closed
    (CLOSED, None, ("after_hours", "general_q", 0, "after_hours")),
    (HOLIDAY, None, ("after_hours", "general_q", 0, "holiday")),
    (dict(duty_queue="duty", **HOLIDAY), None, ("queue", "duty", 0, "duty")),
    (dict(duty_queue="duty", **CLOSED, **VIP_CUSTOMER), None, ("queue", "duty", 10, "duty")),
    (dict(duty_queue="duty", repeat_caller=True, **CLOSED), None, ("queue", "duty", 5, "duty")),
    (dict(duty_queue="duty", **CLOSED), IvrOutcome(queue="complaints_q", category="complaint"),
     ("queue", "duty", 0, "duty")),
    # the IVR
    ({}, IvrOutcome(path=["main", "key:8"], action="voicemail"), ("after_hours", "general_q", 0, "ivr_voicemail")),
    ({}, IvrOutcome(action="callback"), ("after_hours", "general_q", 0, "ivr_callback")),
    (VIP_CUSTOMER, IvrOutcome(action="voicemail"), ("after_hours", "general_q", 10, "ivr_voicemail")),
    ({}, IvrOutcome(category="complaint", queue="complaints_q"), ("queue", "complaints_q", 0, "ordinary")),
    (dict(repeat_caller=True), IvrOutcome(category="repair", queue="repair_q"),
     ("queue", "repair_q", 5, "repeat_caller")),
    (MEMBER, IvrOutcome(category="complaint", queue="complaints_q"), ("queue", "vip", 10, "member_customer")),
    ({}, IvrOutcome(category="consultation"), ("queue", "general_q", 0, "ordinary")),
])
def test_routing_rules(changes, ivr, expected):
    decision = decide(plan(**changes), SETTINGS, ivr)
    assert (decision.action.value, decision.queue, decision.priority, decision.reason) == expected


def test_decision_carries_caller_and_category_to_the_dialplan():
    decision = decide(plan(line_kind="ordinary", **MEMBER), SETTINGS, IvrOutcome(category="complaint"))
    variables = decision_variables(decision)
    assert variables[V.ROUTE] == "queue"
    assert variables[V.QUEUE] == "vip" and variables[V.QUEUE_PRIO] == "10"
    assert variables[V.ROUTE_REASON] == "member_customer"
    assert variables[V.CUSTOMER_ID] == "8" and variables[V.TIER] == "member"
    assert variables[V.CATEGORY] == "complaint" and variables[V.LINE_KIND] == "ordinary"
    assert set(variables) == set(V.ROUTE_VARIABLES)


def test_an_unknown_caller_shows_as_unknown():
    variables = decision_variables(decide(plan(line_id=None, line_kind=None), SETTINGS))
    assert variables[V.TIER] == "unknown" and variables[V.LINE_KIND] == "unknown"
    assert variables[V.CUSTOMER_ID] == ""


@pytest.mark.parametrize("category, kept", [
    ("complaint", "complaint"), ("REPAIR", "repair"), ("投诉", ""), ("a b", ""), ("x" * 17, ""),
    ("order;Hangup()", ""),
])
def test_only_ascii_category_ids_reach_the_dialplan(category, kept):
    assert decide(plan(), SETTINGS, IvrOutcome(category=category)).category == kept


def test_settings_drive_queue_names_and_priorities():
    custom = SETTINGS.model_copy(update=dict(vip_queue="gold", priority_vip=99, priority_raised=42))
    assert decide(plan(**VIP_CUSTOMER), custom).queue == "gold"
    assert decide(plan(**VIP_CUSTOMER), custom).priority == 99
    assert decide(plan(repeat_caller=True), custom).priority == 42
