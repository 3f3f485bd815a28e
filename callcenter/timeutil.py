"""Wall-clock helpers: the database stores naive UTC, the business runs on local time."""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from zoneinfo import ZoneInfo


@lru_cache(maxsize=16)
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def to_local(utc_naive: dt.datetime, tz: str) -> dt.datetime:
    """Naive UTC (as stored) → aware local time in ``tz``."""
    return utc_naive.replace(tzinfo=dt.UTC).astimezone(zone(tz))


def to_utc_naive(local: dt.datetime, tz: str) -> dt.datetime:
    """Local time (naive = in ``tz``, or aware) → naive UTC for storage."""
    if local.tzinfo is None:
        local = local.replace(tzinfo=zone(tz))
    return local.astimezone(dt.UTC).replace(tzinfo=None)
