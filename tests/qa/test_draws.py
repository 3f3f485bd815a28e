"""Samples in the database: what can be drawn, assignment to inspectors, and re-running a
stored draw (panel and ``callcenter qa draw --verify``) on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from callcenter.db import session_scope, utcnow
from callcenter.models import Call, QaAssignment, QaPlan, QaSample, Role, Ticket, TicketType, User
from callcenter.services.qa import draws, scorecards, scoring
from callcenter.services.qa.flags import SURVEY_DISSATISFIED, flag_call

from .conftest import add_call, csrf_token

DAY = dt.date(2026, 11, 16)
IN_PERIOD = dt.datetime(2026, 11, 10, 3, 0)   # UTC, inside November in Asia/Shanghai


def _user(s, name, role=Role.AGENT, created=None):
    u = User(username=name, display_name=name, password_hash="x", role=role)
    if created:
        u.created_at = created
    s.add(u)
    s.flush()
    return u.id


@pytest.fixture
def floor(settings):
    """Three agents with 12 calls each in November, three inspectors, one plan."""
    url = settings.database_url
    with session_scope(url) as s:
        old = dt.datetime(2025, 1, 1)
        agents = [_user(s, f"a{i}", created=old) for i in range(3)]
        inspectors = [_user(s, f"q{i}", Role.QA, created=old) for i in range(3)]
        plan = QaPlan(name="月度", period="month", quota_per_agent=4, rules={"strata": []})
        s.add(plan)
        s.flush()
        plan_id = plan.id
    calls = {a: [add_call(url, agent_id=a, recording=f"calls/{a}-{i}.wav",
                          started_at=IN_PERIOD + dt.timedelta(hours=i)) for i in range(12)] for a in agents}
    return {"agents": agents, "inspectors": inspectors, "plan_id": plan_id, "calls": calls, "url": url}


def _sample(settings, floor, **kw) -> QaSample:
    with session_scope(settings.database_url) as s:
        sample = draws.make_sample(s, settings, s.get(QaPlan, floor["plan_id"]), DAY, **kw)
        s.expunge(sample)
        return sample


def _assignments(settings, sample_id):
    with session_scope(settings.database_url) as s:
        rows = s.scalars(select(QaAssignment).where(QaAssignment.sample_id == sample_id)).all()
        return [(a.call_id, a.agent_id, a.inspector_id) for a in rows]


def test_quota_per_agent_and_balance_across_inspectors(settings, floor):
    sample = _sample(settings, floor, seed=11)
    rows = _assignments(settings, sample.id)
    assert Counter(agent for _, agent, _ in rows) == {a: 4 for a in floor["agents"]}
    load = Counter(inspector for _, _, inspector in rows)
    assert set(load) == set(floor["inspectors"]) and max(load.values()) - min(load.values()) <= 1
    assert sample.seed == 11 and sample.rules["quota_per_agent"] == 4 and sample.call_ids


def test_nobody_reviews_their_own_calls(settings, floor):
    # An inspector who also took calls (e.g. covering the phones) is never given them.
    url = settings.database_url
    inspector = floor["inspectors"][0]
    own = [add_call(url, agent_id=inspector, recording=f"calls/own{i}.wav", started_at=IN_PERIOD) for i in range(6)]
    for seed in range(5):
        sample = _sample(settings, floor, seed=seed)
        for call_id, agent, assigned in _assignments(settings, sample.id):
            assert assigned != agent
            if call_id in own:
                assert assigned != inspector


def test_what_is_never_drawn(settings, floor):
    url = settings.database_url
    agent = floor["agents"][0]
    short = add_call(url, agent_id=agent, recording="calls/s.wav", started_at=IN_PERIOD, talk=5)
    unrecorded = add_call(url, agent_id=agent, recording="", started_at=IN_PERIOD)
    purged = add_call(url, agent_id=agent, recording="calls/p.wav", started_at=IN_PERIOD,
                      recording_purged_at=utcnow() - dt.timedelta(days=1))
    unanswered = add_call(url, agent_id=None, recording="calls/u.wav", started_at=IN_PERIOD)
    other_month = add_call(url, agent_id=agent, recording="calls/o.wav", started_at=dt.datetime(2026, 10, 2))
    first = _sample(settings, floor, seed=1)
    second = _sample(settings, floor, seed=1)   # already-drawn calls are excluded next time
    drawn = set(first.call_ids) | set(second.call_ids)
    assert not drawn & {short, unrecorded, purged, unanswered, other_month}
    assert not set(first.call_ids) & set(second.call_ids)


def test_complaints_and_flagged_calls_are_over_sampled(settings, floor):
    url = settings.database_url
    agent = floor["agents"][1]
    complaint, flagged = floor["calls"][agent][:2]
    with session_scope(url) as s:
        linkedid = s.get(Call, complaint).linkedid
        s.add(Ticket(number="GD-1", type=TicketType.COMPLAINT, owner_id=agent, subject="投诉",
                     call_linkedid=linkedid))
        flag_call(s, flagged, SURVEY_DISSATISFIED, weight=2.0)
    counts = Counter()
    for seed in range(40):
        with session_scope(url) as s:
            picks = draws.compute(s, settings, rules=draws.plan_rules(s.get(QaPlan, floor["plan_id"])),
                                  start=dt.date(2026, 11, 1), end=dt.date(2026, 12, 1), seed=seed,
                                  as_of=utcnow(), filters={})
        for p in picks:
            if p.call_id in (complaint, flagged):
                counts[p.call_id] += 1
                assert ("complaint" if p.call_id == complaint else "flagged") in p.reasons
    # An ordinary call of 12 is drawn in 4/12 of the draws; these far more often.
    assert counts[complaint] > 40 * 4 / 12 * 1.5 and counts[flagged] > 40 * 4 / 12 * 1.5


def test_new_agents_get_more_calls(settings, floor):
    url = settings.database_url
    with session_scope(url) as s:
        newbie = _user(s, "newbie", created=dt.datetime(2026, 10, 25))
    for i in range(12):
        add_call(url, agent_id=newbie, recording=f"calls/n{i}.wav", started_at=IN_PERIOD)
    rows = _assignments(settings, _sample(settings, floor, seed=2).id)
    assert Counter(a for _, a, _ in rows)[newbie] == 8


def test_filters_are_stored_and_applied(settings, floor):
    url = settings.database_url
    vipcall = add_call(url, agent_id=floor["agents"][0], recording="calls/v.wav", started_at=IN_PERIOD, queue="vip")
    sample = _sample(settings, floor, seed=3, filters={"queues": ["vip"]})
    assert sample.call_ids == [vipcall] and sample.filters == {"queues": ["vip"]}
    with pytest.raises(draws.DrawError):
        _sample(settings, floor, seed=3, filters={"colour": ["red"]})


def test_a_stored_draw_re_runs_to_the_same_calls_after_scoring(settings, floor):
    sample = _sample(settings, floor, seed=99)
    url = settings.database_url
    with session_scope(url) as s:
        call = s.get(Call, sample.call_ids[0])
        inspector = s.get(User, floor["inspectors"][0] if call.answered_by_user_id != floor["inspectors"][0]
                          else floor["inspectors"][1])
        answers = {c["key"]: True for c in scorecards.checks(scorecards.DEFAULT_DEFINITION)}
        scoring.submit(s, call, inspector, answers)
        flag_call(s, sample.call_ids[1], SURVEY_DISSATISFIED, weight=5.0)   # a flag raised later
    _sample(settings, floor, seed=5)                                        # a later sample
    with session_scope(url) as s:
        result = draws.verify(s, settings, s.get(QaSample, sample.id))
    assert result.same and result.drawn == sample.call_ids


def test_a_tampered_sample_fails_verification(settings, floor):
    sample = _sample(settings, floor, seed=4)
    with session_scope(settings.database_url) as s:
        row = s.get(QaSample, sample.id)
        row.call_ids = list(row.call_ids[1:]) + [999999]
    with session_scope(settings.database_url) as s:
        result = draws.verify(s, settings, s.get(QaSample, sample.id))
    assert not result.same and "不一致" in result.summary()


def test_the_cli_verifies_a_sample(settings, floor, monkeypatch):
    from callcenter.cli import main
    from callcenter.config import get_settings

    sample = _sample(settings, floor, seed=8)
    monkeypatch.setenv("CALLCENTER_DATABASE_URL", settings.database_url)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(main, ["qa", "draw", "--verify", str(sample.id)])
        assert result.exit_code == 0, result.output
        assert "一致" in result.output and " ".join(map(str, sample.call_ids)) in result.output
        drawn = CliRunner().invoke(main, ["qa", "draw", "--plan", str(floor["plan_id"]), "--day", "2026-11-05",
                                          "--seed", "8"])
        assert drawn.exit_code == 0 and "seed 8" in drawn.output
        assert CliRunner().invoke(main, ["qa", "draw", "--verify", "424242"]).exit_code != 0
    finally:
        get_settings.cache_clear()


def test_the_scheduler_draws_the_period_that_ended_once(settings, floor):
    with session_scope(settings.database_url) as s:
        made = draws.draw_due(s, settings, dt.date(2026, 12, 3))
        assert [(m.period_start, m.source) for m in made] == [(dt.date(2026, 11, 1), "scheduler")]
        assert len(made[0].call_ids) == 12
    with session_scope(settings.database_url) as s:
        assert draws.draw_due(s, settings, dt.date(2026, 12, 20)) == []


def test_the_panel_draws_and_re_runs(settings, floor, signed_in, users):
    qa = signed_in("supervisor")
    token = csrf_token(qa)
    response = qa.post("/qa/samples/draw", data={"csrf_token": token, "plan_id": floor["plan_id"],
                                                 "day": "2026-11-20", "seed": "123"})
    assert response.status_code == 302
    page = qa.get(response.location).get_data(as_text=True)
    assert "123" in page and "重新抽取并核对" in page
    sample_id = int(response.location.rstrip("/").rsplit("/", 1)[-1])
    rerun = qa.post(f"/qa/samples/{sample_id}/rerun", data={"csrf_token": token}, follow_redirects=True)
    assert "重新抽取结果一致" in rerun.get_data(as_text=True)
    bad = qa.post("/qa/samples/draw", data={"csrf_token": token, "day": "not-a-date"}, follow_redirects=True)
    assert "日期或随机种子格式错误" in bad.get_data(as_text=True)


def test_reading_only_the_drawable_calls_gives_the_draw_over_all_calls(settings):
    """The database skips calls below the hash cut (prefilter.py): the draw must be the one
    over every call, small strata, tickets, flags and reviewed calls included."""
    url = settings.database_url
    with session_scope(url) as s:
        agents = [_user(s, f"b{i}", created=dt.datetime(2025, 1, 1)) for i in range(3)]
        _user(s, "qq", Role.QA, created=dt.datetime(2025, 1, 1))
        plan = QaPlan(name="p", period="month", quota_per_agent=3, rules={})
        s.add(plan)
        s.flush()
        plan_id = plan.id
    ids = []
    for i in range(900):
        agent = agents[i % 3] if i < 870 else agents[0]
        queue = "general_q" if i < 870 else "vip"          # a small stratum: 30 calls
        talk = 30 if i % 97 == 0 else (1200 if i % 89 == 0 else 200)
        ids.append(add_call(url, agent_id=agent, recording=f"calls/e{i}.wav", queue=queue, talk=talk,
                            started_at=IN_PERIOD + dt.timedelta(minutes=i)))
    with session_scope(url) as s:
        for n, call_id in enumerate(ids[5:60:7]):
            s.add(Ticket(number=f"GD-E{n}", type=TicketType.COMPLAINT if n % 2 else TicketType.REPAIR,
                         owner_id=agents[0], subject="x", call_linkedid=s.get(Call, call_id).linkedid))
        for call_id in ids[100:110]:
            flag_call(s, call_id, SURVEY_DISSATISFIED)
    _sample(settings, {"plan_id": plan_id}, seed=1)        # some calls become "reviewed"
    as_of = utcnow()
    for seed in (3, 44, 2026):
        for rules in (draws.PlanRules(quota_per_agent=3), draws.PlanRules(quota_per_agent=3, strata=("line",)),
                      draws.PlanRules(quota_per_agent=12, strata=())):
            with session_scope(url) as s:
                fast = draws.compute(s, settings, rules=rules, start=dt.date(2026, 11, 1), end=dt.date(2026, 12, 1),
                                     seed=seed, as_of=as_of, filters={})
                every = draws.load_candidates(s, settings, rules, dt.date(2026, 11, 1), dt.date(2026, 12, 1),
                                              as_of, {})
                slow = draws.draw(every, rules, seed, new_agents=draws.new_agents(s, settings, rules,
                                                                                  dt.date(2026, 11, 1)))
            assert fast == slow and len(fast) == 3 * rules.quota_per_agent, (seed, rules)
