"""Calls as Asterisk's own CDR store saw them, for the calls nobody else recorded.

Asterisk writes one line per call into ``cdr-custom/callcenter.csv``
(asterisk_conf/cdr_custom.conf) whether or not the callcenter runs or its database
answers. After an outage the AMI listener reads the lines it has not seen yet
(``callcenter.ami.cdr``) and hands them here:

- a hotline call without a calls row (the callcenter was down: the dialplan's
  fallback queued it) gets one, ``route_reason = asterisk_only``, with its times, its
  queue and who answered;
- a calls row still open (its end was lost in an AMI outage) is closed with what the
  CDR says: answered by an agent → completed, else abandoned;
- either way a caller nobody served gets exactly one callback task (不漏接一个电话).

A line is applied once or many times with the same result (rows are found by
uniqueid, the callback rule keeps one open task per call), so a cursor lost in a crash
only costs a re-read.
"""

from __future__ import annotations

import csv
import datetime as dt
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from callcenter.config import Settings
from callcenter.models import Call, CallbackReason, CallStatus
from callcenter.services.calls import calltrack
from callcenter.services.calls.callbacks import create_callback, task_has_call
from callcenter.services.people import agents, phones

ASTERISK_ONLY = "asterisk_only"
HOTLINE_CONTEXT = "cc-inbound"
COLUMNS = ("uniqueid", "linkedid", "dcontext", "src", "clid", "dst", "channel", "dstchannel", "start",
           "answer", "end", "billsec", "disposition", "pop_key", "queue", "route", "agent", "queue_status",
           "recording_file")
CLOSED = frozenset({CallStatus.COMPLETED, CallStatus.ABANDONED, CallStatus.HUNG_UP, CallStatus.AFTER_HOURS})


@dataclass(frozen=True)
class CdrLine:
    uniqueid: str
    linkedid: str
    context: str
    caller_number: str
    caller_name: str
    dialled: str
    start: dt.datetime
    end: dt.datetime | None
    talk_s: int
    pop_key: str
    queue: str
    route: str
    agent: str                  # the queue member that answered, "" when nobody did
    queue_status: str
    recording_file: str

    @property
    def answered(self) -> bool:
        return bool(self.agent)


def parse_line(line: str) -> CdrLine | None:
    """One line of callcenter.csv; None for a line that is not one (a partial write)."""
    try:
        [fields] = list(csv.reader([line]))
    except (csv.Error, ValueError):
        return None
    if len(fields) != len(COLUMNS):
        return None
    row = dict(zip(COLUMNS, fields))
    start = _instant(row["start"])
    if not row["uniqueid"] or start is None:
        return None
    return CdrLine(uniqueid=row["uniqueid"][:64], linkedid=(row["linkedid"] or row["uniqueid"])[:64],
                   context=row["dcontext"], caller_number=row["src"][:64], caller_name=_name(row["clid"]),
                   dialled=row["dst"][:32], start=start, end=_instant(row["end"]),
                   talk_s=_int(row["billsec"]), pop_key=row["pop_key"][:64], queue=row["queue"][:64],
                   route=row["route"], agent=row["agent"][:128], queue_status=row["queue_status"],
                   recording_file=row["recording_file"][:255])


@dataclass
class Backfill:
    created: int = 0
    closed: int = 0
    callbacks: int = 0
    skipped: int = 0


def backfill(session: Session, lines: list[CdrLine], *, region: str, callback_due: dt.timedelta,
             report: Backfill | None = None, settings: Settings | None = None) -> Backfill:
    """Apply CDR lines of hotline calls (see the module docstring)."""
    report = report or Backfill()
    for line in lines:
        if line.context != HOTLINE_CONTEXT:
            report.skipped += 1
            continue
        call = session.scalar(select(Call).where(Call.uniqueid == line.uniqueid))
        if call is None:
            call = _asterisk_only_row(session, line, region)
            report.created += 1
        elif call.status in CLOSED and call.ended_at is not None:
            continue                              # the listener saw it end
        else:
            report.closed += 1
        if _close(session, call, line, callback_due, settings):
            report.callbacks += 1
    return report


def _asterisk_only_row(session: Session, line: CdrLine, region: str) -> Call:
    call = Call(uniqueid=line.uniqueid, linkedid=line.linkedid, channel="", caller_number=line.caller_number,
                caller_name=line.caller_name, caller_e164=phones.normalize(line.caller_number, region),
                dialled_number=line.dialled if line.dialled.lstrip("+").isdigit() else "",
                queue=line.queue, started_at=line.start, status=CallStatus.ROUTED, route_reason=ASTERISK_ONLY,
                ivr_path=[], screen_pop_key=line.pop_key or secrets.token_urlsafe(24),
                recording_file=line.recording_file)
    session.add(call)
    session.flush()
    return call


def _close(session: Session, call: Call, line: CdrLine, callback_due: dt.timedelta,
           settings: Settings | None = None) -> bool:
    """Close the row as the CDR says; True when a callback task was filed."""
    end = line.end or line.start
    call.ended_at = call.ended_at or end
    call.recording_file = call.recording_file or line.recording_file
    calltrack.name_side_files(call)
    if line.answered:
        call.answered_by_interface = call.answered_by_interface or line.agent
        if call.answered_by_user_id is None:
            call.answered_by_user_id = agents.user_id_for_interface(session, line.agent)
        call.answered_at = call.answered_at or end - dt.timedelta(seconds=line.talk_s)
        call.talk_seconds = call.talk_seconds if call.talk_seconds is not None else line.talk_s
        call.status = CallStatus.COMPLETED
        return False
    if call.status == CallStatus.AFTER_HOURS or line.route == "after_hours":
        # The after_hours route files its own task; it may have been down too.
        call.status = CallStatus.AFTER_HOURS
    else:
        call.status = CallStatus.ABANDONED
        call.abandoned = True
        call.hangup_side = call.hangup_side or ("queue_timeout" if line.queue_status == "TIMEOUT" else "caller")
    number = call.caller_e164 or call.caller_number
    if not number or task_has_call(session, call.id):
        return False                              # nobody to call, or the call has its task
    task = create_callback(session, number=number, reason=CallbackReason.ABANDONED if call.abandoned
                           else CallbackReason.AFTER_HOURS, call_id=call.id, customer_id=call.customer_id,
                           due_in=callback_due, notes="seen only by Asterisk (CDR): the callcenter was not following",
                           settings=settings, line_id=call.line_id,
                           region=settings.phone_region if settings is not None else "CN")
    return task is not None


def _instant(value: str) -> dt.datetime | None:
    """A CDR(x,u) epoch ("1796582322.123456"), as naive UTC; None when empty or 0."""
    try:
        seconds = float(value)
    except ValueError:
        return None
    if seconds <= 0:
        return None
    return dt.datetime.fromtimestamp(seconds, dt.UTC).replace(tzinfo=None)


def _int(value: str) -> int:
    try:
        return int(float(value))
    except ValueError:
        return 0


def _name(clid: str) -> str:
    """``"Name" <13800138000>`` → Name."""
    if clid.count('"') >= 2:
        return clid.split('"')[1][:128]
    return ""
