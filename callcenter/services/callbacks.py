"""Callback tasks (不漏接一个电话): every call nobody answered gets one, exactly once."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from callcenter.db import utcnow
from callcenter.models import CallbackReason, CallbackStatus, CallbackTask


def create_callback(session: Session, *, number: str, reason: CallbackReason | str,
                    call_id: int | None = None, customer_id: int | None = None,
                    message_file: str = "", due_in: dt.timedelta = dt.timedelta(hours=2),
                    notes: str = "") -> CallbackTask:
    """Create the task, or return the existing one for the same call and reason.

    Idempotent on (call_id, reason) so a repeated AMI event or a retried AGI request
    never makes two tasks for one missed call.
    """
    reason = CallbackReason(reason)
    if call_id is not None:
        existing = session.scalar(
            select(CallbackTask).where(CallbackTask.call_id == call_id, CallbackTask.reason == reason)
        )
        if existing is not None:
            if message_file and not existing.message_file:
                existing.message_file = message_file
            return existing
    now = utcnow()
    task = CallbackTask(number=number, reason=reason, call_id=call_id, customer_id=customer_id,
                        message_file=message_file, created_at=now, due_at=now + due_in, notes=notes)
    session.add(task)
    session.flush()
    return task


def open_callbacks(session: Session, limit: int = 200) -> list[CallbackTask]:
    return list(session.scalars(
        select(CallbackTask).where(CallbackTask.status == CallbackStatus.OPEN)
        .order_by(CallbackTask.due_at, CallbackTask.id).limit(limit)
    ))


def complete_callback(session: Session, task: CallbackTask, user_id: int | None, notes: str = "") -> None:
    task.status = CallbackStatus.DONE
    task.done_by_id = user_id
    task.done_at = utcnow()
    if notes:
        task.notes = (task.notes + "\n" + notes).strip()
