"""Quality assurance (质检) tables."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import DateTime, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from callcenter.db import utcnow
from callcenter.models.base import Base
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
