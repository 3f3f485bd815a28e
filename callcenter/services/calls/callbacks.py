"""Callback tasks (回电, 不漏接一个电话): every call nobody answered is called back.

- One open task per number. A caller who misses again adds to the open task of their
  number (``miss_count``, ``last_missed_at``) and raises it (``priority``, an earlier due
  time); every missed call is a :class:`CallbackMiss`, filed once however often the
  AMI listener, the FastAGI after-hours route or the CDR backfill report it.
- Due times lie inside opening hours (``services.setup.calendar.add_open_time``) when
  the caller passes the settings: a call missed at 23:00 is due the next morning.
- An agent claims a task (a supervisor assigns it), calls back - by hand, or with
  click-to-dial: :func:`start_dial` gives the ``ami.action`` request the AMI listener
  turns into an Originate (the agent's phone first, then the customer, recorded) - and
  logs the outcome. No answer / busy / unreachable / "call me later" keep the task
  open for a retry; reaching the customer, a wrong number or the last allowed try
  closes it.

(回访 is something else: the follow-up survey after a ticket, ``services.surveys``.)
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from callcenter.config import Settings
from callcenter.db import utcnow
from callcenter.labels import CALLBACK_OUTCOMES
from callcenter.models import CallbackAttempt, CallbackMiss, CallbackReason, CallbackStatus, CallbackTask, User
from callcenter.services.people import console, phones
from callcenter.services.setup import calendar
from callcenter.timeutil import to_local

# Outcomes that end the task; the others ask for another try.
CLOSING_OUTCOMES = frozenset({"reached", "wrong_number"})
RETRY_OUTCOMES = frozenset({"no_answer", "busy", "unreachable", "later"})
LOGGABLE_OUTCOMES = CLOSING_OUTCOMES | RETRY_OUTCOMES
MAX_PRIORITY = 9


class CallbackError(ValueError):
    """A request the task cannot take (claimed by someone else, already closed …);
    the message is the panel's and the CLI's answer."""


def task_number(number: str | None, region: str = "CN") -> str:
    """The number a task is kept under: E.164 when it is a valid number, "" for a
    withheld caller (``anonymous`` …: such tasks are never merged), else the text."""
    text = (number or "").strip()
    if text.lower() in phones.NO_NUMBER_WORDS:
        return ""
    return phones.normalize(text, region) or text[:64]


def due_time(session: Session, settings: Settings | None, start: dt.datetime, delta: dt.timedelta,
             line_id: int | None = None) -> dt.datetime:
    """``start + delta`` counted in opening hours when the site's settings are known."""
    if settings is None:
        return start + delta
    return calendar.add_open_time(session, settings, start, delta, line_id)


def create_callback(session: Session, *, number: str, reason: CallbackReason | str,
                    call_id: int | None = None, customer_id: int | None = None,
                    message_file: str = "", due_in: dt.timedelta = dt.timedelta(hours=2),
                    due_at: dt.datetime | None = None, notes: str = "", region: str = "CN",
                    settings: Settings | None = None, line_id: int | None = None,
                    at: dt.datetime | None = None) -> CallbackTask:
    """File a missed call: the open task of its number (or of the call), or a new one.

    The same call filed again (a repeated AMI event, a retried AGI request, the
    after-hours route after the listener's abandon) returns its task and only adds what
    was missing (the message, the number). Another call of a number with an open task
    is a repeat miss. ``due_at`` wins over ``due_in``; with ``settings`` ``due_in`` is
    counted in opening hours from ``at`` (the time of the miss; now by default).
    """
    reason = CallbackReason(reason)
    now = at or utcnow()
    key = task_number(number, region)
    if call_id is not None:
        task = _open_task_of_call(session, call_id)
        if task is not None:
            _learn(session, task, key, message_file, customer_id)
            return task
    due = due_at or due_time(session, settings, now, due_in, line_id)
    for _ in range(2):
        task = _open_task_of_number(session, key) if key else None
        if task is not None:
            _repeat_miss(task, now, due, message_file, customer_id, notes)
            _add_miss(session, task, call_id, reason, now, message_file)
            return task
        try:
            with session.begin_nested():
                task = CallbackTask(number=key, reason=reason, call_id=call_id, customer_id=customer_id,
                                    message_file=message_file, created_at=now, due_at=due, notes=notes,
                                    miss_count=1, last_missed_at=now, priority=0, attempt_count=0, outcome="")
                session.add(task)
                session.flush()
        except IntegrityError:
            continue  # another process opened this number's task a moment ago: join it
        _add_miss(session, task, call_id, reason, now, message_file)
        return task
    raise CallbackError(f"could not file the missed call of {key!r}")


def _open_task_of_call(session: Session, call_id: int) -> CallbackTask | None:
    return session.scalar(
        select(CallbackTask).join(CallbackMiss, CallbackMiss.task_id == CallbackTask.id)
        .where(CallbackMiss.call_id == call_id, CallbackTask.status == CallbackStatus.OPEN)
        .order_by(CallbackTask.id).limit(1)
    )


def _open_task_of_number(session: Session, key: str) -> CallbackTask | None:
    return session.scalar(
        select(CallbackTask).where(CallbackTask.number == key, CallbackTask.status == CallbackStatus.OPEN)
        .order_by(CallbackTask.id).limit(1)
    )


def _learn(session: Session, task: CallbackTask, key: str, message_file: str, customer_id: int | None) -> None:
    if message_file and not task.message_file:
        task.message_file = message_file
    if customer_id and not task.customer_id:
        task.customer_id = customer_id
    # A withheld caller's task learns the number (unless that number has its own task).
    if key and not task.number and _open_task_of_number(session, key) is None:
        task.number = key


def _repeat_miss(task: CallbackTask, now: dt.datetime, due: dt.datetime, message_file: str,
                 customer_id: int | None, notes: str) -> None:
    task.miss_count = (task.miss_count or 1) + 1
    task.last_missed_at = now
    task.priority = min((task.priority or 0) + 1, MAX_PRIORITY)
    if task.due_at is None or due < task.due_at:
        task.due_at = due
    if message_file and not task.message_file:
        task.message_file = message_file
    if customer_id and not task.customer_id:
        task.customer_id = customer_id
    if notes and notes not in task.notes:
        task.notes = (task.notes + "\n" + notes).strip()


def _add_miss(session: Session, task: CallbackTask, call_id: int | None, reason: CallbackReason,
              at: dt.datetime, message_file: str) -> None:
    session.add(CallbackMiss(task_id=task.id, call_id=call_id, reason=reason.value, missed_at=at,
                             message_file=message_file))
    session.flush()


def task_has_call(session: Session, call_id: int) -> bool:
    """Has this call been filed as a missed call (any task, open or closed)?"""
    return session.scalar(select(CallbackMiss.id).where(CallbackMiss.call_id == call_id).limit(1)) is not None \
        or session.scalar(select(CallbackTask.id).where(CallbackTask.call_id == call_id).limit(1)) is not None


# --- reading ------------------------------------------------------------------------------

def open_callbacks(session: Session, limit: int = 200) -> list[CallbackTask]:
    """Open tasks, the most urgent first: raised ones, then by due time."""
    return list(session.scalars(
        select(CallbackTask).where(CallbackTask.status == CallbackStatus.OPEN)
        .order_by(CallbackTask.priority.desc(), CallbackTask.due_at, CallbackTask.id).limit(limit)
    ))


def get_callback(session: Session, task_id: int) -> CallbackTask | None:
    return session.get(CallbackTask, task_id)


def misses(session: Session, task_id: int) -> list[CallbackMiss]:
    return list(session.scalars(select(CallbackMiss).where(CallbackMiss.task_id == task_id)
                                .order_by(CallbackMiss.missed_at, CallbackMiss.id)))


def attempts(session: Session, task_id: int) -> list[CallbackAttempt]:
    return list(session.scalars(select(CallbackAttempt).where(CallbackAttempt.task_id == task_id)
                                .order_by(CallbackAttempt.started_at, CallbackAttempt.id)))


# --- working a task -----------------------------------------------------------------------

def _must_be_open(task: CallbackTask) -> None:
    if task.status is not CallbackStatus.OPEN:
        raise CallbackError(f"回电任务 {task.id} 已处理 (already closed)")


def claim(session: Session, task: CallbackTask, user_id: int) -> None:
    """The agent takes the task; a task someone else holds is refused (a supervisor
    re-assigns it with :func:`assign`)."""
    _must_be_open(task)
    if task.assigned_to_id not in (None, user_id):
        holder = session.get(User, task.assigned_to_id)
        raise CallbackError(f"回电任务 {task.id} 已由 {holder.display_name if holder else task.assigned_to_id} 认领")
    if task.assigned_to_id != user_id:
        task.assigned_to_id = user_id
        task.claimed_at = utcnow()


def assign(session: Session, task: CallbackTask, user_id: int | None) -> None:
    """A supervisor gives the task to an agent, or frees it (``None``)."""
    _must_be_open(task)
    if user_id is not None:
        user = session.get(User, user_id)
        if user is None or not user.active:
            raise CallbackError(f"没有这个在职用户：{user_id}")
    task.assigned_to_id = user_id
    task.claimed_at = utcnow() if user_id is not None else None


def complete_callback(session: Session, task: CallbackTask, user_id: int | None, notes: str = "") -> None:
    task.status = CallbackStatus.DONE
    task.done_by_id = user_id
    task.done_at = utcnow()
    task.outcome = task.outcome if task.outcome in CLOSING_OUTCOMES else "reached"
    if notes:
        task.notes = (task.notes + "\n" + notes).strip()


def log_outcome(session: Session, settings: Settings, task: CallbackTask, *, user_id: int | None,
                outcome: str, notes: str = "", attempt_id: int | None = None) -> CallbackAttempt:
    """Record what came of a call back. The click-to-dial attempt (``attempt_id``) gets
    its outcome; without one a hand-dialled attempt is recorded. Reached / wrong number
    close the task, so does the ``settings.callback_max_attempts``-th failed try;
    otherwise the task is due again ``callback_retry_minutes`` of opening time later."""
    _must_be_open(task)
    if outcome not in LOGGABLE_OUTCOMES:
        raise CallbackError(f"请选择处理结果 (unknown outcome {outcome!r}; one of {', '.join(sorted(LOGGABLE_OUTCOMES))})")
    now = utcnow()
    attempt = session.get(CallbackAttempt, attempt_id) if attempt_id is not None else None
    if attempt is not None and (attempt.task_id != task.id or attempt.outcome):
        attempt = None  # another task's call, or logged already: this is a new try
    if attempt is None:
        attempt = CallbackAttempt(task_id=task.id, user_id=user_id, started_at=now, interface="", request_id="",
                                  dial_status="", dial_message="", uniqueid="", recording_file="")
        session.add(attempt)
    attempt.outcome = outcome
    attempt.notes = notes[:1000]
    attempt.logged_at = now
    task.attempt_count = (task.attempt_count or 0) + 1
    task.last_attempt_at = now
    task.outcome = outcome
    if notes:
        task.notes = (task.notes + "\n" + f"{CALLBACK_OUTCOMES[outcome]}：{notes}").strip()
    if outcome in CLOSING_OUTCOMES or task.attempt_count >= settings.callback_max_attempts:
        if outcome not in CLOSING_OUTCOMES:
            task.outcome = "gave_up"
        task.status = CallbackStatus.DONE
        task.done_by_id = user_id
        task.done_at = now
    else:
        task.due_at = due_time(session, settings, now, dt.timedelta(minutes=settings.callback_retry_minutes),
                               task.call.line_id if task.call is not None else None)
    session.flush()
    return attempt


# --- click-to-dial --------------------------------------------------------------------------

def recording_path(task: CallbackTask, attempt: CallbackAttempt, at: dt.datetime) -> str:
    """Where Asterisk records the call back, relative to the recordings directory."""
    return f"callbacks/{at:%Y/%m/%d}/cb{task.id}-{attempt.id}.wav"


def start_dial(session: Session, settings: Settings, task: CallbackTask, user: User,
               interface: str | None = None) -> tuple[CallbackAttempt, dict]:
    """Claim the task for ``user`` and prepare the click-to-dial: the attempt row and
    the ``ami.action`` request to publish. Asterisk rings the agent's phone first
    (``interface``: the phone the console sits at, else the user's own), and when they
    answer sends it to ``settings.callback_dial_context``, which records and dials the
    customer. The outcome of the Originate comes back as an ``action_result``
    (:func:`record_dial_result`)."""
    claim(session, task, user.id)
    if not interface:
        state = console.agent_state(session, user.id)
        interface = (state.interface if state is not None else None) or user.default_interface
    if not interface:
        raise CallbackError("请先在坐席工作台选择您的话机 (no phone to ring)")
    digits = phones.national_digits(task.number, settings.phone_region)
    if not digits.isdigit():
        raise CallbackError(f"回电任务 {task.id} 没有可拨打的号码")
    now = utcnow()
    attempt = CallbackAttempt(task_id=task.id, user_id=user.id, interface=interface, started_at=now,
                              request_id=console.new_request_id(user.id), dial_status="dialing",
                              dial_message="", uniqueid="", recording_file="", outcome="", notes="")
    session.add(attempt)
    session.flush()
    attempt.recording_file = recording_path(task, attempt, to_local(now, settings.timezone))
    request = {
        "action": "Originate", "request_id": attempt.request_id, "user_id": user.id,
        "interface": interface, "number": digits, "context": settings.callback_dial_context,
        "ring_s": settings.callback_agent_ring_s, "task_id": task.id, "attempt_id": attempt.id,
        "recording": attempt.recording_file,
    }
    return attempt, request


def record_dial_result(session: Session, result: dict) -> CallbackAttempt | None:
    """The listener's ``action_result`` of a click-to-dial Originate, on its attempt."""
    request_id = str(result.get("request_id") or "")
    if not request_id:
        return None
    attempt = session.scalar(select(CallbackAttempt).where(CallbackAttempt.request_id == request_id).limit(1))
    if attempt is None:
        return None
    attempt.dial_status = "connected" if result.get("ok") else "failed"
    attempt.dial_message = str(result.get("message") or "")[:255]
    attempt.uniqueid = str(result.get("uniqueid") or "")[:64]
    return attempt
