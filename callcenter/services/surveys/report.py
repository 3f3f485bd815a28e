"""What the survey pages show: the queue, today's results, the human callback list, a
ticket's survey history, callback completion against the 100% target (per week/month,
per owner and ticket type), satisfaction by question. Instants in are naive UTC; the
periods are local days/weeks/months in ``settings.timezone``."""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from callcenter.config import Settings
from callcenter.models import SurveyAttempt, SurveyPlan, SurveyRequest, SurveyStatus, Ticket, User
from callcenter.services.setup.periods import period_for
from callcenter.services.surveys.answers import label_for
from callcenter.services.surveys.dispatch import CALLBACK
from callcenter.timeutil import to_local


def local_period(settings: Settings, now: dt.datetime, period: str) -> tuple[dt.datetime, dt.datetime]:
    """[start, end) in naive UTC of the local day, week (Monday first) or month holding ``now``."""
    if period not in ("day", "week", "month"):
        raise ValueError(f"period must be day, week or month, not {period!r}")
    found = period_for(period, to_local(now, settings.timezone).date(), settings.timezone)
    return found.start, found.end


def queue(session: Session, *, limit: int = 200) -> list[tuple[SurveyRequest, Ticket]]:
    """Requests still to be dialled, soonest first (in-flight ones have no next time)."""
    return list(session.execute(
        select(SurveyRequest, Ticket).join(Ticket, Ticket.id == SurveyRequest.ticket_id)
        .where(SurveyRequest.status == SurveyStatus.PENDING, SurveyRequest.next_attempt_at.is_not(None))
        .order_by(SurveyRequest.next_attempt_at, SurveyRequest.id).limit(limit)))


def in_flight(session: Session) -> list[SurveyAttempt]:
    return list(session.scalars(select(SurveyAttempt).where(SurveyAttempt.outcome == "")
                                .order_by(SurveyAttempt.id)))


def callback_list(session: Session) -> list[tuple[SurveyRequest, Ticket]]:
    """Left to people after the plan's last attempt (回访专员 call them by hand)."""
    return list(session.execute(
        select(SurveyRequest, Ticket).join(Ticket, Ticket.id == SurveyRequest.ticket_id)
        .where(SurveyRequest.status == SurveyStatus.PENDING, SurveyRequest.outcome == CALLBACK)
        .order_by(SurveyRequest.deadline_at, SurveyRequest.id)))


def attempts_between(session: Session, start: dt.datetime, end: dt.datetime) -> list[tuple[SurveyAttempt, Ticket]]:
    return list(session.execute(
        select(SurveyAttempt, Ticket).join(SurveyRequest, SurveyRequest.id == SurveyAttempt.survey_id)
        .join(Ticket, Ticket.id == SurveyRequest.ticket_id)
        .where(SurveyAttempt.started_at >= start, SurveyAttempt.started_at < end)
        .order_by(SurveyAttempt.started_at.desc(), SurveyAttempt.id.desc())))


def ticket_history(session: Session, ticket_id: int) -> list[tuple[SurveyRequest, list[SurveyAttempt]]]:
    surveys = list(session.scalars(select(SurveyRequest).where(SurveyRequest.ticket_id == ticket_id)
                                   .order_by(SurveyRequest.id)))
    attempts: dict[int, list[SurveyAttempt]] = defaultdict(list)
    for attempt in session.scalars(select(SurveyAttempt).where(
            SurveyAttempt.survey_id.in_([s.id for s in surveys])).order_by(SurveyAttempt.id)):
        attempts[attempt.survey_id].append(attempt)
    return [(s, attempts[s.id]) for s in surveys]


def describe_answers(session: Session, attempt: SurveyAttempt) -> list[str]:
    """["服务满意度：不满意（3）", ...] in the plan's question order."""
    from callcenter.services.surveys.answers import questions_for_attempt

    _flow, questions = questions_for_attempt(session, attempt.id)
    out = []
    for question in questions:
        if question["key"] in attempt.answers:
            value = attempt.answers[question["key"]]
            verdict = label_for(value, int(question.get("scale", 3)))
            out.append(f"{question.get('label', question['key'])}：{verdict or '无效'}（{value}）")
    return out


ANCHOR_LABELS = {"closed": "工单关闭", "leak_test": "闭水试验", "construction": "开工至完工",
                 "handover": "交房日", "walk_in": "到访日"}


@dataclass
class Completion:
    """Surveys due in a period (deadline inside it): how many were done, and done in time."""

    owed: int = 0
    done: int = 0
    on_time: int = 0

    @property
    def rate(self) -> float:
        return self.done / self.owed if self.owed else 1.0


@dataclass
class CompletionReport:
    start: dt.datetime
    end: dt.datetime
    total: Completion = field(default_factory=Completion)
    by_owner: dict[str, Completion] = field(default_factory=dict)
    by_type: dict[str, Completion] = field(default_factory=dict)


def completion(session: Session, settings: Settings, now: dt.datetime, period: str) -> CompletionReport:
    """Callback completion against the 100% target (回访率): surveys whose deadline falls
    in the period, per ticket owner (首问负责人) and ticket type. Cancelled ones (ticket
    reopened, do-not-call) are not owed."""
    start, end = local_period(settings, now, period)
    report = CompletionReport(start, end)
    rows = session.execute(
        select(SurveyRequest.status, SurveyRequest.completed_at, SurveyRequest.deadline_at, Ticket.type,
               User.display_name)
        .join(Ticket, Ticket.id == SurveyRequest.ticket_id).join(User, User.id == Ticket.owner_id)
        .where(SurveyRequest.deadline_at >= start, SurveyRequest.deadline_at < end,
               SurveyRequest.status != SurveyStatus.CANCELLED))
    for status, completed_at, deadline, kind, owner in rows:
        for bucket in (report.total, report.by_owner.setdefault(owner, Completion()),
                       report.by_type.setdefault(kind.value, Completion())):
            bucket.owed += 1
            if status == SurveyStatus.DONE:
                bucket.done += 1
                if completed_at is not None and completed_at <= deadline:
                    bucket.on_time += 1
    return report


def satisfaction_by_question(session: Session, start: dt.datetime, end: dt.datetime) -> list[dict[str, Any]]:
    """Per question (label): counts of 满意 / 一般 / 不满意 and the satisfied share."""
    labels: dict[str, tuple[str, int]] = {}
    for questions in session.scalars(select(SurveyPlan.questions)):
        for q in questions:
            labels[q["key"]] = (q.get("label", q["key"]), int(q.get("scale", 3)))
    counts: dict[str, Counter] = defaultdict(Counter)
    for answers in session.scalars(select(SurveyAttempt.answers).where(
            SurveyAttempt.finished_at >= start, SurveyAttempt.finished_at < end, SurveyAttempt.satisfaction != "")):
        for key, value in answers.items():
            label, scale = labels.get(key, (key, 3))
            verdict = label_for(value, scale)
            if verdict:
                counts[label][verdict] += 1
    result = []
    for label, counter in sorted(counts.items()):
        total = sum(counter.values())
        result.append({"question": label, "满意": counter["满意"], "一般": counter["一般"], "不满意": counter["不满意"],
                       "total": total, "satisfied_share": counter["满意"] / total if total else 0.0})
    return result
