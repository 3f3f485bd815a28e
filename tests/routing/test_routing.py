"""plan_route / record_route / record_hangup against the database (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import func, select

from callcenter.agi.variables import decision_variables
from callcenter.models import Call, CallStatus, Customer, Ticket, TicketStatus, TicketType
from callcenter.services.calls import routing
from callcenter.services.calls.routing import IvrOutcome, RouteAction, RouteRequest
from callcenter.services.people import customers, users
from callcenter.services.setup import hours, lines, routing_config

from .conftest import at

MONDAY = at(2026, 11, 23, 10)        # open
SUNDAY = at(2026, 11, 22, 10)        # closed (weekend)
NATIONAL_DAY = at(2026, 10, 2, 10)   # closed (holiday)


def request(uniqueid="1732250000.1", dialled="4008001000", number="13800138000", name="张三",
            now=MONDAY, linkedid=None, **extra) -> RouteRequest:
    return RouteRequest(uniqueid=uniqueid, linkedid=linkedid or uniqueid, channel="PJSIP/trunk-00000001",
                        dialled=dialled, caller_number=number, caller_name=name, now=now, **extra)


def route(session, settings, req, ivr=None):
    plan = routing.plan_route(session, settings, req)
    decision = routing.record_route(session, plan, routing.decide(plan, settings, ivr), ivr)
    session.commit()
    return plan, decision


def customer(session, name, numbers, tier="ordinary", **fields):
    created = customers.create_customer(session, name=name, numbers=numbers, tier=tier, **fields)
    session.commit()
    return created


# --- the line -----------------------------------------------------------------------------------

@pytest.mark.parametrize("dialled, kind", [
    ("4008001000", "ordinary"), ("4008002000", "vip"), ("+864008002000", "vip"),
    ("0086 400 800 2000", "vip"), ("04008001000", "ordinary"), ("4008009999", None), ("", None),
    ("s", None), ("4008002000\nagi_x: 1", None),
])
def test_line_from_the_dialled_digits(session, settings, example_config, dialled, kind):
    plan = routing.plan_route(session, settings, request(dialled=dialled))
    assert plan.line_kind == kind
    if kind is None:
        decision = routing.decide(plan, settings)
        assert (decision.queue, decision.reason) == ("general_q", "unknown_line")


def test_an_inactive_line_routes_like_an_unknown_number(session, settings, example_config):
    lines.update_line(session, "4008002000", active=False)
    session.commit()
    plan = routing.plan_route(session, settings, request(dialled="4008002000"))
    assert plan.line_id is None
    assert routing.decide(plan, settings).reason == "unknown_line"


def test_the_ivr_runs_only_when_someone_can_answer(session, settings, example_config):
    assert routing.plan_route(session, settings, request(now=MONDAY)).ivr_flow == "main"
    assert routing.plan_route(session, settings, request(dialled="4008002000")).ivr_flow == ""
    closed = routing.plan_route(session, settings, request(now=SUNDAY))
    assert (closed.is_open, closed.closed_reason, closed.ivr_flow) == (False, "after_hours", "")
    holiday = routing.plan_route(session, settings, request(now=NATIONAL_DAY))
    assert (holiday.is_open, holiday.closed_reason) == (False, "holiday")


# --- the caller -----------------------------------------------------------------------------------

def test_caller_found_in_any_presentation(session, settings, example_config):
    zhang = customer(session, "张三", ["13800138000", "010-6552 9988"], tier="member")
    for presented in ("13800138000", "+8613800138000", "008613800138000", "013800138000", "01065529988"):
        plan = routing.plan_route(session, settings, request(number=presented))
        assert (plan.customer_id, plan.tier, plan.customer_name) == (zhang.id, "member", "张三"), presented


def test_household_landline_uses_the_highest_tier_and_lists_everyone(session, settings, example_config):
    father = customer(session, "王建国", ["010-6552 9988"], tier="ordinary")
    mother = customer(session, "李秀英", ["010 6552 9988", "13900139000"], tier="vip")
    son = customer(session, "王小明", ["+86 10 6552 9988"], tier="member")
    plan = routing.plan_route(session, settings, request(number="01065529988"))
    assert (plan.customer_id, plan.tier) == (mother.id, "vip")
    assert plan.customer_ids == [mother.id, son.id, father.id]
    assert routing.decide(plan, settings).reason == "vip_customer"
    found = customers.customers_for_number(session, "65529988 ", "CN")   # no area code: nobody
    assert found == []
    assert [c.id for c in customers.customers_for_number(session, "010-65529988")] == \
        [mother.id, son.id, father.id]


@pytest.mark.parametrize("number", ["anonymous", "", "unknown", "<unknown>", "Restricted", "12"])
def test_anonymous_caller(session, settings, example_config, number):
    plan = routing.plan_route(session, settings, request(number=number))
    assert (plan.customer_id, plan.caller_e164, plan.repeat_caller, plan.open_complaint) == (None, "", False, False)
    assert routing.decide(plan, settings).reason == "ordinary"


# --- repeat callers and open complaints -------------------------------------------------------------

def test_repeat_caller_within_the_window(session, settings, example_config):
    route(session, settings, request(uniqueid="a.1", now=MONDAY - dt.timedelta(hours=23)))
    plan = routing.plan_route(session, settings, request(uniqueid="a.2", number="+86 138 0013 8000"))
    assert plan.repeat_caller
    assert (routing.decide(plan, settings).reason, routing.decide(plan, settings).priority) == ("repeat_caller", 5)


def test_calls_outside_the_window_or_of_the_same_call_are_no_repeat(session, settings, example_config):
    route(session, settings, request(uniqueid="b.1", now=MONDAY - dt.timedelta(hours=25)))
    assert not routing.plan_route(session, settings, request(uniqueid="b.2")).repeat_caller
    # the same call again (an AGI retry), or another leg of it (same linkedid)
    route(session, settings, request(uniqueid="b.3", now=MONDAY - dt.timedelta(minutes=5)))
    assert not routing.plan_route(session, settings, request(uniqueid="b.3")).repeat_caller
    assert not routing.plan_route(session, settings, request(uniqueid="b.4", linkedid="b.3")).repeat_caller
    assert routing.plan_route(session, settings, request(uniqueid="b.5")).repeat_caller
    # a later call does not make an earlier one a repeat
    assert not routing.plan_route(session, settings, request(uniqueid="b.6", now=MONDAY - dt.timedelta(minutes=6))) \
        .repeat_caller


def test_repeat_window_and_threshold_are_settings(session, settings, example_config):
    route(session, settings, request(uniqueid="c.1", now=MONDAY - dt.timedelta(hours=3)))
    short = settings.model_copy(update={"repeat_window_hours": 2.0})
    assert not routing.plan_route(session, short, request(uniqueid="c.2")).repeat_caller
    twice = settings.model_copy(update={"repeat_min_calls": 2})
    assert not routing.plan_route(session, twice, request(uniqueid="c.2")).repeat_caller
    route(session, settings, request(uniqueid="c.3", now=MONDAY - dt.timedelta(hours=1)))
    assert routing.plan_route(session, twice, request(uniqueid="c.4")).repeat_caller


def _ticket(session, customer_id, type_, status, n):
    owner = session.scalar(select(users.User).where(users.User.username == "agent1")) or \
        users.create_user(session, username="agent1", password="longenough", role="agent")
    ticket = Ticket(number=f"GD20261123-{n:04d}", type=type_, status=status, customer_id=customer_id,
                    owner_id=owner.id, subject="test")
    session.add(ticket)
    session.commit()
    return ticket


def test_open_complaint_of_any_customer_of_the_number_raises_priority(session, settings, example_config):
    customer(session, "王建国", ["010-6552 9988"])
    mother = customer(session, "李秀英", ["010-6552 9988"])
    _ticket(session, mother.id, TicketType.REPAIR, TicketStatus.OPEN, 1)
    _ticket(session, mother.id, TicketType.COMPLAINT, TicketStatus.CLOSED, 2)
    plan = routing.plan_route(session, settings, request(number="01065529988"))
    assert not plan.open_complaint
    complaint = _ticket(session, mother.id, TicketType.COMPLAINT, TicketStatus.IN_PROGRESS, 3)
    plan = routing.plan_route(session, settings, request(number="01065529988"))
    assert plan.open_complaint
    decision = routing.decide(plan, settings)
    assert (decision.queue, decision.priority, decision.reason) == ("general_q", 5, "open_complaint")
    complaint.status = TicketStatus.REOPENED
    session.commit()
    assert routing.plan_route(session, settings, request(number="01065529988")).open_complaint


# --- duty ------------------------------------------------------------------------------------------

def test_closed_line_goes_to_its_duty_queue_while_staffed(session, settings, example_config):
    lines.add_queue(session, "other_duty", "duty")
    hour = dt.timedelta(hours=1)
    hours.add_duty_shift(session, "other_duty", NATIONAL_DAY - hour, NATIONAL_DAY + hour)
    session.commit()
    plan = routing.plan_route(session, settings, request(now=NATIONAL_DAY))
    assert plan.duty_queue is None
    decision = routing.decide(plan, settings)
    assert (decision.action, decision.reason) == (RouteAction.AFTER_HOURS, "holiday")

    hours.add_duty_shift(session, "duty", NATIONAL_DAY - dt.timedelta(hours=2), NATIONAL_DAY + dt.timedelta(hours=6))
    session.commit()
    plan = routing.plan_route(session, settings, request(now=NATIONAL_DAY))
    assert (plan.duty_queue, plan.ivr_flow) == ("duty", "main")
    decision = routing.decide(plan, settings)
    assert (decision.action, decision.queue, decision.reason) == (RouteAction.QUEUE, "duty", "duty")
    # the shift ends: after hours again
    later = routing.plan_route(session, settings, request(now=NATIONAL_DAY + dt.timedelta(hours=6)))
    assert later.duty_queue is None
    # a line without a duty queue never routes to duty
    lines.update_line(session, "4008001000", clear_duty_queue=True)
    session.commit()
    assert routing.plan_route(session, settings, request(now=NATIONAL_DAY)).duty_queue is None


# --- recording the call --------------------------------------------------------------------------------

def test_record_route_writes_the_whole_row(session, settings, example_config):
    zhang = customer(session, "张三", ["13800138000"], tier="vip")
    ivr = IvrOutcome(path=["main", "key:3", "complaint", "key:1"], category="complaint")
    req = request(uniqueid="r.1", linkedid="r.0", recording_file="calls/x.wav")
    plan, decision = route(session, settings, req, ivr)
    call = session.scalar(select(Call).where(Call.uniqueid == "r.1"))
    assert decision.call_id == call.id
    assert (call.linkedid, call.channel, call.line_id, call.dialled_number) == \
        ("r.0", "PJSIP/trunk-00000001", example_config["4008001000"].id, "4008001000")
    assert (call.caller_number, call.caller_e164, call.caller_name, call.customer_id) == \
        ("13800138000", "+8613800138000", "张三", zhang.id)
    assert call.ivr_path == ["main", "key:3", "complaint", "key:1"]
    assert (call.category, call.queue, call.priority, call.route_reason) == ("complaint", "vip", 10, "vip_customer")
    assert call.status is CallStatus.ROUTED
    assert call.routed_at == MONDAY and call.started_at == MONDAY
    assert call.recording_file == "calls/x.wav"
    assert call.screen_pop_key == decision.pop_key
    assert re.fullmatch(r"[A-Za-z0-9_\-]{32,}", decision.pop_key)
    assert decision.call_id == call.id and decision_variables(decision)["CC_POP_KEY"] == call.screen_pop_key


def test_pop_keys_are_unguessable_and_unique(session, settings, example_config):
    keys = {route(session, settings, request(uniqueid=f"k.{n}"))[1].pop_key for n in range(20)}
    assert len(keys) == 20


def test_a_retried_agi_updates_the_same_row(session, settings, example_config):
    _, first = route(session, settings, request(uniqueid="t.1"), IvrOutcome(path=["main"], category="human"))
    _, again = route(session, settings, request(uniqueid="t.1"),
                     IvrOutcome(path=["main", "key:2"], category="repair"))
    assert again.call_id == first.call_id
    assert again.pop_key == first.pop_key          # the key already handed to the dialplan stays valid
    assert session.scalar(select(func.count()).select_from(Call)) == 1
    call = session.get(Call, first.call_id)
    session.refresh(call)
    assert (call.ivr_path, call.category) == (["main", "key:2"], "repair")


def test_rerouting_never_undoes_what_the_queue_already_did(session, settings, example_config):
    _, first = route(session, settings, request(uniqueid="q.1"))
    call = session.get(Call, first.call_id)
    call.status = CallStatus.ANSWERED
    session.commit()
    route(session, settings, request(uniqueid="q.1"))
    session.refresh(call)
    assert call.status is CallStatus.ANSWERED


def test_after_hours_decision_is_recorded_as_such(session, settings, example_config):
    _, decision = route(session, settings, request(uniqueid="h.1", now=SUNDAY))
    assert decision.action is RouteAction.AFTER_HOURS
    assert session.get(Call, decision.call_id).status is CallStatus.AFTER_HOURS


def test_hangup_during_the_ivr_keeps_a_consistent_row(session, settings, example_config):
    plan = routing.plan_route(session, settings, request(uniqueid="x.1"))
    routing.record_hangup(session, plan, IvrOutcome(path=["main", "key:2", "repair"], action="hangup"))
    session.commit()
    call = session.scalar(select(Call).where(Call.uniqueid == "x.1"))
    assert (call.status, call.ivr_path, call.hangup_side) == (CallStatus.HUNG_UP, ["main", "key:2", "repair"], "caller")
    assert call.ended_at == MONDAY and call.queue == "" and call.customer_id is None
    assert call.line_id == example_config["4008001000"].id
    # a hangup after the route was recorded keeps the decision
    other = dict(uniqueid="x.2", number="13900139000")
    consultation = IvrOutcome(path=["main", "key:1"], category="consultation")
    _, decision = route(session, settings, request(**other), consultation)
    plan = routing.plan_route(session, settings, request(**other))
    routing.record_hangup(session, plan, IvrOutcome(path=["main", "key:1"], category="consultation"), side="ivr")
    session.commit()
    call = session.get(Call, decision.call_id)
    session.refresh(call)
    assert (call.status, call.queue, call.route_reason, call.hangup_side) == \
        (CallStatus.HUNG_UP, "general_q", "ordinary", "ivr")
    assert session.scalar(select(func.count()).select_from(Call).where(Call.uniqueid == "x.2")) == 1


HOSTILE_NAMES = [
    '张三 "VIP"', "李四 \\\"Boss\\\"", "Evil\nagi_injected: yes", "<script>alert(1)</script>",
    "Robert'); DROP TABLE calls;--", "x" * 500, "null\x00byte", "王五\r\n", "${SHELL}", "",
]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_hostile_caller_id_is_stored_as_data(session, settings, example_config, name):
    number = name[:100] or "anonymous"       # hostile text in the number field too
    _, decision = route(session, settings, request(uniqueid="z.1", name=name, number=number))
    call = session.get(Call, decision.call_id)
    assert call.caller_name == name.replace("\x00", "")[:128]
    assert call.caller_number == number.replace("\x00", "")[:64]
    assert call.caller_e164 == "" and call.customer_id is None
    assert decision.reason == "ordinary"
    assert session.scalar(select(func.count()).select_from(Customer)) == 0


def test_a_hostile_number_never_matches_a_customer(session, settings, example_config):
    customer(session, "张三", ["13800138000"], tier="vip")
    for number in ("13800138000' OR '1'='1", "13800138000\nagi_callerid: 1", "%", "_"):
        plan = routing.plan_route(session, settings, request(number=number))
        assert plan.customer_id is None and plan.caller_e164 == ""


# --- the fallback --------------------------------------------------------------------------------------

def test_fallback_needs_no_database_and_keeps_the_line_when_known(session, settings, example_config):
    routing_config.clear_cache()
    cold = routing.fallback_decision(settings, "4008002000")
    assert (cold.queue, cold.priority, cold.reason) == ("general_q", 0, "fallback")
    routing.plan_route(session, settings, request())       # warms this process's configuration cache
    warm = routing.fallback_decision(settings, "4008002000")
    assert (warm.queue, warm.priority, warm.line_kind, warm.reason) == ("vip", 10, "vip", "fallback")
    assert routing.fallback_decision(settings, "4008001000").queue == "general_q"
    broken = settings.model_copy(update={"database_url": "postgresql+psycopg://nobody@127.0.0.1:1/none"})
    assert routing.fallback_decision(broken, "4008002000").queue == "general_q"
