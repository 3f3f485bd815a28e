"""Fair queues (公平排队): VIP priority must not starve ordinary callers. An ordinary caller
who has waited a queue's aging time is raised (AMI QueueChangePriorityCaller, sent by the
AMI listener); a supervisor can raise or move a waiting caller by hand. Both are kept on
the call (``aged_priority``/``aged_at``; ``priority`` keeps the route's own, so reports
still count the caller in their tier) and a supervisor's hand is in the audit log."""

from __future__ import annotations

import dataclasses
import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from callcenter.config import Settings
from callcenter.models import Call, CallStatus, Queue
from callcenter.services.people import audit

# A caller "waiting" longer than this is a row the listener lost, not one to raise.
STALE = dt.timedelta(hours=6)


@dataclasses.dataclass(frozen=True)
class Raise:
    call_id: int
    queue: str
    channel: str
    priority: int


def aging_rule(queue: Queue | None, settings: Settings) -> tuple[int, int]:
    """(after how many seconds, to which priority) for a queue; 0 s = no aging."""
    after = queue.aging_after_s if queue is not None and queue.aging_after_s is not None \
        else settings.queue_aging_after_s
    priority = queue.aging_priority if queue is not None and queue.aging_priority is not None \
        else settings.priority_raised
    return after, priority


def due(session: Session, settings: Settings, now: dt.datetime) -> list[Raise]:
    """Waiting callers whose wait has reached their queue's aging time and whose priority
    (as routed or already raised) is below the aging priority."""
    queues = {q.name: q for q in session.scalars(select(Queue))}
    waiting = session.scalars(
        select(Call).where(Call.status == CallStatus.QUEUED, Call.ended_at.is_(None), Call.queued_at.is_not(None),
                           Call.channel != "", Call.queued_at >= now - STALE)
        .order_by(Call.queued_at)
    )
    out = []
    for call in waiting:
        after, priority = aging_rule(queues.get(call.queue), settings)
        current = max(call.priority, call.aged_priority or 0)
        if after <= 0 or current >= priority:
            continue
        if call.queued_at <= now - dt.timedelta(seconds=after):
            out.append(Raise(call.id, call.queue, call.channel, priority))
    return out


def raised(session: Session, call_id: int, priority: int, at: dt.datetime, *, user_id: int | None = None,
           detail: str = "") -> Call | None:
    """Keep a raise Asterisk accepted on the call; a supervisor's is audited."""
    call = session.get(Call, call_id)
    if call is None:
        return None
    call.aged_priority = priority
    call.aged_at = at
    if user_id is not None:
        audit.record(session, user_id=user_id, action="caller_priority", object_type="call",
                     object_id=call.linkedid, detail=detail or f"priority {priority} in {call.queue}")
    return call


def waiting_caller(session: Session, call_id: int) -> Call | None:
    """A caller still waiting in a queue (what a supervisor's hand may act on)."""
    call = session.get(Call, call_id)
    if call is None or call.status is not CallStatus.QUEUED or call.ended_at is not None or not call.channel:
        return None
    return call
