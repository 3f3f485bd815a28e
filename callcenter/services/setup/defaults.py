"""The example configuration that matches ``asterisk_conf/``: queues vip, general_q and
duty, the VIP and ordinary lines, site hours Mon–Fri 09:00–18:00."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from callcenter.models import (
    BusinessHours,
    Line,
    LineKind,
    QueueKind,
)
from callcenter.services.setup.hours import format_interval, set_hours
from callcenter.services.setup.lines import add_line, add_queue, find_queue

# --- the example configuration (matches asterisk_conf/) ------------------------------------

DEFAULT_QUEUES = (
    ("vip", QueueKind.VIP, "VIP客户专线 — VIP and member customers"),
    ("general_q", QueueKind.GENERAL, "普通客户专线 — everyone else"),
    ("duty", QueueKind.DUTY, "节假日值班 — holiday and after-hours duty"),
)
DEFAULT_LINES = (
    # number, name, kind, queue, duty queue, IVR flow
    ("4008002000", "VIP客户专线", LineKind.VIP, "vip", "duty", ""),
    ("4008001000", "普通客户专线", LineKind.ORDINARY, "general_q", "duty", "main"),
)
DEFAULT_HOURS = ((0, 1, 2, 3, 4), dt.time(9, 0), dt.time(18, 0))


def setup_defaults(session: Session) -> list[str]:
    """Create the example queues, lines and site hours (Mon–Fri 09:00–18:00) where
    missing. Never changes what exists. Returns what was done, one line each."""
    done: list[str] = []
    for name, kind, description in DEFAULT_QUEUES:
        if find_queue(session, name, required=False) is None:
            add_queue(session, name, kind.value, description)
            done.append(f"queue {name} ({kind.value}) created")
    for number, name, kind, queue, duty, flow in DEFAULT_LINES:
        if session.scalar(select(Line.id).where(Line.number == number)) is None:
            add_line(session, number, kind=kind.value, queue=queue, name=name, duty_queue=duty, ivr_flow=flow)
            done.append(f"line {number} {name} → {queue} created")
    has_default_hours = session.scalar(
        select(BusinessHours.id).where(BusinessHours.line_id.is_(None)).limit(1)) is not None
    if not has_default_hours:
        weekdays, opens, closes = DEFAULT_HOURS
        set_hours(session, None, weekdays, [(opens, closes)])
        done.append(f"site hours Mon–Fri {format_interval(opens, closes)} set")
    return done
