"""Quality assurance (质检) tables."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    event,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from callcenter.db import utcnow
from callcenter.models.base import Base, TimestampMixin
from callcenter.models.calls import Call


class QaFlag(Base):
    """A reason to listen to one call: raised by another part of the product (a dissatisfied
    survey answer, a speech check that found a banned phrase, a supervisor) and read by the
    QA sampler, which over-samples flagged calls by their weight. One row per call and reason;
    raising it again keeps the heavier weight."""

    __tablename__ = "qa_flags"
    __table_args__ = (UniqueConstraint("call_id", "reason", name="uq_qa_flags_call_reason"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"), nullable=False, index=True)
    reason: Mapped[str] = mapped_column(String(32), nullable=False)
    weight: Mapped[float] = mapped_column(Float, nullable=False, default=1.0)
    detail: Mapped[str] = mapped_column(Text, nullable=False, default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)

    call: Mapped[Call] = relationship()


class QaPlan(TimestampMixin, Base):
    """How a period's sample is drawn (REQUIREMENTS "Quality assurance": each agent heard
    1–5 times a month). The settings that shape a draw are copied into every sample, so
    editing a plan never changes a draw already made."""

    __tablename__ = "qa_plans"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    period: Mapped[str] = mapped_column(String(8), nullable=False, default="month")  # week / month
    quota_per_agent: Mapped[int] = mapped_column(Integer, nullable=False, default=5)
    # Every draw setting (strata, over-sampling weights, call-length limits, CI width ...):
    # see callcenter/services/qa/sampling.py PlanRules.
    rules: Mapped[dict] = mapped_column(JSON, nullable=False, default=dict)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class QaSample(Base):
    """One draw: the seed, the plan's rules and the filters as they were, the moment it was
    drawn (what counted as already reviewed) and the calls it gave. Re-running the draw
    from these must give the same calls (``callcenter qa draw --verify``)."""

    __tablename__ = "qa_samples"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("qa_plans.id"), nullable=False, index=True)
    period_start: Mapped[dt.date] = mapped_column(Date, nullable=False)
    period_end: Mapped[dt.date] = mapped_column(Date, nullable=False)   # exclusive
    seed: Mapped[int] = mapped_column(BigInteger, nullable=False)
    rules: Mapped[dict] = mapped_column(JSON, nullable=False, default=dict)
    filters: Mapped[dict] = mapped_column(JSON, nullable=False, default=dict)
    as_of: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False)
    call_ids: Mapped[list] = mapped_column(JSON, nullable=False, default=list)
    source: Mapped[str] = mapped_column(String(16), nullable=False, default="panel")  # panel / scheduler / cli
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)

    plan: Mapped[QaPlan] = relationship()


class QaAssignment(Base):
    """One sampled call given to one inspector (never the agent who took it)."""

    __tablename__ = "qa_assignments"
    __table_args__ = (UniqueConstraint("sample_id", "call_id", name="uq_qa_assignments_sample_call"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sample_id: Mapped[int] = mapped_column(ForeignKey("qa_samples.id", ondelete="CASCADE"), nullable=False,
                                           index=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id"), nullable=False, index=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("users.id"), nullable=False, index=True)
    inspector_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    # Why it was drawn: its stratum and any over-sampling reasons, for the inspector.
    reasons: Mapped[list] = mapped_column(JSON, nullable=False, default=list)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="pending")  # pending / scored

    sample: Mapped[QaSample] = relationship()
    call: Mapped[Call] = relationship()


class QaScorecard(Base):
    """A scorecard template version. Once a score uses it, it is frozen: an admin's edit
    makes the next version (same ``family``), and old scores keep theirs."""

    __tablename__ = "qa_scorecards"
    __table_args__ = (UniqueConstraint("family", "version", name="uq_qa_scorecards_family_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    family: Mapped[str] = mapped_column(String(64), nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    # {"dimensions": [{"key", "label", "weight", "checks": [{"key", "label", "critical"}]}]}
    definition: Mapped[dict] = mapped_column(JSON, nullable=False, default=dict)
    current: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)


class QaScore(Base):
    """A submitted score: never updated. A correction (an inspector's, or an upheld appeal)
    is a new row with the next ``version`` and a reason; the newest version counts."""

    __tablename__ = "qa_scores"
    __table_args__ = (UniqueConstraint("call_id", "version", name="uq_qa_scores_call_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id"), nullable=False, index=True)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    supersedes_id: Mapped[int | None] = mapped_column(ForeignKey("qa_scores.id"))
    assignment_id: Mapped[int | None] = mapped_column(ForeignKey("qa_assignments.id"))
    scorecard_id: Mapped[int] = mapped_column(ForeignKey("qa_scorecards.id"), nullable=False)
    agent_id: Mapped[int] = mapped_column(ForeignKey("users.id"), nullable=False, index=True)
    inspector_id: Mapped[int] = mapped_column(ForeignKey("users.id"), nullable=False)
    answers: Mapped[dict] = mapped_column(JSON, nullable=False, default=dict)      # check key → true/false
    dimensions: Mapped[dict] = mapped_column(JSON, nullable=False, default=dict)   # dimension key → points
    total: Mapped[float] = mapped_column(Float, nullable=False)
    critical_failed: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    failed_critical: Mapped[list] = mapped_column(JSON, nullable=False, default=list)
    comment: Mapped[str] = mapped_column(Text, nullable=False, default="")
    reason: Mapped[str] = mapped_column(Text, nullable=False, default="")          # why this version exists
    submitted_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow, index=True)

    scorecard: Mapped[QaScorecard] = relationship()
    call: Mapped[Call] = relationship()


class QaComment(Base):
    """An inspector's remark pinned to a moment of the recording."""

    __tablename__ = "qa_comments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id"), nullable=False, index=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"), nullable=False)
    at_seconds: Mapped[float] = mapped_column(Float, nullable=False)
    text: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)


class QaAppeal(Base):
    """申诉: an agent disputes a score; a supervisor upholds (a corrected score version
    follows) or rejects it. The outcome is kept."""

    __tablename__ = "qa_appeals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    score_id: Mapped[int] = mapped_column(ForeignKey("qa_scores.id"), nullable=False, index=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id"), nullable=False, index=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("users.id"), nullable=False)
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="open")  # open / upheld / rejected
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    decision_note: Mapped[str] = mapped_column(Text, nullable=False, default="")
    corrected_score_id: Mapped[int | None] = mapped_column(ForeignKey("qa_scores.id"))

    score: Mapped[QaScore] = relationship(foreign_keys=[score_id])


@event.listens_for(QaScore, "before_update")
def _scores_are_never_updated(mapper, connection, target: QaScore) -> None:
    # 绩效考核 is tied to pay: a submitted score stays as it was; corrections are new rows.
    raise ValueError(f"qa_scores row {target.id} is immutable: submit a correction (a new version) instead")
