"""Business calendar: working days (China's national calendar with 调休, plus local
overrides) and opening hours per line.  (CONTRACT — bodies to be written.)

All instants in and out are naive UTC; the local zone is ``settings.timezone``.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from callcenter.config import Settings


def is_working_day(session: Session, settings: Settings, day: dt.date, line_id: int | None = None) -> bool:
    """National calendar (chinese-calendar: holidays off, swapped weekend workdays on),
    then local CalendarOverride rows (line-specific beat site-wide)."""
    raise NotImplementedError


def opening_state(session: Session, settings: Settings, when: dt.datetime,
                  line_id: int | None = None) -> tuple[bool, str]:
    """(is_open, closed_reason) at instant ``when``; closed_reason "" | "after_hours" | "holiday"."""
    raise NotImplementedError


def add_working_days(session: Session, settings: Settings, start: dt.datetime, days: int) -> dt.datetime:
    """``start`` plus ``days`` working days (same local time of day), skipping
    holidays and weekends, counting 调休 workdays."""
    raise NotImplementedError


def end_of_working_day(session: Session, settings: Settings, when: dt.datetime,
                       line_id: int | None = None) -> dt.datetime:
    """Closing time of the business day containing ``when`` (or of the next working
    day when ``when`` is after closing / on a day off)."""
    raise NotImplementedError
