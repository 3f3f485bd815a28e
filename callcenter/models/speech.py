"""Speech tables: transcripts of recorded calls (one row per side) and the service-language
checks run on them."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, Boolean, DateTime, Float, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from callcenter.db import utcnow
from callcenter.models.base import Base
from callcenter.models.calls import Call


class Transcript(Base):
    """What one side of a call said, as Vosk heard it, with word timings.

    ``lines``: the utterances in order, each ``{"start": s, "end": s, "text": "...",
    "words": [[word, start, end], ...]}`` with times in seconds from the start of the
    recording (the side files and the mixed file start together)."""

    __tablename__ = "speech_transcripts"
    __table_args__ = (UniqueConstraint("call_id", "side", name="uq_speech_transcripts_call_side"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"), nullable=False, index=True)
    side: Mapped[str] = mapped_column(String(8), nullable=False)          # agent | caller
    source: Mapped[str] = mapped_column(String(255), nullable=False, default="")   # the side file
    model: Mapped[str] = mapped_column(String(120), nullable=False, default="")    # model dir name
    language: Mapped[str] = mapped_column(String(16), nullable=False, default="")
    duration_s: Mapped[float] = mapped_column(Float, nullable=False, default=0.0)
    lines: Mapped[list] = mapped_column(JSON, nullable=False, default=list)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)

    call: Mapped[Call] = relationship()


class SpeechCheck(Base):
    """One service-language check of a call's agent side (greeting, farewell, banned,
    negative, interruption): passed or not, and the moments that decided it
    (``evidence``: ``[{"at": s, "phrase": "...", "text": "..."}]``, for interruptions
    ``{"at": s, "seconds": d}``)."""

    __tablename__ = "speech_checks"
    __table_args__ = (UniqueConstraint("call_id", "check", name="uq_speech_checks_call_check"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"), nullable=False, index=True)
    check: Mapped[str] = mapped_column(String(32), nullable=False)
    passed: Mapped[bool] = mapped_column(Boolean, nullable=False)
    evidence: Mapped[list] = mapped_column(JSON, nullable=False, default=list)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
