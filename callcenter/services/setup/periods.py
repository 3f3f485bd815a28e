"""Periods in the site's time zone — a day, an ISO week (Monday first) or a month — as
local calendar days and as the naive-UTC bounds the database stores, [start, end). One
definition for the reports, QA's draws and the survey pages."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Literal

from callcenter.timeutil import to_utc_naive

PeriodKind = Literal["day", "week", "month"]
PERIOD_KINDS: tuple[PeriodKind, ...] = ("day", "week", "month")
PERIOD_LABELS = {"day": "日报", "week": "周报", "month": "月报"}


@dataclasses.dataclass(frozen=True)
class Period:
    kind: PeriodKind
    first_day: dt.date          # local calendar day the period starts on
    end_day: dt.date            # local calendar day after its last day
    start: dt.datetime          # naive UTC
    end: dt.datetime            # naive UTC, exclusive

    @property
    def label(self) -> str:
        if self.kind == "day":
            return self.first_day.isoformat()
        if self.kind == "week":
            year, week, _ = self.first_day.isocalendar()
            return f"{year}-W{week:02d}（{self.first_day:%m-%d}–{self.end_day - dt.timedelta(days=1):%m-%d}）"
        return f"{self.first_day:%Y-%m}"

    @property
    def days(self) -> list[dt.date]:
        n = (self.end_day - self.first_day).days
        return [self.first_day + dt.timedelta(days=i) for i in range(n)]

    def previous(self, tz: str) -> Period:
        return period_for(self.kind, self.first_day - dt.timedelta(days=1), tz)

    def next(self, tz: str) -> Period:
        return period_for(self.kind, self.end_day, tz)


def calendar_bounds(kind: str, day: dt.date) -> tuple[dt.date, dt.date]:
    """The local days [first, end) of the day, week or month that contains ``day``."""
    if kind == "day":
        return day, day + dt.timedelta(days=1)
    if kind == "week":
        first = day - dt.timedelta(days=day.weekday())
        return first, first + dt.timedelta(days=7)
    if kind == "month":
        first = day.replace(day=1)
        return first, (first + dt.timedelta(days=32)).replace(day=1)
    raise ValueError(f"unknown report period {kind!r}: one of {', '.join(PERIOD_KINDS)}")


def period_for(kind: str, day: dt.date, tz: str) -> Period:
    """The day, week or month (in ``tz``) that contains the local date ``day``."""
    first, end = calendar_bounds(kind, day)
    return Period(
        kind=kind,  # type: ignore[arg-type]
        first_day=first,
        end_day=end,
        start=to_utc_naive(dt.datetime.combine(first, dt.time()), tz),
        end=to_utc_naive(dt.datetime.combine(end, dt.time()), tz),
    )
