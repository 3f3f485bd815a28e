"""Which survey calls go out now, and what their dialling led to (the database side).

Never twice, never lost: ``claim_due`` writes each attempt (and moves the request out of
the due list) in the caller's transaction, which commits BEFORE the Originate is sent;
the attempt's id travels on the channel (``CC_SURVEY_ID``) and in the ActionID
(``survey-<id>``). ``record_originate`` stores Asterisk's OriginateResponse; the survey
route stores the answers (``answers.record_result``); ``recovery`` settles attempts whose
process died before either arrived.

Pacing, checked against the database so a restarted scheduler keeps it:
- concurrent survey calls (attempts without an outcome) ≤ min(survey_max_concurrent,
  survey_agent_lines) — surveys never take more lines than that many agents;
- new calls are spaced 60 / survey_calls_per_minute seconds apart (so no minute ever
  holds more than the cap), each given a planned start the dialer keeps to.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from callcenter.config import Settings
from callcenter.models import SurveyAttempt, SurveyPlan, SurveyRequest, SurveyStatus
from callcenter.services.surveys.requests import contact_key, contacts
from callcenter.services.surveys.windows import CallingWindows

log = logging.getLogger(__name__)

COMPLETED, HUNG_UP, BUSY, NO_ANSWER, FAILED, UNKNOWN = "completed", "hung_up", "busy", "no_answer", "failed", "unknown"
OUTCOME_LABELS = {COMPLETED: "完成", HUNG_UP: "中途挂断", BUSY: "占线", NO_ANSWER: "无人接听",
                  FAILED: "呼叫失败", UNKNOWN: "结果不明", "": "通话中"}
# Request outcomes besides "completed".
CALLBACK, CALLBACK_DONE, DO_NOT_CALL = "callback", "callback_done", "do_not_call"
REQUEST_LABELS = {"": "待回访", COMPLETED: "已完成", CALLBACK: "转人工回访", CALLBACK_DONE: "人工已回访",
                  DO_NOT_CALL: "免打扰", "no_plan": "无回访计划"}
ACTION_PREFIX = "survey-"
# How many due requests one pass looks at per free slot (the rest wait for the next pass).
_LOOKAHEAD = 4


@dataclass(frozen=True)
class Claim:
    """One dial the dialer must place at ``planned_at``."""

    attempt_id: int
    survey_id: int
    number: str
    planned_at: dt.datetime

    @property
    def action_id(self) -> str:
        return action_id_for(self.attempt_id)


def action_id_for(attempt_id: int) -> str:
    return f"{ACTION_PREFIX}{attempt_id}"


def attempt_id_from(action_id: str) -> int | None:
    if action_id.startswith(ACTION_PREFIX) and action_id[len(ACTION_PREFIX):].isdigit():
        return int(action_id[len(ACTION_PREFIX):])
    return None


def concurrency_cap(settings: Settings) -> int:
    return min(settings.survey_max_concurrent, settings.survey_agent_lines)


def spacing_s(settings: Settings) -> float:
    return 60.0 / settings.survey_calls_per_minute if settings.survey_calls_per_minute else float("inf")


def open_attempts(session: Session) -> int:
    return session.scalar(select(func.count(SurveyAttempt.id)).where(SurveyAttempt.outcome == "")) or 0


def _last_planned(session: Session) -> dt.datetime | None:
    return session.scalar(select(func.max(SurveyAttempt.planned_at)))


def claim_due(session: Session, settings: Settings, now: dt.datetime, *, horizon_s: float | None = None) -> list[Claim]:
    """Write the attempts to dial in the next ``horizon_s`` seconds (the dispatch tick)
    within the caps; requests outside their calling window, on the do-not-call list or
    whose customer was called within the period are moved or settled instead."""
    horizon = dt.timedelta(seconds=settings.survey_dispatch_s if horizon_s is None else horizon_s)
    free = concurrency_cap(settings) - open_attempts(session)
    gap = spacing_s(settings)
    if free <= 0 or gap == float("inf"):
        return []
    last = _last_planned(session)
    slot = max(now, last + dt.timedelta(seconds=gap)) if last is not None else now
    if slot >= now + horizon:
        return []
    query = (select(SurveyRequest)
             .where(SurveyRequest.status == SurveyStatus.PENDING, SurveyRequest.next_attempt_at.is_not(None),
                    SurveyRequest.next_attempt_at <= now)
             .order_by(SurveyRequest.next_attempt_at, SurveyRequest.id).limit(free * _LOOKAHEAD))
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    due = list(session.scalars(query))
    if not due:
        return []
    windows = CallingWindows(session, settings)
    rules = contacts(session, [s.number for s in due], settings.phone_region)
    recent = _recently_called(session, settings, due, now)
    claims: list[Claim] = []
    for survey in due:
        if len(claims) >= free or slot >= now + horizon:
            break
        contact = rules.get(survey.number)
        if not survey.number:
            _give_to_people(survey, "no number")
            continue
        if contact is not None and contact.do_not_call:
            survey.status, survey.outcome, survey.next_attempt_at = SurveyStatus.CANCELLED, DO_NOT_CALL, None
            continue
        opens = windows.next_open(now, contact)
        if opens > now:
            survey.next_attempt_at = opens
            continue
        key = contact_key(survey.number, settings.phone_region)
        other = recent.get(key)
        if other is not None and other[0] != survey.ticket_id:
            survey.next_attempt_at = other[1] + dt.timedelta(days=settings.survey_customer_period_days)
            continue
        attempt = SurveyAttempt(survey_id=survey.id, number=survey.number, planned_at=slot, started_at=slot,
                                outcome="")
        session.add(attempt)
        survey.attempts += 1
        survey.next_attempt_at = None      # in flight: not due again until an outcome says so
        session.flush()
        attempt.action_id = action_id_for(attempt.id)
        recent[key] = (survey.ticket_id, slot)
        claims.append(Claim(attempt.id, survey.id, survey.number, slot))
        slot += dt.timedelta(seconds=gap)
    session.flush()
    return claims


def _recently_called(session: Session, settings: Settings, due: list[SurveyRequest],
                     now: dt.datetime) -> dict[str, tuple[int, dt.datetime]]:
    """Per number: (ticket, when) of the latest survey call within the period."""
    if settings.survey_customer_period_days <= 0:
        return {}
    since = now - dt.timedelta(days=settings.survey_customer_period_days)
    numbers = {s.number for s in due if s.number}
    rows = session.execute(
        select(SurveyAttempt.number, SurveyRequest.ticket_id, SurveyAttempt.started_at)
        .join(SurveyRequest, SurveyRequest.id == SurveyAttempt.survey_id)
        .where(SurveyAttempt.number.in_(numbers), SurveyAttempt.started_at >= since)
        .order_by(SurveyAttempt.started_at))
    found: dict[str, tuple[int, dt.datetime]] = {}
    for number, ticket_id, started in rows:
        found[contact_key(number, settings.phone_region)] = (ticket_id, started)
    return found


# --- outcomes ------------------------------------------------------------------------------

def outcome_of_originate(success: bool, reason: int | None, busy_seen: bool) -> str:
    """OriginateResponse → attempt outcome ("" = answered: the survey route will tell).
    Asterisk 22 reports a 486 Busy as Reason 0, like an unknown endpoint: only the
    channel's Hangup (Cause 17) tells them apart (asterisk-transcripts 3d2)."""
    if success and reason == 4:
        return ""
    if reason == 3:
        return NO_ANSWER
    if reason == 5 or (reason == 0 and busy_seen):
        return BUSY
    return FAILED


def record_originate(session: Session, settings: Settings, attempt_id: int, *, success: bool,
                     reason: int | None, channel: str = "", uniqueid: str = "", busy_seen: bool = False,
                     now: dt.datetime) -> SurveyAttempt | None:
    attempt = session.get(SurveyAttempt, attempt_id)
    if attempt is None:
        log.warning("OriginateResponse for unknown survey attempt %s", attempt_id)
        return None
    attempt.reason = reason
    if channel and not attempt.channel:
        attempt.channel = channel
    if uniqueid and uniqueid != "<unknown>" and not attempt.uniqueid:
        attempt.uniqueid = uniqueid
    outcome = outcome_of_originate(success, reason, busy_seen)
    if outcome == "":
        attempt.answered_at = attempt.answered_at or now
    elif attempt.outcome == "":
        finish_attempt(session, settings, attempt, outcome, source="originate", now=now)
    session.flush()
    return attempt


def not_sent(session: Session, settings: Settings, attempt_id: int, *, now: dt.datetime, why: str) -> None:
    """The Originate never left (AMI down): the attempt does not count; the request is due
    again after a short pause."""
    attempt = session.get(SurveyAttempt, attempt_id)
    if attempt is None or attempt.outcome:
        return
    attempt.outcome, attempt.outcome_source, attempt.finished_at = FAILED, "not_sent", now
    survey = session.get(SurveyRequest, attempt.survey_id)
    if survey is not None and survey.status == SurveyStatus.PENDING:
        survey.attempts = max(0, survey.attempts - 1)
        survey.next_attempt_at = now + dt.timedelta(seconds=30)
    log.warning("survey attempt %s not dialled (%s); due again in 30 s", attempt_id, why)
    session.flush()


def finish_attempt(session: Session, settings: Settings, attempt: SurveyAttempt, outcome: str, *,
                   source: str, now: dt.datetime) -> None:
    """Settle an attempt and decide the request's next step: done, a spaced retry, or
    the human callback list after the plan's last attempt."""
    attempt.outcome, attempt.outcome_source = outcome, source
    attempt.finished_at = attempt.finished_at or now
    survey = session.get(SurveyRequest, attempt.survey_id)
    if survey is None or survey.status != SurveyStatus.PENDING:
        return
    if outcome != COMPLETED and survey.outcome == CALLBACK:
        return                     # already with the people: no more automatic calls
    if outcome == COMPLETED:
        survey.status, survey.outcome, survey.completed_at = SurveyStatus.DONE, COMPLETED, now
        survey.satisfaction = attempt.satisfaction
        survey.next_attempt_at = None
        return
    plan = session.get(SurveyPlan, survey.plan_id) if survey.plan_id else None
    max_attempts = plan.max_attempts if plan else 3
    if survey.attempts >= max_attempts:
        _give_to_people(survey, outcome)
    else:
        survey.next_attempt_at = now + dt.timedelta(minutes=plan.retry_minutes if plan else 120)


def _give_to_people(survey: SurveyRequest, why: str) -> None:
    survey.outcome, survey.next_attempt_at = CALLBACK, None
    log.info("survey %s goes to the callback list (%s)", survey.id, why)


def complete_callback(session: Session, survey_id: int, *, user_id: int, satisfaction: str = "",
                      now: dt.datetime) -> SurveyRequest:
    """An agent made the follow-up call by hand (from the callback list)."""
    survey = session.get(SurveyRequest, survey_id)
    if survey is None:
        raise LookupError(f"no survey {survey_id}")
    if survey.status != SurveyStatus.PENDING:
        raise ValueError(f"survey {survey_id} is already {survey.status.value}")
    survey.status, survey.outcome = SurveyStatus.DONE, CALLBACK_DONE
    survey.satisfaction, survey.completed_at, survey.completed_by_id = satisfaction, now, user_id
    survey.next_attempt_at = None
    session.flush()
    return survey


def open_attempts_before(session: Session, before: dt.datetime) -> list[SurveyAttempt]:
    return list(session.scalars(select(SurveyAttempt).where(
        SurveyAttempt.outcome == "", or_(SurveyAttempt.started_at <= before)).order_by(SurveyAttempt.id)))
