"""The 回访 pages: who may open them, what they show, and the forms (manual callback done,
plan edits with bad input, the do-not-call list)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select
from tickets.conftest import PASSWORD_HASH, Browser

from callcenter.bus.core import InProcessBus
from callcenter.db import utcnow
from callcenter.models import Role, SurveyContact, SurveyPlan, SurveyRequest, SurveyStatus, User
from callcenter.services.surveys import answers, dispatch
from callcenter.web import create_app

from .conftest import closed_ticket


@pytest.fixture
def site(settings, session, agent, tmp_path):
    agent.password_hash = PASSWORD_HASH
    for username, role in (("sup", Role.SUPERVISOR), ("adm", Role.ADMIN), ("qa", Role.QA)):
        session.add(User(username=username, role=role, display_name=username, password_hash=PASSWORD_HASH))
    now = utcnow()
    happy, unhappy, unreachable = (closed_ticket(session, settings, agent, phone=p, closed_at=now - dt.timedelta(hours=1))
                                   for p in ("13800138000", "13900139000", "13700137000"))
    for number in ("13800138000", "13900139000", "13700137000"):
        session.add(SurveyContact(number=f"+86{number}", preferred_from=dt.time(0), preferred_to=dt.time(23, 59),
                                  do_not_call=False, note=""))
    session.flush()
    claims = {c.number: c for c in dispatch.claim_due(session, settings, now, horizon_s=60)}
    for number, key in (("13800138000", "key:1"), ("13900139000", "key:3")):
        answers.record_result(session, settings, claims[number].attempt_id, path=["q_service", key],
                              completed=True, now=now)
    survey = session.get(SurveyRequest, claims["13700137000"].survey_id)
    survey.outcome, survey.next_attempt_at = dispatch.CALLBACK, None
    session.commit()
    app = create_app(settings, InProcessBus(), instance_path=tmp_path / "instance")
    app.config.update(TESTING=True)
    return {"app": app, "tickets": (happy, unhappy, unreachable), "callback": survey.id}


@pytest.mark.parametrize(("user", "index", "plans"), [
    ("agent1", 200, 403), ("sup", 200, 200), ("adm", 200, 200), ("qa", 403, 403), (None, 302, 302)])
def test_who_sees_the_survey_pages(site, user, index, plans):
    browser = Browser(site["app"], user)
    assert browser.get("/surveys/").status_code == index
    assert browser.get("/surveys/plans").status_code == plans


def test_the_overview_shows_results_callbacks_completion_and_satisfaction(site):
    page = Browser(site["app"], "sup").get("/surveys/").get_data(as_text=True)
    *_, unreachable = site["tickets"]
    assert unreachable.number in page.split('id="callback-list"')[1]
    today = page.split('id="today"')[1].split("</table>")[0]
    assert "满意" in today and "不满意" in today
    satisfaction = page.split('id="satisfaction"')[1].split("</table>")[0]
    assert "服务满意度" in satisfaction and "50%" in satisfaction
    assert "回访完成率（目标 100%）" in page and "小王" in page


def test_a_ticket_shows_its_survey_history(site):
    _happy, unhappy, _ = site["tickets"]
    page = Browser(site["app"], "agent1").get(f"/surveys/ticket/{unhappy.id}").get_data(as_text=True)
    assert "服务满意度：不满意（3）" in page and "不满意" in page and "完成" in page
    assert Browser(site["app"], "agent1").get("/surveys/ticket/999999").status_code == 404


def test_an_agent_marks_a_callback_done(site, session):
    browser = Browser(site["app"], "agent1")
    response = browser.post(f"/surveys/{site['callback']}/callback-done", {"satisfaction": "一般"})
    assert response.status_code == 302
    survey = session.get(SurveyRequest, site["callback"])
    assert (survey.status, survey.outcome, survey.satisfaction) == (SurveyStatus.DONE, dispatch.CALLBACK_DONE, "一般")
    again = browser.post(f"/surveys/{site['callback']}/callback-done", {}, follow_redirects=True)
    assert "未更改" in again.get_data(as_text=True)
    assert browser.post(f"/surveys/{site['callback']}/callback-done", {"satisfaction": "很好"}).status_code == 400


def test_plan_edits_bad_input_changes_nothing(site, session):
    admin = Browser(site["app"], "adm")
    page = admin.post("/surveys/plans", {"key": "walk_in", "offsets_days": "0,三", "deadline_days": "1",
                                         "max_attempts": "3", "retry_minutes": "120", "active": "on"},
                      follow_redirects=True).get_data(as_text=True)
    assert "未保存" in page
    plan = session.scalars(select(SurveyPlan).where(SurveyPlan.key == "walk_in")).one()
    assert plan.offsets_days == [0, 3, 5, 7, 15]
    admin.post("/surveys/plans", {"key": "walk_in", "offsets_days": "0,2,4", "deadline_days": "1",
                                  "max_attempts": "5", "retry_minutes": "60", "active": "on"})
    session.expire_all()
    assert (plan.offsets_days, plan.max_attempts) == ([0, 2, 4], 5)
    assert Browser(site["app"], "sup").post("/surveys/plans", {"key": "walk_in"}).status_code == 403


def test_do_not_call_and_preferred_time_from_the_panel(site, session):
    agent = Browser(site["app"], "agent1")
    agent.post("/surveys/contacts", {"number": "135 0013 5000", "dnc": "on", "note": "客户要求"})
    bad = agent.post("/surveys/contacts", {"number": "13500135000", "preferred": "21:00-19:00"}, follow_redirects=True)
    assert "未保存" in bad.get_data(as_text=True)
    contact = session.scalars(select(SurveyContact).where(SurveyContact.number == "+8613500135000")).one()
    assert contact.do_not_call and contact.preferred_from is None and contact.note == "客户要求"
