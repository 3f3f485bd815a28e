"""Helpers for the routing tests: local wall-clock instants and the example configuration."""

from __future__ import annotations

import datetime as dt

import pytest

from callcenter.services.setup import defaults, lines
from callcenter.timeutil import to_utc_naive

TZ = "Asia/Shanghai"


def at(year: int, month: int, day: int, hour: int = 10, minute: int = 0) -> dt.datetime:
    """A Beijing wall-clock time as the naive UTC instant the services take."""
    return to_utc_naive(dt.datetime(year, month, day, hour, minute), TZ)


@pytest.fixture
def example_config(session):
    """vip / general_q / duty queues, lines 4008002000 (VIP) and 4008001000 (ordinary,
    IVR flow main), site hours Mon–Fri 09:00–18:00 — what setup-defaults creates."""
    defaults.setup_defaults(session)
    session.commit()
    return {line.number: line for line in lines.list_lines(session)}
