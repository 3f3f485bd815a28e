"""What the customer answered, and what a dissatisfied answer sets going.

Keys (the rulebook's 满意 / 一般 / 不满意): on a 3-point question 1 满意, 2 一般,
3 不满意; on a 5-point question 1–2 满意, 3 一般, 4–5 不满意 (1 is always the best, as
the script reads them out). The request's satisfaction is its worst answer.

不满意 means the work is not done (如不满意继续整改): the ticket is reopened for its owner
(首问负责制) — or, when it is still open, the owner is told — and the call it was logged
from is flagged for QA (``flag_call(..., SURVEY_DISSATISFIED)``).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from callcenter.config import Settings
from callcenter.db import utcnow
from callcenter.models import Call, SurveyAttempt, SurveyPlan, SurveyRequest, Ticket, TicketStatus
from callcenter.services.qa.flags import SURVEY_DISSATISFIED, flag_call
from callcenter.services.surveys.dispatch import COMPLETED, HUNG_UP, finish_attempt
from callcenter.services.tickets import notifications
from callcenter.services.tickets.tickets import reopen_ticket
from callcenter.timeutil import to_local

log = logging.getLogger(__name__)

SATISFIED, AVERAGE, DISSATISFIED = "满意", "一般", "不满意"
_ORDER = {SATISFIED: 0, AVERAGE: 1, DISSATISFIED: 2}


def label_for(key: int | str, scale: int = 3) -> str:
    """A key pressed → 满意 / 一般 / 不满意 ("" for a key the question does not offer)."""
    try:
        value = int(key)
    except (TypeError, ValueError):
        return ""
    if scale == 5:
        return {1: SATISFIED, 2: SATISFIED, 3: AVERAGE, 4: DISSATISFIED, 5: DISSATISFIED}.get(value, "")
    return {1: SATISFIED, 2: AVERAGE, 3: DISSATISFIED}.get(value, "")


def overall(answers: dict[str, Any], questions: list[dict[str, Any]]) -> str:
    scales = {q["key"]: int(q.get("scale", 3)) for q in questions}
    labels = [label_for(v, scales.get(k, 3)) for k, v in answers.items()]
    labels = [label for label in labels if label]
    return max(labels, key=_ORDER.__getitem__) if labels else ""


def _answer_of(step: str) -> int | None:
    """``key:3`` (pressed) or ``speech:3`` (said, e.g. 不满意) → 3; anything else → None
    (``speech:silence`` / ``speech:nomatch`` are followed by the key menu's own step)."""
    kind, _, value = step.partition(":")
    return int(value) if kind in ("key", "speech") and value.isdigit() else None


def answers_from_path(path: list[str], questions: list[dict[str, Any]]) -> dict[str, int]:
    """The answers accepted per question node from an IVR path (``q_service``, ``key:1``
    or ``speech:1`` ...)."""
    keys = {q["key"] for q in questions}
    answers: dict[str, int] = {}
    current = None
    for step in path:
        if step in keys:
            current = step
        elif current is not None and (answer := _answer_of(step)) is not None:
            answers[current] = answer
            current = None
    return answers


def questions_for_attempt(session: Session, attempt_id: int) -> tuple[str, list[dict[str, Any]]]:
    """(flow name, questions) of the attempt's plan; the default flow when it has none."""
    row = session.execute(
        select(SurveyPlan.flow, SurveyPlan.questions)
        .join(SurveyRequest, SurveyRequest.plan_id == SurveyPlan.id)
        .join(SurveyAttempt, SurveyAttempt.survey_id == SurveyRequest.id)
        .where(SurveyAttempt.id == attempt_id)).first()
    if row is None:
        from callcenter.services.surveys.plans import SATISFACTION_QUESTION
        return "survey", [SATISFACTION_QUESTION]
    return row[0], list(row[1])


def start_call(session: Session, attempt_id: int, *, uniqueid: str, channel: str,
               now: dt.datetime) -> tuple[str, list[dict[str, Any]]]:
    """The survey route has the customer: mark the attempt answered (crash recovery then
    knows the customer was reached) and return the flow and questions to run."""
    attempt = session.get(SurveyAttempt, attempt_id)
    if attempt is not None:
        attempt.answered_at = attempt.answered_at or now
        attempt.uniqueid = attempt.uniqueid or uniqueid
        attempt.channel = attempt.channel or channel
        session.flush()
    return questions_for_attempt(session, attempt_id)


def comment_target(settings: Settings, uniqueid: str, now: dt.datetime | None = None) -> tuple[str, str]:
    """(path for RECORD FILE without extension, name stored relative to recordings_dir):
    recordings_dir/surveys/YYYY/MM/DD/HHMMSS-<uniqueid>.wav, local date; the directory is made."""
    local = to_local(now or utcnow(), settings.timezone)
    safe = re.sub(r"[^A-Za-z0-9.-]", "-", uniqueid) or "call"
    relative = Path("surveys") / f"{local:%Y}" / f"{local:%m}" / f"{local:%d}" / f"{local:%H%M%S}-{safe}"
    absolute = Path(os.path.abspath(settings.recordings_dir)) / relative
    absolute.parent.mkdir(parents=True, exist_ok=True)
    return str(absolute), f"{relative.as_posix()}.wav"


def record_result(session: Session, settings: Settings, attempt_id: int, *, path: list[str],
                  completed: bool, uniqueid: str = "", channel: str = "", comment_file: str = "",
                  now: dt.datetime) -> SurveyAttempt | None:
    """Store what the survey route saw on the answered call: the answers, the comment,
    the call row; settle the attempt (completed, or hung up midway → retry/callback)."""
    attempt = session.get(SurveyAttempt, attempt_id)
    if attempt is None:
        log.warning("survey route: no attempt %s (CC_SURVEY_ID); nothing recorded", attempt_id)
        return None
    _flow, questions = questions_for_attempt(session, attempt_id)
    answers = answers_from_path(path, questions)
    attempt.answers = answers
    attempt.satisfaction = overall(answers, questions)
    attempt.answered_at = attempt.answered_at or now
    if comment_file:
        attempt.comment_file = comment_file
    if uniqueid and not attempt.uniqueid:
        attempt.uniqueid = uniqueid
    if channel and not attempt.channel:
        attempt.channel = channel
    attempt.call_id = attempt.call_id or _survey_call(session, attempt, uniqueid, channel, now)
    settles = attempt.outcome == ""
    if settles:
        # All questions answered counts as done even if the customer hangs up on the thanks.
        done = completed or (questions and len(answers) == len(questions))
        finish_attempt(session, settings, attempt, COMPLETED if done else HUNG_UP, source="agi", now=now)
    session.flush()
    if settles and attempt.satisfaction == DISSATISFIED:      # once, even if the write is repeated
        act_on_dissatisfied(session, settings, attempt, now=now)
    return attempt


def _survey_call(session: Session, attempt: SurveyAttempt, uniqueid: str, channel: str,
                 now: dt.datetime) -> int | None:
    if not uniqueid:
        return None
    from callcenter.services.calls.calltrack import CallerRef, get_or_create_call

    call, _created = get_or_create_call(session, CallerRef(uniqueid=uniqueid, channel=channel,
                                                           dialled_number=attempt.number), at=now)
    call.route_reason = "survey"
    survey = session.get(SurveyRequest, attempt.survey_id)
    if survey is not None and survey.customer_id and not call.customer_id:
        call.customer_id = survey.customer_id
    return call.id


def act_on_dissatisfied(session: Session, settings: Settings, attempt: SurveyAttempt, *, now: dt.datetime) -> None:
    survey = session.get(SurveyRequest, attempt.survey_id)
    ticket = session.get(Ticket, survey.ticket_id) if survey is not None else None
    if ticket is None:
        return
    reason = f"回访不满意（第{attempt.id}次回访）"
    if ticket.status == TicketStatus.CLOSED:
        reopen_ticket(session, settings, ticket, actor=None, reason=reason, now=now)
        message = f"工单 {ticket.number} 回访不满意，已重新打开，请继续整改"
    else:
        message = f"工单 {ticket.number} 回访不满意，请跟进整改"
    notifications.notify(session, [ticket.owner_id], message, ticket=ticket, kind="survey", now=now)
    call_id = _ticket_call(session, ticket) or attempt.call_id
    if call_id is not None:
        flag_call(session, call_id, SURVEY_DISSATISFIED, weight=2.0,
                  detail=f"工单 {ticket.number} 回访不满意 {attempt.answers}")


def _ticket_call(session: Session, ticket: Ticket) -> int | None:
    if not ticket.call_linkedid:
        return None
    return session.scalar(select(Call.id).where(Call.linkedid == ticket.call_linkedid).order_by(Call.id).limit(1))


def survey_answer_for_call(session: Session, call_id: int) -> dict[str, Any] | None:
    """The survey answer that concerns a call — the call a ticket was logged from, or the
    survey call itself — for QA: {"satisfaction", "answers", "ticket_id", "at"}; None if
    no follow-up call reached the customer about it."""
    call = session.get(Call, call_id)
    if call is None:
        return None
    query = (select(SurveyAttempt, SurveyRequest.ticket_id)
             .join(SurveyRequest, SurveyRequest.id == SurveyAttempt.survey_id)
             .where(SurveyAttempt.satisfaction != ""))
    own = session.execute(query.where(SurveyAttempt.call_id == call_id)
                          .order_by(SurveyAttempt.id.desc()).limit(1)).first()
    if own is None:
        own = session.execute(query.join(Ticket, Ticket.id == SurveyRequest.ticket_id)
                              .where(Ticket.call_linkedid == call.linkedid)
                              .order_by(SurveyAttempt.id.desc()).limit(1)).first()
    if own is None:
        return None
    attempt, ticket_id = own
    return {"satisfaction": attempt.satisfaction, "answers": dict(attempt.answers), "ticket_id": ticket_id,
            "at": attempt.finished_at or attempt.answered_at, "attempt_id": attempt.id}
