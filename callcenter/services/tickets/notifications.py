"""Panel notifications: a Notification row per recipient, and a live copy on the bus.

The row is the record (the notifications page lists it until it is read); the bus
event on topic ``notify`` only makes an open console show it at once. Events wait in
the session's outbox until the caller has committed — a console must never be told
about a row that a rollback then removed — and ``publish_outbox`` sends them.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from typing import Any

from sqlalchemy import event, func, select, update
from sqlalchemy.orm import Session

from callcenter.bus.core import EventBus
from callcenter.db import utcnow
from callcenter.models import Notification, Ticket

log = logging.getLogger(__name__)

_OUTBOX = "callcenter.notify_outbox"
NOTIFY_TOPIC = "notify"


def _clear_outbox(session: Session, *_args: Any) -> None:
    session.info.pop(_OUTBOX, None)


def _outbox(session: Session) -> list[dict[str, Any]]:
    if _OUTBOX not in session.info:
        session.info[_OUTBOX] = []
        if not event.contains(session, "after_rollback", _clear_outbox):
            event.listen(session, "after_rollback", _clear_outbox)
    return session.info[_OUTBOX]


def notify(session: Session, user_ids: Iterable[int], message: str, *, ticket: Ticket | None = None,
           kind: str = "ticket", now: dt.datetime | None = None) -> list[Notification]:
    """One Notification per distinct user; the bus events wait for ``publish_outbox``."""
    now = now or utcnow()
    rows = [Notification(user_id=uid, ticket_id=ticket.id if ticket else None, message=message, created_at=now)
            for uid in dict.fromkeys(user_ids)]
    session.add_all(rows)
    session.flush()
    box = _outbox(session)
    for row in rows:
        box.append({
            "type": kind, "notification_id": row.id, "user_id": row.user_id, "message": message,
            "ticket_id": row.ticket_id, "ticket_number": ticket.number if ticket else "",
            "at": now.isoformat(),
        })
    return rows


def take_outbox(session: Session) -> list[dict[str, Any]]:
    return session.info.pop(_OUTBOX, None) or []


def publish_outbox(session: Session, bus: EventBus | None) -> int:
    """After commit: send the waiting events on topic ``notify``. Returns how many."""
    events = take_outbox(session)
    if bus is None:
        return 0
    sent = 0
    for payload in events:
        try:
            bus.publish(NOTIFY_TOPIC, payload)
            sent += 1
        except Exception:  # noqa: BLE001 - the row is the record; the live copy is a courtesy
            log.warning("could not publish notification %s on the bus", payload["notification_id"], exc_info=True)
    return sent


def for_user(session: Session, user_id: int, *, unread_only: bool = False, limit: int = 100) -> list[Notification]:
    query = select(Notification).where(Notification.user_id == user_id)
    if unread_only:
        query = query.where(Notification.read_at.is_(None))
    return list(session.scalars(query.order_by(Notification.id.desc()).limit(limit)))


def unread_count(session: Session, user_id: int) -> int:
    return session.scalar(select(func.count()).select_from(Notification).where(
        Notification.user_id == user_id, Notification.read_at.is_(None))) or 0


def mark_read(session: Session, user_id: int, notification_ids: Iterable[int] | None = None,
              now: dt.datetime | None = None) -> int:
    """Mark the user's own notifications read (all when ``notification_ids`` is None).
    Someone else's ids are ignored, not an error: the count says what happened."""
    query = update(Notification).where(Notification.user_id == user_id, Notification.read_at.is_(None))
    if notification_ids is not None:
        ids = list(notification_ids)
        if not ids:
            return 0
        query = query.where(Notification.id.in_(ids))
    result = session.execute(query.values(read_at=now or utcnow()), execution_options={"synchronize_session": False})
    return result.rowcount or 0
