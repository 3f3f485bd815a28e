"""Shared helpers for the ticket tests."""

from __future__ import annotations

import datetime as dt

from callcenter.timeutil import to_utc_naive

TZ = "Asia/Shanghai"
COMPLAINT_FIELDS = {"complainant": "张三", "channel": "phone", "target": "保洁员态度"}


def local(*args: int) -> dt.datetime:
    """A local Shanghai wall-clock time as the naive UTC the services store."""
    return to_utc_naive(dt.datetime(*args), TZ)
