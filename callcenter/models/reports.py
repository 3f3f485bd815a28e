"""Reports the scheduler keeps (the daily complaint summary), so a day's figures stay as
they were published even when tickets change later."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, Date, DateTime, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from callcenter.db import utcnow
from callcenter.models.base import Base


class KeptReport(Base):
    __tablename__ = "kept_reports"
    __table_args__ = (UniqueConstraint("kind", "day", name="uq_kept_reports_kind_day"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)      # "daily_complaints"
    day: Mapped[dt.date] = mapped_column(Date, nullable=False, index=True)  # local day it covers
    content: Mapped[dict] = mapped_column(JSON, nullable=False, default=dict)
    made_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
