"""Which follow-up calls are owed and when they may be dialled: plans, windows, the
do-not-call list, one survey per customer per period, the pacing caps, retries."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from sqlalchemy import select

from callcenter.models import SurveyAttempt, SurveyPlan, SurveyRequest, SurveyStatus, Tier
from callcenter.services.surveys import dispatch, plans, recovery, requests
from callcenter.services.surveys.windows import CallingWindows, WindowError, parse_windows

from .conftest import closed_ticket, local, make_customer

pytestmark = pytest.mark.usefixtures("office_hours")
TUESDAY_10 = local(2026, 9, 15, 10, 0)


def test_default_plans_are_the_rulebooks(session):
    plans.ensure_default_plans(session)
    by_key = {p.key: p for p in plans.list_plans(session)}
    assert by_key["walk_in"].offsets_days == [0, 3, 5, 7, 15]
    assert by_key["handover"].offsets_days == [-30, -15, -3]
    assert by_key["member"].tiers == ["member", "vip"]
    assert [q["label"] for q in by_key["construction"].questions] == ["施工质量", "员工服务", "监理", "设计师"]
    assert plans.ensure_default_plans(session) == []          # never duplicated, never overwritten


def test_a_closed_complaint_is_dialled_from_the_closing_and_done_within_three_days(session, settings, agent):
    ticket = closed_ticket(session, settings, agent)
    (survey,) = session.scalars(select(SurveyRequest))
    assert session.get(SurveyPlan, survey.plan_id).key == "general"
    assert survey.next_attempt_at == TUESDAY_10
    assert survey.due_at == survey.deadline_at == TUESDAY_10 + dt.timedelta(days=3)
    assert survey.ticket_id == ticket.id and survey.attempts == 0


def test_a_repair_within_two_days_and_a_leak_three_days_after_the_water_test(session, settings, agent):
    fields = {"name": "张三", "address": "3-2-501", "item": "卫生间漏水"}
    closed_ticket(session, settings, agent, kind="repair", subject="卫生间漏水", fields=fields)
    (repair,) = session.scalars(select(SurveyRequest))
    assert session.get(SurveyPlan, repair.plan_id).key == "repair"       # no water test recorded
    assert repair.due_at == TUESDAY_10 + dt.timedelta(days=2)

    ticket = closed_ticket(session, settings, agent, kind="repair", subject="卫生间漏水", fields=fields,
                           closed_at=local(2026, 9, 16, 10, 0))
    session.delete(session.scalars(select(SurveyRequest).where(SurveyRequest.ticket_id == ticket.id)).one())
    ticket.completed_at = local(2026, 9, 16, 9, 0)                          # the water test passed
    leak = SurveyRequest(ticket_id=ticket.id, number="13800138000", due_at=TUESDAY_10)
    session.add(leak)
    requests.apply_plan(session, leak, ticket)
    assert session.get(SurveyPlan, leak.plan_id).key == "leak"
    assert leak.next_attempt_at == local(2026, 9, 19, 9, 0)


def test_member_customers_are_followed_up_on_every_ticket(session, settings, agent):
    member = make_customer(session, tier=Tier.MEMBER)
    ordinary = make_customer(session, name="李四", phone="+8613900139000")
    closed_ticket(session, settings, agent, kind="consultation", customer=member,
                  fields={"topic": "物业费", "answer": "已答复"})
    closed_ticket(session, settings, agent, kind="consultation", customer=ordinary, phone="13900139000",
                  fields={"topic": "物业费", "answer": "已答复"})
    (survey,) = session.scalars(select(SurveyRequest))
    assert survey.customer_id == member.id
    assert session.get(SurveyPlan, survey.plan_id).key == "member"


def test_a_walk_in_series_and_a_construction_series(session, settings, agent):
    ticket = closed_ticket(session, settings, agent)
    visit = local(2026, 9, 14, 10, 0)
    walk_in = requests.schedule_series(session, ticket, "walk_in", visit, now=TUESDAY_10)
    assert [s.next_attempt_at for s in walk_in] == [TUESDAY_10] + [visit + dt.timedelta(days=d) for d in (3, 5, 7, 15)]
    site = requests.schedule_series(session, ticket, "construction", local(2026, 10, 1, 9, 0),
                                    local(2026, 11, 12, 9, 0), now=TUESDAY_10)
    gaps = {(b.next_attempt_at - a.next_attempt_at).days for a, b in itertools.pairwise(site)}
    assert len(site) >= 4 and max(gaps) <= 7                                  # weekly at least
    with pytest.raises(plans.PlanError, match="end of construction"):
        requests.schedule_series(session, ticket, "construction", visit)


def test_calling_windows_skip_lunch_evenings_weekends_and_holidays(session, settings):
    windows = CallingWindows(session, settings)
    assert windows.next_open(local(2026, 9, 15, 12, 30)) == local(2026, 9, 15, 14, 0)   # lunch rest
    assert windows.next_open(local(2026, 9, 15, 20, 30)) == local(2026, 9, 16, 9, 0)    # evening
    assert windows.next_open(local(2026, 9, 26, 10, 0)) == local(2026, 9, 28, 9, 0)     # Saturday → Monday
    assert windows.next_open(local(2026, 9, 19, 10, 0)) == local(2026, 9, 20, 9, 0)     # 调休: Sunday works
    assert windows.next_open(local(2026, 10, 1, 10, 0)) >= local(2026, 10, 8, 9, 0)     # 国庆 holiday
    assert windows.is_open(local(2026, 9, 15, 19, 59))


def test_bad_windows_are_refused_with_what_to_write():
    with pytest.raises(WindowError, match="HH:MM-HH:MM"):
        parse_windows("9点到12点")
    with pytest.raises(WindowError, match="ends before it starts"):
        parse_windows("14:00-12:00")


def test_a_preferred_time_wins_and_do_not_call_is_never_dialled(session, settings, agent):
    closed_ticket(session, settings, agent)
    closed_ticket(session, settings, agent, phone="13900139000")
    requests.set_contact(session, "13800138000", preferred=(dt.time(19, 0), dt.time(21, 0)))
    requests.set_contact(session, "139 0013 9000", do_not_call=True)
    claims = dispatch.claim_due(session, settings, TUESDAY_10, horizon_s=600)
    assert claims == []
    first, second = session.scalars(select(SurveyRequest).order_by(SurveyRequest.id))
    assert first.next_attempt_at == local(2026, 9, 15, 19, 0)       # the customer's own time
    assert second.status == SurveyStatus.CANCELLED and second.outcome == dispatch.DO_NOT_CALL
    with pytest.raises(ValueError, match="end after"):
        requests.set_contact(session, "13800138000", preferred=(dt.time(21, 0), dt.time(19, 0)))


def test_one_survey_per_customer_per_period(session, settings, agent):
    closed_ticket(session, settings, agent)
    closed_ticket(session, settings, agent, subject="噪音投诉")
    claims = dispatch.claim_due(session, settings, TUESDAY_10, horizon_s=600)
    assert len(claims) == 1
    waiting = session.scalars(select(SurveyRequest).where(SurveyRequest.attempts == 0)).one()
    assert waiting.next_attempt_at == TUESDAY_10 + dt.timedelta(days=settings.survey_customer_period_days)


def test_pacing_caps_concurrency_lines_and_spacing(session, settings, agent):
    settings = settings.model_copy(update={"survey_max_concurrent": 5, "survey_agent_lines": 3,
                                           "survey_calls_per_minute": 30})
    for i in range(8):
        closed_ticket(session, settings, agent, phone=f"1380013{i:04d}")
    claims = dispatch.claim_due(session, settings, TUESDAY_10, horizon_s=60)
    assert len(claims) == 3                                            # the agent-lines ceiling
    assert [c.planned_at for c in claims] == [TUESDAY_10 + dt.timedelta(seconds=2 * i) for i in range(3)]
    assert dispatch.claim_due(session, settings, TUESDAY_10, horizon_s=60) == []   # all lines busy
    dispatch.record_originate(session, settings, claims[0].attempt_id, success=False, reason=3,
                              now=TUESDAY_10 + dt.timedelta(seconds=30))
    (more,) = dispatch.claim_due(session, settings, TUESDAY_10 + dt.timedelta(seconds=30), horizon_s=60)
    assert more.planned_at == TUESDAY_10 + dt.timedelta(seconds=30)


@pytest.mark.parametrize(("success", "reason", "busy_seen", "outcome"), [
    (True, 4, False, ""),                          # answered: the survey route tells the rest
    (False, 0, True, dispatch.BUSY),               # 486 Busy Here comes back as Reason 0
    (False, 0, False, dispatch.FAILED),            # unknown endpoint: Reason 0, no channel
    (False, 3, False, dispatch.NO_ANSWER),
])
def test_originate_reasons_as_asterisk_22_reports_them(success, reason, busy_seen, outcome):
    assert dispatch.outcome_of_originate(success, reason, busy_seen) == outcome


def test_retries_are_spaced_then_the_survey_goes_to_a_person(session, settings, agent):
    closed_ticket(session, settings, agent)
    now = local(2026, 9, 15, 14, 0)              # 14:00, 16:00, 18:00: all inside the window
    for attempt_no in range(1, 4):
        (claim,) = dispatch.claim_due(session, settings, now, horizon_s=600)
        dispatch.record_originate(session, settings, claim.attempt_id, success=False, reason=0, busy_seen=True,
                                  now=now)
        survey = session.get(SurveyRequest, claim.survey_id)
        assert survey.attempts == attempt_no
        if attempt_no < 3:
            assert survey.next_attempt_at == now + dt.timedelta(minutes=120)
            now = survey.next_attempt_at
    assert survey.outcome == dispatch.CALLBACK and survey.next_attempt_at is None
    assert [a.outcome for a in session.scalars(select(SurveyAttempt))] == [dispatch.BUSY] * 3
    dispatch.complete_callback(session, survey.id, user_id=agent.id, satisfaction="满意", now=now)
    assert survey.status == SurveyStatus.DONE and survey.outcome == dispatch.CALLBACK_DONE


def test_crash_recovery_settles_open_attempts_from_what_asterisk_shows(session, settings, agent):
    for phone in ("13800138000", "13900139000", "13700137000"):
        closed_ticket(session, settings, agent, phone=phone)
    in_call, answered_gone, never_seen = dispatch.claim_due(session, settings, TUESDAY_10, horizon_s=600)
    session.get(SurveyAttempt, answered_gone.attempt_id).answered_at = TUESDAY_10 + dt.timedelta(seconds=20)
    later = TUESDAY_10 + dt.timedelta(seconds=settings.survey_attempt_stale_s + 30)
    channels = [{"Channel": "PJSIP/trunk-provider-0000002a",
                 "ApplicationData": f"agi://127.0.0.1:4573/survey,{in_call.attempt_id}"}]

    assert recovery.recover(session, settings, now=later, live_channels=None)["no_ami"] == 1   # nothing guessed
    assert session.get(SurveyAttempt, never_seen.attempt_id).outcome == ""

    counts = recovery.recover(session, settings, now=later, live_channels=channels)
    assert counts == {"waiting": 1, "hung_up": 1, "unknown": 1}
    assert session.get(SurveyAttempt, in_call.attempt_id).outcome == ""        # still on the phone
    assert session.get(SurveyAttempt, answered_gone.attempt_id).outcome == dispatch.HUNG_UP
    unknown = session.get(SurveyAttempt, never_seen.attempt_id)
    assert (unknown.outcome, unknown.outcome_source) == (dispatch.UNKNOWN, "recovery")
    # never redialled at once: the plan's spacing first
    assert session.get(SurveyRequest, never_seen.survey_id).next_attempt_at == later + dt.timedelta(minutes=120)
    assert dispatch.claim_due(session, settings, later, horizon_s=600) == []
