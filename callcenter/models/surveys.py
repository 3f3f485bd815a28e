"""Follow-up survey calls (回访): plans, attempts and their answers, the contact rules.

A ``SurveyRequest`` (models/tickets.py, written when a ticket closes) is one follow-up
call that must happen; the dispatcher keeps its progress on it (plan, attempts made,
next attempt, outcome). Each dial is a ``SurveyAttempt`` written BEFORE the Originate
is sent, so a crash between the two never loses or repeats a call.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, Boolean, DateTime, Float, ForeignKey, Index, Integer, String, Text, Time
from sqlalchemy.orm import Mapped, mapped_column, relationship

from callcenter.db import utcnow
from callcenter.models.base import Base


class SurveyPlan(Base):
    """When and how a kind of follow-up is called: the rulebook's defaults, edited by an admin.

    ``anchor`` names the instant the offsets count from: ``closed`` (the ticket closed),
    ``leak_test`` (the repair's ``completed_at``: the water test passed), or a date given
    when a series is scheduled (``construction``, ``handover``, ``walk_in``)."""

    __tablename__ = "survey_plans"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(32), unique=True, nullable=False)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    # Lower first: the first active plan whose conditions match a closed ticket is used.
    priority: Mapped[int] = mapped_column(Integer, nullable=False, default=100)
    anchor: Mapped[str] = mapped_column(String(16), nullable=False, default="closed")
    ticket_types: Mapped[list] = mapped_column(JSON, nullable=False, default=list)   # [] = any
    tiers: Mapped[list] = mapped_column(JSON, nullable=False, default=list)          # [] = any
    # Words in the ticket's subject/description/fields that select this plan (漏水 ...).
    match_words: Mapped[list] = mapped_column(JSON, nullable=False, default=list)
    # Days after the anchor each call of the series is due (negative: before it).
    offsets_days: Mapped[list] = mapped_column(JSON, nullable=False, default=list)
    # The call must be done within this many days of being due (the 100% target).
    deadline_days: Mapped[float] = mapped_column(Float, nullable=False, default=3.0)
    # Construction series: at least this many calls, at most this many days apart.
    series_min_calls: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    series_max_gap_days: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    flow: Mapped[str] = mapped_column(String(64), nullable=False, default="survey")
    # [{"key": "q_service", "label": "服务满意度", "scale": 3}] — keys are the flow's node ids.
    questions: Mapped[list] = mapped_column(JSON, nullable=False, default=list)
    max_attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=3)
    retry_minutes: Mapped[int] = mapped_column(Integer, nullable=False, default=120)


class SurveyAttempt(Base):
    """One dial of a follow-up call. ``outcome`` empty = not known yet (dialling or in
    the call); the AMI answer, the survey route and crash recovery fill it in."""

    __tablename__ = "survey_attempts"
    __table_args__ = (Index("ix_survey_attempts_open", "outcome", "started_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    survey_id: Mapped[int] = mapped_column(ForeignKey("survey_requests.id"), nullable=False, index=True)
    number: Mapped[str] = mapped_column(String(64), nullable=False)
    # What the pacer planned and when the Originate actually went out.
    planned_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    started_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    action_id: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    # Reason of OriginateResponse (4 answered, 0 busy/unknown endpoint, 3 no answer).
    reason: Mapped[int | None] = mapped_column(Integer)
    channel: Mapped[str] = mapped_column(String(128), nullable=False, default="")
    uniqueid: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    answered_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    # "" | completed | hung_up | busy | no_answer | failed
    outcome: Mapped[str] = mapped_column(String(16), nullable=False, default="")
    # How the outcome was learned: originate | agi | recovery
    outcome_source: Mapped[str] = mapped_column(String(16), nullable=False, default="")
    # {"q_service": 3, ...} the keys pressed per question.
    answers: Mapped[dict] = mapped_column(JSON, nullable=False, default=dict)
    # 满意 / 一般 / 不满意 derived from the answers ("" when none).
    satisfaction: Mapped[str] = mapped_column(String(16), nullable=False, default="")
    comment_file: Mapped[str] = mapped_column(String(255), nullable=False, default="")
    # The calls row of the answered survey call (the AGI route writes it).
    call_id: Mapped[int | None] = mapped_column(ForeignKey("calls.id"), index=True)

    survey = relationship("SurveyRequest")


class SurveyContact(Base):
    """Per number: do not call (不打扰), or the customer's preferred time to be called."""

    __tablename__ = "survey_contacts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    do_not_call: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    preferred_from: Mapped[dt.time | None] = mapped_column(Time)
    preferred_to: Mapped[dt.time | None] = mapped_column(Time)
    note: Mapped[str] = mapped_column(Text, nullable=False, default="")
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
