"""Settle the attempts whose process died before Asterisk's answer arrived.

Nothing is redialled before its open attempt is settled (an open attempt keeps its request
out of the due list). An attempt older than ``survey_attempt_stale_s`` (longer than any
ring) is settled from what Asterisk shows:
- a live channel still running the survey route for it (``ApplicationData`` names the
  attempt id, as in transcript 3d2: ``agi://…/survey,42``) → left alone, the route will tell;
- the survey route reached the customer (``answered_at`` set by the route) and the channel
  is gone → hung up midway;
- neither → the customer was not reached (or the Originate never left): ``unknown``,
  which counts as an attempt and is retried after the plan's spacing — never at once.
With no AMI answer (``live_channels`` None) nothing is settled: better late than twice.
"""

from __future__ import annotations

import datetime as dt
import re

from sqlalchemy.orm import Session

from callcenter.config import Settings
from callcenter.services.surveys.dispatch import HUNG_UP, UNKNOWN, finish_attempt, open_attempts_before

_SURVEY_ARG = re.compile(r"survey,(\d+)")


def ids_on_channels(channels: list[dict[str, str]]) -> set[int]:
    found = set()
    for channel in channels:
        match = _SURVEY_ARG.search(channel.get("ApplicationData", ""))
        if match:
            found.add(int(match.group(1)))
    return found


def recover(session: Session, settings: Settings, *, now: dt.datetime,
            live_channels: list[dict[str, str]] | None) -> dict[str, int]:
    if live_channels is None:
        return {"waiting": 0, "hung_up": 0, "unknown": 0, "no_ami": 1}
    live = ids_on_channels(live_channels)
    counts = {"waiting": 0, "hung_up": 0, "unknown": 0}
    stale_before = now - dt.timedelta(seconds=settings.survey_attempt_stale_s)
    for attempt in open_attempts_before(session, stale_before):
        if attempt.id in live:
            counts["waiting"] += 1
            continue
        outcome = HUNG_UP if attempt.answered_at is not None else UNKNOWN
        finish_attempt(session, settings, attempt, outcome, source="recovery", now=now)
        counts["hung_up" if outcome == HUNG_UP else "unknown"] += 1
    session.flush()
    return counts
