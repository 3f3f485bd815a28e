"""The daily complaint summary (投诉日报): made by the scheduler once a local day is over,
and kept as published. The job runs every few minutes and fills in every finished day of
the last week that has no summary yet, so a scheduler that was down catches up, and a
second run (or a second scheduler) adds nothing."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from callcenter.config import Settings
from callcenter.db import utcnow
from callcenter.models import KeptReport
from callcenter.services.reports import report as reports

DAILY_COMPLAINTS = "daily_complaints"
CATCH_UP_DAYS = 7


def keep_daily_complaints(session: Session, settings: Settings, now: dt.datetime | None = None) -> list[dt.date]:
    """Keep the summary of each finished local day (up to a week back) not kept yet."""
    now = now or utcnow()
    today = reports.today(settings, now)
    days = [today - dt.timedelta(days=n) for n in range(CATCH_UP_DAYS, 0, -1)]
    have = set(session.scalars(select(KeptReport.day).where(KeptReport.kind == DAILY_COMPLAINTS,
                                                            KeptReport.day.in_(days))))
    kept = []
    for day in days:
        if day in have:
            continue
        content = reports.as_json(reports.build(session, settings, "day", day, by="type", now=now))
        try:
            with session.begin_nested():
                session.add(KeptReport(kind=DAILY_COMPLAINTS, day=day, content=content, made_at=now))
        except IntegrityError:          # another scheduler kept it a moment ago
            continue
        kept.append(day)
    session.commit()
    return kept


def kept_daily_complaints(session: Session, limit: int = 31) -> list[KeptReport]:
    return list(session.scalars(select(KeptReport).where(KeptReport.kind == DAILY_COMPLAINTS)
                                .order_by(KeptReport.day.desc()).limit(limit)))
