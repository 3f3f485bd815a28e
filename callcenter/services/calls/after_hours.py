"""After hours (非工作时间) and unanswered queues: messages and callback requests — the
rules, without AGI.

不漏接一个电话: every caller the after_hours route sees with a usable number gets a
callback task, whether they left a message, asked for a callback, pressed nothing or
hung up half-way.  A caller without a usable number (anonymous) can still leave a
message; that message becomes a task too (the caller may say their number in it).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from callcenter.config import Settings
from callcenter.db import utcnow
from callcenter.models import Call, CallbackReason, CallbackTask
from callcenter.services.calls.callbacks import create_callback
from callcenter.services.people import phones
from callcenter.services.setup import calendar
from callcenter.timeutil import to_local

log = logging.getLogger(__name__)

MESSAGE_MAX_MS = 60_000       # one minute is plenty for "please call me about ..."
MESSAGE_SILENCE_S = 6         # a caller who stops talking and forgets '#' is not kept waiting
WAV_HEADER_BYTES = 44         # what Asterisk leaves in a .wav when nothing was recorded
MESSAGE_FORMAT = "wav"

_DIGITS_ONLY = re.compile(r"^[0-9]{3,15}$")
_SAFE = re.compile(r"[^A-Za-z0-9_-]")


@dataclass(frozen=True)
class CallbackNumber:
    number: str          # what the task stores: E.164 when valid, else the digits as presented
    spoken: str          # the digits read back to the caller, as they know their number


def callback_number(raw: str | None, region: str = "CN") -> CallbackNumber | None:
    """The number to call back, or None when the caller ID is anonymous or not a number."""
    e164 = phones.normalize(raw, region)
    if e164:
        return CallbackNumber(e164, re.sub(r"\D", "", phones.national(e164, region)))
    text = (raw or "").strip()
    if _DIGITS_ONLY.match(text):          # an internal extension, or a number phonenumbers rejects
        return CallbackNumber(text, text)
    return None


@dataclass(frozen=True)
class MessageTarget:
    record_path: str     # absolute, without extension: what RECORD FILE gets
    stored_name: str     # relative to recordings_dir, with extension: message_file


def message_target(settings: Settings, uniqueid: str, now: dt.datetime | None = None) -> MessageTarget:
    """Where a message goes: recordings_dir/messages/YYYY/MM/DD/HHMMSS-<uniqueid>.wav (local date)."""
    local = to_local(now or utcnow(), settings.timezone)
    name = f"{local:%H%M%S}-{_SAFE.sub('-', uniqueid) or 'call'}"
    relative = Path("messages") / f"{local:%Y}" / f"{local:%m}" / f"{local:%d}" / name
    absolute = Path(os.path.abspath(settings.recordings_dir)) / relative
    return MessageTarget(record_path=str(absolute), stored_name=f"{relative.as_posix()}.{MESSAGE_FORMAT}")


def prepare_message_dir(target: MessageTarget) -> None:
    """Asterisk does not create directories: RECORD FILE would fail with (writefile)."""
    Path(target.record_path).parent.mkdir(parents=True, exist_ok=True)


def keep_message(settings: Settings, target: MessageTarget) -> str:
    """The stored name when the recording holds audio; an empty file is removed → ""."""
    path = Path(target.record_path + "." + MESSAGE_FORMAT)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return ""
    if size <= WAV_HEADER_BYTES:
        path.unlink(missing_ok=True)
        return ""
    return target.stored_name


def find_call(session: Session, call_id: int | None, uniqueid: str) -> Call | None:
    """The calls row route_call wrote for this channel (by CC_CALL_ID, else by uniqueid)."""
    call = session.get(Call, call_id) if call_id is not None else None
    if call is None and uniqueid:
        call = session.scalar(select(Call).where(Call.uniqueid == uniqueid))
    return call


def callback_due_at(session: Session, settings: Settings, line_id: int | None,
                    now: dt.datetime | None = None) -> dt.datetime:
    """``callback_due_hours`` after the line opens again: a task filed at 23:00 is due
    the next morning, not at 01:00 while nobody is there to call back."""
    now = now or utcnow()
    try:
        opens = calendar.next_opening(session, settings, now, line_id)
    except calendar.CalendarError:
        opens = now   # no opening hours at all in the scan window: count from now
    return opens + dt.timedelta(hours=settings.callback_due_hours)


def file_after_hours_callback(session: Session, settings: Settings, *, call_id: int | None,
                              uniqueid: str, caller_number: str, message_file: str = "",
                              queue_unanswered: bool = False,
                              now: dt.datetime | None = None) -> CallbackTask | None:
    """The callback task for this call: one per call, whatever route got here first.

    A message makes it a ``voicemail`` task; otherwise ``abandoned`` after a queue
    nobody answered, else ``after_hours``. When the call already has an open task (the
    AMI listener opens an ``abandoned`` one when the queue gives up) that task is kept
    and the message is attached to it. Returns None only for an anonymous caller who
    left no message: there is nobody to call back.
    """
    call = find_call(session, call_id, uniqueid)
    presented = (call.caller_number if call is not None and call.caller_number else caller_number)
    number = callback_number(presented, settings.phone_region)
    if number is None and not message_file:
        log.info("after-hours call %s: no usable caller number and no message; no callback task",
                 uniqueid)
        return None
    notes = "" if number is not None else "来电号码无法识别：请收听留言获取联系方式 (caller number withheld)"
    if message_file:
        reason = CallbackReason.VOICEMAIL
    else:
        reason = CallbackReason.ABANDONED if queue_unanswered else CallbackReason.AFTER_HOURS
    return create_callback(
        session, number=number.number if number else "", reason=reason,
        call_id=call.id if call is not None else None,
        customer_id=call.customer_id if call is not None else None,
        message_file=message_file,
        due_at=callback_due_at(session, settings, call.line_id if call is not None else None, now),
        notes=notes,
        region=settings.phone_region, settings=settings, at=now)


@dataclass(frozen=True)
class CallbackRecord:
    """``file_after_hours_callback`` to run later, when the database refused it at once
    (it waits in the FastAGI server's journal, ``callcenter.agi.recorder``). Filing it
    twice files one task: the call's open task is kept."""

    call_id: int | None
    uniqueid: str
    caller_number: str
    message_file: str = ""
    queue_unanswered: bool = False
    at: dt.datetime | None = None
    kind = "callback"

    def apply(self, session: Session, settings: Settings) -> None:
        file_after_hours_callback(session, settings, call_id=self.call_id, uniqueid=self.uniqueid,
                                  caller_number=self.caller_number, message_file=self.message_file,
                                  queue_unanswered=self.queue_unanswered, now=self.at)

    def to_json(self) -> dict:
        return {"call_id": self.call_id, "uniqueid": self.uniqueid, "caller_number": self.caller_number,
                "message_file": self.message_file, "queue_unanswered": self.queue_unanswered,
                "at": self.at.isoformat() if self.at else None}

    @classmethod
    def from_json(cls, data: dict) -> CallbackRecord:
        at = data.get("at")
        return cls(call_id=data.get("call_id"), uniqueid=data["uniqueid"], caller_number=data["caller_number"],
                   message_file=data.get("message_file", ""), queue_unanswered=bool(data.get("queue_unanswered")),
                   at=dt.datetime.fromisoformat(at) if at else None)
