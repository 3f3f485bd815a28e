"""When a customer may be called (避免在客户休息时打扰).

The site's calling windows (``settings.survey_windows``, default 09:00–12:00 and
14:00–20:00) on working days of the business calendar (services/setup/calendar: the
national calendar with 调休 and local overrides). A customer's preferred time
(``SurveyContact.preferred_from/to``) replaces the site's windows for that number,
on any day: the customer chose it. All instants in and out are naive UTC.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import lru_cache

from sqlalchemy.orm import Session

from callcenter.config import Settings
from callcenter.models import SurveyContact
from callcenter.services.setup.calendar import is_working_day
from callcenter.timeutil import to_local, to_utc_naive

# How far ahead a free slot is looked for (a long holiday is 9 days).
MAX_SCAN_DAYS = 40


class WindowError(ValueError):
    pass


@dataclass(frozen=True)
class Window:
    start: dt.time
    end: dt.time

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"


@lru_cache(maxsize=32)
def parse_windows(text: str) -> tuple[Window, ...]:
    """``"09:00-12:00,14:00-20:00"`` → windows; WindowError names what is wrong."""
    windows = []
    for part in text.replace("，", ",").split(","):
        part = part.strip()
        if not part:
            continue
        try:
            start_text, end_text = (p.strip() for p in part.replace("–", "-").split("-"))
            start, end = dt.time.fromisoformat(start_text), dt.time.fromisoformat(end_text)
        except ValueError:
            raise WindowError(f"calling window {part!r}: write HH:MM-HH:MM, e.g. 09:00-12:00") from None
        if end <= start:
            raise WindowError(f"calling window {part!r} ends before it starts")
        windows.append(Window(start, end))
    if not windows:
        raise WindowError("no calling window: at least one HH:MM-HH:MM is needed")
    return tuple(sorted(windows, key=lambda w: w.start))


class CallingWindows:
    """Answers "may this number be called now, else when next" for one dispatch pass
    (caches the working-day lookups of the pass)."""

    def __init__(self, session: Session, settings: Settings) -> None:
        self.session = session
        self.settings = settings
        self.site = parse_windows(settings.survey_windows)
        self._working: dict[dt.date, bool] = {}

    def _is_working(self, day: dt.date) -> bool:
        if day not in self._working:
            self._working[day] = is_working_day(self.session, self.settings, day)
        return self._working[day]

    def _windows(self, contact: SurveyContact | None, day: dt.date) -> tuple[Window, ...]:
        if contact is not None and contact.preferred_from and contact.preferred_to \
                and contact.preferred_to > contact.preferred_from:
            return (Window(contact.preferred_from, contact.preferred_to),)
        return self.site if self._is_working(day) else ()

    def next_open(self, when: dt.datetime, contact: SurveyContact | None = None) -> dt.datetime:
        """``when`` if it is inside a window, else the start of the next window."""
        tz = self.settings.timezone
        local = to_local(when, tz).replace(tzinfo=None)
        day = local.date()
        for _ in range(MAX_SCAN_DAYS):
            for window in self._windows(contact, day):
                start = dt.datetime.combine(day, window.start)
                end = dt.datetime.combine(day, window.end)
                if local < end:
                    return when if local >= start else to_utc_naive(start, tz)
            day += dt.timedelta(days=1)
            local = dt.datetime.combine(day, dt.time())
        raise WindowError(f"no calling window within {MAX_SCAN_DAYS} days of {when:%Y-%m-%d}")

    def is_open(self, when: dt.datetime, contact: SurveyContact | None = None) -> bool:
        return self.next_open(when, contact) == when
