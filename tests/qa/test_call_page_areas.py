"""The inspector's page brings in what the areas above QA know of the call: the customer's
follow-up survey answer, the transcript widget in step with the page's player, and the
speech checks pre-filling (never submitting) the scorecard."""

from __future__ import annotations

import re

from sqlalchemy import select

from callcenter.db import session_scope, utcnow
from callcenter.models import Call, QaScore, SpeechCheck, SurveyAttempt, SurveyRequest, Ticket, TicketType


def _checked(html: str, key: str) -> str | None:
    for value in ("yes", "no"):
        if re.search(rf'name="check_{key}" value="{value}" checked', html):
            return value
    return None


def test_survey_answer_transcript_and_prefill_on_the_inspectors_page(settings, users, recorded_call, signed_in):
    with session_scope(settings.database_url) as s:
        call = s.get(Call, recorded_call)
        ticket = Ticket(number="GD-QA-1", type=TicketType.REPAIR, owner_id=users["agent"], subject="漏水",
                        call_linkedid=call.linkedid)
        s.add(ticket)
        s.flush()
        survey = SurveyRequest(ticket_id=ticket.id, number="+8613800138000", due_at=utcnow())
        s.add(survey)
        s.flush()
        s.add(SurveyAttempt(survey_id=survey.id, number="+8613800138000", satisfaction="不满意",
                            answers={"q_service": 3}, answered_at=utcnow(), finished_at=utcnow()))
        s.add_all([SpeechCheck(call_id=call.id, check="greeting", passed=True, evidence=[]),
                   SpeechCheck(call_id=call.id, check="banned", passed=False,
                                evidence=[{"at": 12.5, "phrase": "不知道"}])])
    qa = signed_in("qa")
    html = qa.get(f"/qa/calls/{recorded_call}").get_data(as_text=True)
    assert re.search(r'id="survey-answer">不满意 · \d{4}-\d\d-\d\d \d\d:\d\d<', html)
    # The transcript widget drives the page's own player.
    assert f'data-transcript-url="/speech/calls/{recorded_call}/transcript.json"' in html
    assert 'data-audio="#player"' in html
    # Pre-filled from the speech checks, for the inspector to confirm.
    assert 'id="speech-prefill"' in html
    assert _checked(html, "greeting") == "yes" and _checked(html, "no_banned") == "no"
    assert _checked(html, "no_negative") is None
    with session_scope(settings.database_url) as s:
        assert s.scalar(select(QaScore).where(QaScore.call_id == recorded_call)) is None, "nothing submitted"

    # The agent who took the call sees the page and the survey, not the inspectors' widget.
    agent = signed_in("agent")
    own = agent.get(f"/qa/calls/{recorded_call}").get_data(as_text=True)
    assert "不满意" in own and "data-transcript-url" not in own
