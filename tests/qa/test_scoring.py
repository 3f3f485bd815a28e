"""Scorecards, scores that cannot be bent, corrections as versions, comments at a moment,
appeals within the set days and the supervisor's decision — in the services and through
the pages."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from callcenter.db import session_scope, utcnow
from callcenter.models import Call, QaAppeal, QaScore, QaScorecard, User
from callcenter.services.qa import scorecards, scoring
from callcenter.services.qa.service_language import default_phrase_lists

from .conftest import add_call, csrf_token

ALL_YES = {c["key"]: True for c in scorecards.checks(scorecards.DEFAULT_DEFINITION)}


def form(answers: dict, **extra) -> dict:
    return {**{f"check_{k}": "yes" if v else "no" for k, v in answers.items()}, **extra}


def test_the_default_scorecard_has_the_five_dimensions_weighing_100():
    dims = scorecards.DEFAULT_DEFINITION["dimensions"]
    assert [d["label"] for d in dims] == ["服务用语", "服务态度", "语气语调", "客户需求的归纳能力", "接待客户应变能力"]
    assert scorecards.validate(scorecards.DEFAULT_DEFINITION) == []
    # The phrase lists it points to are the rulebook's (seed 001).
    lists = default_phrase_lists()
    assert all(getattr(lists, c["phrases"]) for c in scorecards.checks(scorecards.DEFAULT_DEFINITION)
               if c.get("phrases"))


def test_points_per_dimension_and_a_critical_item_fails_the_call():
    points, total, failed = scorecards.score(scorecards.DEFAULT_DEFINITION, ALL_YES)
    assert total == 100 and failed == []
    points, total, failed = scorecards.score(scorecards.DEFAULT_DEFINITION, {**ALL_YES, "greeting": False})
    assert points["wording"] == 18.75 and total == 93.75
    points, total, failed = scorecards.score(scorecards.DEFAULT_DEFINITION, {**ALL_YES, "no_banned": False})
    assert total == 0 and failed == ["no_banned"]
    with pytest.raises(scorecards.ScorecardError, match="未评完"):
        scorecards.score(scorecards.DEFAULT_DEFINITION, {"greeting": True})


def test_a_template_in_use_is_versioned_not_changed(session, settings):
    agent = User(username="a", password_hash="x", role="agent")
    qa = User(username="q", password_hash="x", role="qa")
    session.add_all([agent, qa])
    session.flush()
    call = Call(uniqueid="u1", linkedid="u1", answered_by_user_id=agent.id)
    session.add(call)
    session.flush()
    v1 = scorecards.current(session)
    heavier = {"dimensions": [dict(d) for d in scorecards.DEFAULT_DEFINITION["dimensions"]]}
    heavier["dimensions"][0] = {**heavier["dimensions"][0], "weight": 30}
    heavier["dimensions"][2] = {**heavier["dimensions"][2], "weight": 10}
    same = scorecards.edit(session, "standard", name="改名", definition=heavier, actor_id=None)
    assert same.id == v1.id and same.version == 1          # unused: changed in place
    score = scoring.submit(session, call, qa, ALL_YES)
    v2 = scorecards.edit(session, "standard", name="第二版", definition=scorecards.DEFAULT_DEFINITION, actor_id=None)
    assert v2.version == 2 and v2.id != v1.id and scorecards.current(session).id == v2.id
    session.refresh(score)
    assert score.scorecard.version == 1 and score.scorecard.definition["dimensions"][0]["weight"] == 30
    with pytest.raises(scorecards.ScorecardError, match="权重合计"):
        scorecards.edit(session, "standard", name="x", definition={"dimensions": [
            {"key": "a", "label": "A", "weight": 50, "checks": [{"key": "c", "label": "C"}]}]}, actor_id=None)


def test_a_submitted_score_cannot_be_updated(session):
    agent = User(username="a", password_hash="x", role="agent")
    qa = User(username="q", password_hash="x", role="qa")
    session.add_all([agent, qa])
    session.flush()
    call = Call(uniqueid="u1", linkedid="u1", answered_by_user_id=agent.id)
    session.add(call)
    session.flush()
    score = scoring.submit(session, call, qa, ALL_YES)
    session.commit()
    score.total = 10
    with pytest.raises(ValueError, match="immutable"):
        session.flush()
    session.rollback()
    assert session.get(QaScore, score.id).total == 100


def test_corrections_are_versions_with_a_reason(session):
    agent = User(username="a", password_hash="x", role="agent")
    qa = User(username="q", password_hash="x", role="qa")
    session.add_all([agent, qa])
    session.flush()
    call = Call(uniqueid="u1", linkedid="u1", answered_by_user_id=agent.id)
    session.add(call)
    session.flush()
    first = scoring.submit(session, call, qa, ALL_YES)
    with pytest.raises(scoring.ScoringError, match="已评分"):
        scoring.submit(session, call, qa, ALL_YES)
    with pytest.raises(scoring.ScoringError, match="理由"):
        scoring.correct(session, call, qa, {**ALL_YES, "restated": False}, reason=" ")
    second = scoring.correct(session, call, qa, {**ALL_YES, "restated": False}, reason="复听发现未复述")
    assert [s.version for s in scoring.history(session, call.id)] == [1, 2]
    assert second.supersedes_id == first.id and first.total == 100 and second.total == 90
    with pytest.raises(scoring.ScoringError, match="自己"):
        scoring.submit(session, Call(uniqueid="u2", linkedid="u2", answered_by_user_id=qa.id), qa, ALL_YES)


def test_appeals_within_the_days_and_the_decision(session, settings):
    agent = User(username="a", password_hash="x", role="agent")
    other = User(username="b", password_hash="x", role="agent")
    qa = User(username="q", password_hash="x", role="qa")
    sup = User(username="s", password_hash="x", role="supervisor")
    session.add_all([agent, other, qa, sup])
    session.flush()
    call = Call(uniqueid="u1", linkedid="u1", answered_by_user_id=agent.id)
    session.add(call)
    session.flush()
    score = scoring.submit(session, call, qa, {**ALL_YES, "no_quarrel": False})
    assert score.total == 0
    with pytest.raises(scoring.ScoringError, match="自己的评分"):
        scoring.appeal(session, settings, score, other, "不是我")
    late = utcnow() + dt.timedelta(days=settings.qa_appeal_days, minutes=1)
    with pytest.raises(scoring.ScoringError, match="申诉期限"):
        scoring.appeal(session, settings, score, agent, "客户先骂人", now=late)
    appeal = scoring.appeal(session, settings, score, agent, "客户先骂人，我没有争执")
    with pytest.raises(scoring.ScoringError, match="待处理的申诉"):
        scoring.correct(session, call, qa, ALL_YES, reason="抢在主管之前")
    with pytest.raises(scoring.ScoringError, match="待处理"):
        scoring.appeal(session, settings, score, agent, "再来一次")
    with pytest.raises(scoring.ScoringError, match="主管"):
        scoring.decide(session, appeal, qa, upheld=False, note="x")
    scoring.decide(session, appeal, sup, upheld=True, note="复听属实", answers=ALL_YES)
    assert appeal.status == "upheld" and appeal.corrected_score_id is not None
    versions = scoring.history(session, call.id)
    assert [(v.version, v.total) for v in versions] == [(1, 0), (2, 100)]
    assert versions[1].reason == "申诉成立：复听属实"


# --- through the pages -----------------------------------------------------------------------

def test_score_comment_appeal_and_decision_through_the_pages(settings, users, recorded_call, signed_in):
    qa = signed_in("qa")
    token = csrf_token(qa)
    page = qa.get(f"/qa/calls/{recorded_call}").get_data(as_text=True)
    assert "<audio" in page and "服务用语" in page and "不知道" in page   # banned list shown with its check
    assert "暂无" in page   # survey answer hook and transcript slot
    incomplete = qa.post(f"/qa/calls/{recorded_call}/score", data={"csrf_token": token, "check_greeting": "yes"},
                         follow_redirects=True)
    assert "未评完的检查项" in incomplete.get_data(as_text=True)
    qa.post(f"/qa/calls/{recorded_call}/comments", data={"csrf_token": token, "at_seconds": "1.5", "text": "这里打断了客户"})
    bad = qa.post(f"/qa/calls/{recorded_call}/comments", data={"csrf_token": token, "at_seconds": "abc", "text": "x"},
                  follow_redirects=True)
    assert "批注时间点无效" in bad.get_data(as_text=True)
    done = qa.post(f"/qa/calls/{recorded_call}/score",
                   data=form({**ALL_YES, "no_interrupt": False}, csrf_token=token, comment="整体良好"),
                   follow_redirects=True).get_data(as_text=True)
    assert "第 1 版" in done and 'data-at="1.5"' in done and "这里打断了客户" in done

    agent = signed_in("agent")
    mine = agent.get("/qa/mine").get_data(as_text=True)
    assert f"#{recorded_call}" in mine and "91.67" in mine
    with session_scope(settings.database_url) as s:
        score_id = s.scalar(select(QaScore.id).where(QaScore.call_id == recorded_call))
    agent.post(f"/qa/scores/{score_id}/appeal", data={"csrf_token": csrf_token(agent), "reason": "客户一直在说，我只是确认"})

    sup = signed_in("supervisor")
    assert "客户一直在说" in sup.get("/qa/").get_data(as_text=True)
    with session_scope(settings.database_url) as s:
        appeal_id = s.scalar(select(QaAppeal.id))
    decided = sup.post(f"/qa/appeals/{appeal_id}/decide",
                       data=form(ALL_YES, csrf_token=csrf_token(sup), decision="upheld", note="复听属实"),
                       follow_redirects=True).get_data(as_text=True)
    assert "第 1 版：91.67 分" in decided and "第 2 版：100 分" in decided and "申诉成立：复听属实" in decided


def test_an_inspector_cannot_score_their_own_call(settings, users, signed_in):
    call_id = add_call(settings.database_url, agent_id=users["qa"])
    qa = signed_in("qa")
    assert 'id="score-form"' not in qa.get(f"/qa/calls/{call_id}").get_data(as_text=True)
    response = qa.post(f"/qa/calls/{call_id}/score", data=form(ALL_YES, csrf_token=csrf_token(qa)),
                       follow_redirects=True)
    assert "不能给自己接听的通话评分" in response.get_data(as_text=True)
    with session_scope(settings.database_url) as s:
        assert s.scalar(select(QaScore.id)) is None


def test_admin_edits_the_scorecard_and_a_bad_one_is_refused_keeping_the_text(settings, users, signed_in):
    admin = signed_in("admin")
    token = csrf_token(admin)
    bad = admin.post("/qa/scorecards", data={"csrf_token": token, "name": "x", "definition": '{"dimensions": ['})
    text = bad.get_data(as_text=True)
    assert bad.status_code == 400 and "评分表格式错误" in text and "{&#34;dimensions&#34;: [" in text
    import json
    ok = admin.post("/qa/scorecards", data={"csrf_token": token, "name": "新评分表",
                                            "definition": json.dumps(scorecards.DEFAULT_DEFINITION)})
    assert ok.status_code == 302
    with session_scope(settings.database_url) as s:
        assert s.scalar(select(QaScorecard.name)) == "新评分表"
