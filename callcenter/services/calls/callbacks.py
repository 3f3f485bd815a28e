"""Callback tasks (不漏接一个电话): every call nobody answered gets one, exactly once."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from callcenter.db import utcnow
from callcenter.models import CallbackReason, CallbackStatus, CallbackTask
from callcenter.services.people import phones


def create_callback(session: Session, *, number: str, reason: CallbackReason | str,
                    call_id: int | None = None, customer_id: int | None = None,
                    message_file: str = "", due_in: dt.timedelta = dt.timedelta(hours=2),
                    due_at: dt.datetime | None = None, notes: str = "", region: str = "CN") -> CallbackTask:
    """Create the callback task for a missed call, or return the one it already has.

    One open task per call, whatever reason came first: the AMI listener files
    ``abandoned`` when a queue gives up, and the after-hours route that runs next may
    add the caller's message to that same task. A repeated AMI event or a retried AGI
    request therefore never makes a second task for one missed call.
    """
    reason = CallbackReason(reason)
    if call_id is not None:
        existing = session.scalar(
            select(CallbackTask).where(CallbackTask.call_id == call_id,
                                       CallbackTask.status == CallbackStatus.OPEN)
            .order_by(CallbackTask.id).limit(1)
        )
        if existing is not None:
            if message_file and not existing.message_file:
                existing.message_file = message_file
            if number and not phones.normalize(existing.number, region):
                existing.number = number
            return existing
    now = utcnow()
    task = CallbackTask(number=number, reason=reason, call_id=call_id, customer_id=customer_id,
                        message_file=message_file, created_at=now, due_at=due_at or now + due_in, notes=notes)
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


def get_callback(session: Session, task_id: int) -> CallbackTask | None:
    return session.get(CallbackTask, task_id)
