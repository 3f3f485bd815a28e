"""What the inspector's page shows about one call: details, its ticket, recording state,
comments, score history and appeals, and the lists the QA pages start from."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from callcenter.config import Settings
from callcenter.models import Call, QaAppeal, QaAssignment, QaSample, QaScore, Ticket, User
from callcenter.services.qa import recordings, scorecards, scoring
from callcenter.services.qa.service_language import phrase_lists


@dataclass
class CallReview:
    call: Call
    agent: User | None
    recording: recordings.Located
    tickets: list[Ticket]
    history: list[QaScore]
    comments: list
    appeals: list[QaAppeal]
    card: Any
    phrases: Any
    assignment: QaAssignment | None = None
    names: dict[int, str] = field(default_factory=dict)
    # Filled by the page from the areas above QA (surveys, speech), which QA does not import.
    survey_answer: str | None = None

    @property
    def latest(self) -> QaScore | None:
        return self.history[-1] if self.history else None


def review(session: Session, settings: Settings, call: Call) -> CallReview:
    history = scoring.history(session, call.id)
    card = history[-1].scorecard if history else scorecards.current(session)
    tickets = (list(session.scalars(select(Ticket).where(Ticket.call_linkedid == call.linkedid)
                                    .order_by(Ticket.id))) if call.linkedid else [])
    appeals = scoring.appeals(session, call.id)
    comments = scoring.comments(session, call.id)
    assignment = session.scalar(select(QaAssignment).where(QaAssignment.call_id == call.id)
                                .order_by(QaAssignment.id.desc()).limit(1))
    people = {s.inspector_id for s in history} | {c.author_id for c in comments} | \
        {a.decided_by_id for a in appeals if a.decided_by_id} | {call.answered_by_user_id or 0}
    names = dict(session.execute(select(User.id, User.display_name).where(User.id.in_(people))).all())
    return CallReview(call=call, agent=session.get(User, call.answered_by_user_id) if call.answered_by_user_id else None,
                      recording=recordings.locate(settings, call), tickets=tickets, history=history,
                      comments=comments, appeals=appeals, card=card,
                      phrases=phrase_lists(session),
                      assignment=assignment, names=names)


def my_assignments(session: Session, inspector_id: int, limit: int = 200) -> list[QaAssignment]:
    return list(session.scalars(select(QaAssignment).where(QaAssignment.inspector_id == inspector_id)
                                .order_by(QaAssignment.status, QaAssignment.id.desc()).limit(limit)))


def samples(session: Session, limit: int = 20) -> list[tuple[QaSample, int, int]]:
    """Recent samples with (calls, calls scored)."""
    rows = session.execute(
        select(QaSample, func.count(QaAssignment.id),
               func.count(QaAssignment.id).filter(QaAssignment.status == "scored"))
        .outerjoin(QaAssignment, QaAssignment.sample_id == QaSample.id)
        .group_by(QaSample.id).order_by(QaSample.id.desc()).limit(limit)).all()
    return [(sample, total, scored) for sample, total, scored in rows]


def sample_assignments(session: Session, sample_id: int) -> list[QaAssignment]:
    return list(session.scalars(select(QaAssignment).where(QaAssignment.sample_id == sample_id)
                                .order_by(QaAssignment.agent_id, QaAssignment.call_id)))


def agent_scores(session: Session, agent_id: int, limit: int = 100) -> list[QaScore]:
    """The agent's scores, newest version of each call only, newest first."""
    newest = (select(QaScore.call_id, func.max(QaScore.version).label("v"))
              .where(QaScore.agent_id == agent_id).group_by(QaScore.call_id).subquery())
    return list(session.scalars(select(QaScore).join(
        newest, (newest.c.call_id == QaScore.call_id) & (newest.c.v == QaScore.version))
        .order_by(QaScore.submitted_at.desc()).limit(limit)))


def user_names(session: Session, ids) -> dict[int, str]:
    ids = {i for i in ids if i}
    if not ids:
        return {}
    return dict(session.execute(select(User.id, User.display_name).where(User.id.in_(ids))).all())
