"""Reports the scheduler keeps (the daily complaint summary), so a day's figures stay as
they were published even when tickets change later."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, BigInteger, Date, DateTime, Index, Integer, String, UniqueConstraint
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


class CallStatsHourly(Base):
    """The hourly rollup the reports read instead of a month of call rows
    (services/reports/rollup.py): per UTC hour, one row per key of each dimension, holding
    the summed parts of the KPIs. ``dim`` is one of all, line, queue, agent, prio, type,
    prev1, prev2; ``key`` the dimension's value as text ('' for none)."""

    __tablename__ = "call_stats_hourly"
    __table_args__ = (Index("ix_call_stats_hourly_dim_hour", "dim", "hour"),)

    hour: Mapped[dt.datetime] = mapped_column(DateTime, primary_key=True)
    dim: Mapped[str] = mapped_column(String(8), primary_key=True)
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    offered: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    answered: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    answered_in_sl: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    abandoned: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    short_abandoned: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    ended: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    wait_answered_s: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    talk_s: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    longest_wait_s: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    fcr_answered: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    fcr_resolved: Mapped[int] = mapped_column(Integer, nullable=False, default=0)


class CallStatsStaleHour(Base):
    """An hour whose rollup no longer matches its calls. Written by database triggers on
    calls and tickets (migration 0011), in the same transaction as the change, so no
    writer anywhere can forget it; an append-only log, so the refresh deletes exactly the
    marks it saw and a change committed meanwhile stays marked."""

    __tablename__ = "call_stats_stale_hours"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    hour: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, index=True)


class CallStatsState(Base):
    """One row: the KPI rules the rollup was computed with. Reports use the rollup only
    while the site's rules are the same; a change rebuilds it."""

    __tablename__ = "call_stats_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    rules: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    rebuilt_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
