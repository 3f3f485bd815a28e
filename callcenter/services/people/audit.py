"""Audit log (保密): who opened which customer record, recording or file, and when.

Entries are only ever added. The caller's unit of work commits them together with
whatever the user was shown, so a record that was displayed is always accounted for.
"""

from __future__ import annotations

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from callcenter.db import utcnow
from callcenter.models import AuditEntry

# Actions in use, so reports can count them.
VIEW = "view"            # a record was displayed (customer page, search hit opened)
SCREEN_POP = "screen_pop"  # a customer record was pushed to an agent's console
CREATE = "create"
UPDATE = "update"
LOGIN = "login"
LOGIN_FAILED = "login_failed"

MAX_DETAIL = 500


def record(session: Session, *, user_id: int | None, action: str, object_type: str,
           object_id: str | int = "", detail: str = "") -> AuditEntry:
    entry = AuditEntry(user_id=user_id, at=utcnow(), action=action[:32], object_type=object_type[:32],
                       object_id=str(object_id)[:64], detail=detail[:MAX_DETAIL])
    session.add(entry)
    session.flush()
    return entry


def record_many(session: Session, entries: list[dict]) -> None:
    """Several entries in one statement (``record``'s fields, one dict each): the
    screen-pops of a burst are accounted for without an ORM flush per entry."""
    if not entries:
        return
    at = utcnow()
    session.execute(insert(AuditEntry), [
        {"user_id": e.get("user_id"), "at": at, "action": str(e["action"])[:32],
         "object_type": str(e["object_type"])[:32], "object_id": str(e.get("object_id", ""))[:64],
         "detail": str(e.get("detail", ""))[:MAX_DETAIL]} for e in entries])


def entries_for(session: Session, object_type: str, object_id: str | int,
                limit: int = 100) -> list[AuditEntry]:
    return list(session.scalars(
        select(AuditEntry).where(AuditEntry.object_type == object_type,
                                 AuditEntry.object_id == str(object_id))
        .order_by(AuditEntry.id.desc()).limit(limit)
    ))


def recent(session: Session, limit: int = 100) -> list[AuditEntry]:
    return list(session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)))
