"""Call records completed from queue facts (what the AMI listener sees, in plain terms).

The FastAGI ``route_call`` handler normally creates the ``calls`` row (uniqueid, linkedid,
line, customer, IVR path, queue, priority). The functions here find that row by the
caller channel's uniqueid (or, failing that, an open call with the same linkedid) and
fill in what happened in the queue. A fact about a call without a row (routing failed,
a call from elsewhere, a listener started mid-call) creates a minimal row
(``route_reason = "ami_only"``) instead of failing.

Every function is idempotent: a value is written only when it is still empty and the
status only moves forward, so the same fact delivered twice (a replayed stream, a
duplicate event) leaves the row exactly as the first delivery did. ``Change.changed``
tells the caller whether anything new was written, so it can avoid announcing the same
thing twice.

Times are naive UTC (``callcenter.db.utcnow``); durations come from Asterisk's own
counters (HoldTime, TalkTime, RingTime) where it gives them, because the listener's
receive time says nothing about a call that was replayed or reconciled later.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from callcenter.config import Settings
from callcenter.models import Call, CallAgentLeg, CallbackReason, CallbackTask, CallStatus
from callcenter.services.calls.callbacks import create_callback
from callcenter.services.calls.recording_names import side_files
from callcenter.services.people import agents, phones

# Row made from AMI facts alone (no routing decision was recorded for it).
AMI_ONLY = "ami_only"
LOST_DURING_OUTAGE = "lost_during_ami_outage"

CONNECTED, RINGNOANSWER, CANCELLED = "connected", "ringnoanswer", "cancelled"

_RANK = {
    CallStatus.ROUTING: 0, CallStatus.ROUTED: 1, CallStatus.QUEUED: 2, CallStatus.RINGING: 3,
    CallStatus.ANSWERED: 4, CallStatus.COMPLETED: 5, CallStatus.ABANDONED: 5, CallStatus.HUNG_UP: 5,
    CallStatus.AFTER_HOURS: 5,
}
FINAL = frozenset(s for s, r in _RANK.items() if r == 5)
# Calls Asterisk may still have: reconciliation checks these against CoreShowChannels.
OPEN = frozenset({CallStatus.ROUTING, CallStatus.ROUTED, CallStatus.QUEUED, CallStatus.RINGING,
                  CallStatus.ANSWERED, CallStatus.COMPLETED})


@dataclass(frozen=True)
class CallerRef:
    """The caller's channel as a queue event describes it.

    The caller's number is normalised once, by route_call, and stored on the row. The
    listener's refs leave ``caller_e164`` as None ("not worked out"): it is computed
    (``e164()``) only for a row the listener creates or completes itself. "" means the
    number is known not to be a valid one."""

    uniqueid: str
    linkedid: str = ""
    channel: str = ""
    caller_number: str = ""
    caller_name: str = ""
    dialled_number: str = ""
    caller_e164: str | None = ""
    region: str = "CN"

    def e164(self) -> str:
        """The caller number normalised (E.164), "" when it is not a valid number."""
        if self.caller_e164 is None:
            return phones.normalize(self.caller_number, self.region)
        return self.caller_e164


@dataclass
class Change:
    call: Call
    created: bool = False
    changed: bool = False
    leg: CallAgentLeg | None = None
    callback: CallbackTask | None = None


# --- finding and creating rows ---------------------------------------------------------
def find_call(session: Session, uniqueid: str, linkedid: str = "") -> Call | None:
    call = session.scalar(select(Call).where(Call.uniqueid == uniqueid))
    if call is None and linkedid:
        # The queue may run on another channel of the same call (a Local channel, a
        # transfer): the linkedid is what stays the same.
        call = session.scalar(select(Call).where(Call.linkedid == linkedid, Call.ended_at.is_(None))
                              .order_by(Call.id.desc()).limit(1))
    return call


def _fill(call: Call, ref: CallerRef) -> None:
    for attr, value in (("channel", ref.channel), ("caller_number", ref.caller_number),
                        ("caller_name", ref.caller_name), ("dialled_number", ref.dialled_number)):
        if value and not getattr(call, attr):
            setattr(call, attr, value)
    if not call.caller_e164 and ref.caller_number:
        call.caller_e164 = ref.e164()


def get_or_create_call(session: Session, ref: CallerRef, *, at: dt.datetime, queue: str = "") -> tuple[Call, bool]:
    call = find_call(session, ref.uniqueid, ref.linkedid)
    if call is not None:
        _fill(call, ref)
        return call, False
    call = Call(uniqueid=ref.uniqueid, linkedid=ref.linkedid or ref.uniqueid, channel=ref.channel,
                caller_number=ref.caller_number, caller_name=ref.caller_name, caller_e164=ref.e164(),
                dialled_number=ref.dialled_number, queue=queue, started_at=at,
                status=CallStatus.ROUTED, route_reason=AMI_ONLY, ivr_path=[],
                # the pop's key, as route_call gives one to every call it routes
                screen_pop_key=secrets.token_urlsafe(24))
    # If the AGI handler commits the same uniqueid at this very moment, the flush raises
    # IntegrityError; the caller's transaction is then rolled back and the event applied
    # again, and finds that row (no SAVEPOINT: pysqlite's are unreliable on 3.11).
    session.add(call)
    session.flush()
    return call, True


def _leg(session: Session, call: Call, dest_uniqueid: str, *, interface: str, member_name: str, queue: str,
         called_at: dt.datetime) -> tuple[CallAgentLeg, bool]:
    leg = session.scalar(select(CallAgentLeg).where(CallAgentLeg.call_id == call.id,
                                                    CallAgentLeg.dest_uniqueid == dest_uniqueid))
    if leg is not None:
        return leg, False
    leg = CallAgentLeg(call_id=call.id, dest_uniqueid=dest_uniqueid, interface=interface,
                       member_name=member_name, queue=queue, called_at=called_at, outcome="")
    session.add(leg)
    session.flush()
    return leg, True


def _advance(call: Call, status: CallStatus) -> bool:
    if call.status in FINAL or _RANK[status] <= _RANK[call.status]:
        return False
    call.status = status
    return True


def _open_legs(session: Session, call: Call) -> list[CallAgentLeg]:
    return list(session.scalars(select(CallAgentLeg).where(CallAgentLeg.call_id == call.id,
                                                           CallAgentLeg.outcome == "")))


def _ring_settled(session: Session, call: Call) -> None:
    """No phone rings any more for a caller still waiting: back to ``queued``."""
    if call.status == CallStatus.RINGING and not _open_legs(session, call):
        call.status = CallStatus.QUEUED


def _ms_since(start: dt.datetime, at: dt.datetime) -> int:
    return max(0, int((at - start).total_seconds() * 1000))


def _close_legs(session: Session, call: Call, at: dt.datetime) -> None:
    for leg in _open_legs(session, call):
        leg.outcome = CANCELLED
        leg.ring_ms = _ms_since(leg.called_at, at)


# --- queue facts -----------------------------------------------------------------------------
def caller_joined(session: Session, ref: CallerRef, *, queue: str, at: dt.datetime) -> Change:
    """QueueCallerJoin: the caller waits in ``queue``."""
    call, created = get_or_create_call(session, ref, at=at, queue=queue)
    changed = created
    if call.queued_at is None:
        call.queued_at = at
        changed = True
    if queue and call.queue != queue and call.answered_at is None:
        call.queue = queue  # the queue actually joined (overflow can differ from the route)
        changed = True
    changed |= _advance(call, CallStatus.QUEUED)
    return Change(call, created, changed)


def agent_called(session: Session, ref: CallerRef, *, dest_uniqueid: str, interface: str, member_name: str,
                 queue: str, at: dt.datetime) -> Change:
    """AgentCalled: one agent's phone starts ringing for this caller."""
    call, created = get_or_create_call(session, ref, at=at, queue=queue)
    if call.queued_at is None:
        call.queued_at = at
    leg, new = _leg(session, call, dest_uniqueid, interface=interface, member_name=member_name, queue=queue,
                    called_at=at)
    _advance(call, CallStatus.RINGING)
    return Change(call, created, created or new, leg=leg)


def agent_ring_no_answer(session: Session, ref: CallerRef, *, dest_uniqueid: str, interface: str,
                         member_name: str, queue: str, ring_ms: int, at: dt.datetime) -> Change:
    """AgentRingNoAnswer: that phone rang ``ring_ms`` milliseconds unanswered."""
    call, created = get_or_create_call(session, ref, at=at, queue=queue)
    leg, _ = _leg(session, call, dest_uniqueid, interface=interface, member_name=member_name, queue=queue,
                  called_at=at - dt.timedelta(milliseconds=ring_ms))
    changed = created
    if not leg.outcome:
        leg.outcome, leg.ring_ms = RINGNOANSWER, ring_ms
        changed = True
    _ring_settled(session, call)
    return Change(call, created, changed, leg=leg)


def dial_ended(session: Session, *, caller_uniqueid: str, dest_uniqueid: str, dial_status: str,
               at: dt.datetime) -> Change | None:
    """DialEnd for a queue leg. ``CANCEL`` is the only trace of an agent whose phone was
    ringing when the caller gave up (no AgentRingNoAnswer then); ANSWER waits for
    AgentConnect. Dials that are not queue legs are ignored."""
    call = find_call(session, caller_uniqueid)
    if call is None or dial_status == "ANSWER":
        return None
    leg = session.scalar(select(CallAgentLeg).where(CallAgentLeg.call_id == call.id,
                                                    CallAgentLeg.dest_uniqueid == dest_uniqueid))
    if leg is None or leg.outcome:
        return Change(call, leg=leg)
    leg.outcome = CANCELLED if dial_status == "CANCEL" else RINGNOANSWER
    leg.ring_ms = _ms_since(leg.called_at, at)
    _ring_settled(session, call)
    return Change(call, changed=True, leg=leg)


def agent_connected(session: Session, ref: CallerRef, *, dest_uniqueid: str, interface: str,
                    member_name: str, queue: str, hold_s: int, ring_s: int, at: dt.datetime) -> Change:
    """AgentConnect: the agent answered after the caller waited ``hold_s`` seconds."""
    call, created = get_or_create_call(session, ref, at=at, queue=queue)
    leg, _ = _leg(session, call, dest_uniqueid, interface=interface, member_name=member_name, queue=queue,
                  called_at=at - dt.timedelta(seconds=ring_s))
    changed = created
    if leg.outcome != CONNECTED:
        leg.outcome = CONNECTED
        leg.ring_ms = ring_s * 1000 if leg.ring_ms is None else leg.ring_ms
        changed = True
    changed |= _answer(session, call, interface, hold_s, at)
    return Change(call, created, changed, leg=leg)


def _answer(session: Session, call: Call, interface: str, hold_s: int | None, at: dt.datetime) -> bool:
    changed = False
    if call.answered_at is None:
        call.answered_at = at
        call.answered_by_interface = interface
        call.answered_by_user_id = agents.user_id_for_interface(session, interface)
        changed = True
    if call.queued_at is None and hold_s is not None:
        call.queued_at = call.answered_at - dt.timedelta(seconds=hold_s)
    if call.wait_seconds is None and hold_s is not None:
        call.wait_seconds = hold_s
        changed = True
    changed |= _advance(call, CallStatus.ANSWERED)
    return changed


def connected_leg_dest(session: Session, ref: CallerRef, interface: str) -> str:
    """The DestUniqueid of the leg ``interface`` answered for this call ("" if none).
    Asterisk sends AgentComplete without the Dest* fields when the agent's channel is
    already gone, as after a transfer by Redirect."""
    call = find_call(session, ref.uniqueid, ref.linkedid)
    if call is None:
        return ""
    leg = session.scalar(select(CallAgentLeg).where(CallAgentLeg.call_id == call.id,
                                                    CallAgentLeg.interface == interface,
                                                    CallAgentLeg.outcome == CONNECTED)
                         .order_by(CallAgentLeg.id.desc()).limit(1))
    return leg.dest_uniqueid if leg is not None else ""


def agent_completed(session: Session, ref: CallerRef, *, dest_uniqueid: str, interface: str,
                    member_name: str, queue: str, hold_s: int, talk_s: int, reason: str,
                    at: dt.datetime) -> Change:
    """AgentComplete: the conversation ended; ``reason`` says who hung up (caller / agent,
    or transfer)."""
    call, created = get_or_create_call(session, ref, at=at, queue=queue)
    leg, _ = _leg(session, call, dest_uniqueid, interface=interface, member_name=member_name, queue=queue,
                  called_at=at - dt.timedelta(seconds=talk_s))
    if leg.outcome != CONNECTED:
        leg.outcome = CONNECTED
    changed = _answer(session, call, interface, hold_s, at - dt.timedelta(seconds=talk_s)) or created
    if call.talk_seconds is None:
        call.talk_seconds = talk_s
        changed = True
    if not call.hangup_side and reason:
        call.hangup_side = reason[:16]
        changed = True
    changed |= _advance(call, CallStatus.COMPLETED)
    return Change(call, created, changed, leg=leg)


def caller_abandoned(session: Session, ref: CallerRef, *, queue: str, hold_s: int, side: str,
                     at: dt.datetime, callback_due: dt.timedelta, settings: Settings | None = None) -> Change:
    """QueueCallerAbandon (the caller hung up, or the queue timed out - Asterisk reports
    both this way): the call is abandoned and gets exactly one callback task."""
    call, created = get_or_create_call(session, ref, at=at, queue=queue)
    changed = created
    if call.queued_at is None:
        call.queued_at = at - dt.timedelta(seconds=hold_s)
    if not call.abandoned and call.answered_at is None:
        call.abandoned = True
        call.wait_seconds = hold_s if call.wait_seconds is None else call.wait_seconds
        call.hangup_side = call.hangup_side or side[:16]
        changed = True
    if not call.abandoned:
        return Change(call, created, changed)  # answered already: not an abandon
    _close_legs(session, call, at)
    _advance(call, CallStatus.ABANDONED)
    task = _callback(session, call, callback_due, notes="", settings=settings)
    return Change(call, created, changed, callback=task)


def _callback(session: Session, call: Call, due: dt.timedelta, notes: str,
              settings: Settings | None = None) -> CallbackTask:
    # With the site's settings ``due`` is counted in the line's opening hours.
    return create_callback(session, number=call.caller_e164 or call.caller_number,
                           reason=CallbackReason.ABANDONED, call_id=call.id, customer_id=call.customer_id,
                           due_in=due, notes=notes, settings=settings, line_id=call.line_id,
                           region=settings.phone_region if settings is not None else "CN")


def queue_timed_out(session: Session, *, uniqueid: str) -> Change | None:
    """``QUEUESTATUS=TIMEOUT`` (a VarSet after the abandon): nobody hung up, the queue
    gave up - recorded as hangup side ``queue_timeout``."""
    call = find_call(session, uniqueid)
    if call is None or not call.abandoned or call.hangup_side == "queue_timeout":
        return None
    call.hangup_side = "queue_timeout"
    return Change(call, changed=True)


def channel_hung_up(session: Session, *, uniqueid: str, cause: str, cause_txt: str, at: dt.datetime,
                    callback_due: dt.timedelta, settings: Settings | None = None) -> Change | None:
    """Hangup of the caller's channel ends the call record. Agent legs and channels
    without a call row are not calls and are ignored."""
    call = session.scalar(select(Call).where(Call.uniqueid == uniqueid))
    if call is None:
        return None
    changed = False
    if call.ended_at is None:
        call.ended_at = at
        changed = True
    if not call.hangup_cause:
        call.hangup_cause = f"{cause} {cause_txt}".strip()[:64]
        changed = True
    task = None
    if call.status in (CallStatus.QUEUED, CallStatus.RINGING):
        # Gone while waiting without an abandon event: the caller was not served.
        call.abandoned = True
        call.hangup_side = call.hangup_side or "caller"
        task = _callback(session, call, callback_due, notes="", settings=settings)
    _close_legs(session, call, at)
    if call.status == CallStatus.ANSWERED:
        call.status = CallStatus.COMPLETED
        if call.talk_seconds is None and call.answered_at is not None:
            # The conversation left the queue's bridge before it ended (put on hold from
            # the console: no AgentComplete measured it), so the call's own ends do.
            call.talk_seconds = max(0, int((at - call.answered_at).total_seconds()))
    elif call.status in (CallStatus.QUEUED, CallStatus.RINGING):
        call.status = CallStatus.ABANDONED
    elif call.status in (CallStatus.ROUTING, CallStatus.ROUTED):
        call.status = CallStatus.HUNG_UP
    return Change(call, changed=changed, callback=task)


def recording_started(session: Session, *, uniqueid: str, linkedid: str, filename: str) -> Call | None:
    """MixMonitor's file (the MIXMONITOR_FILENAME VarSet: MixMonitorStart itself names no
    file). Returns None when the call has no row yet."""
    call = find_call(session, uniqueid, linkedid)
    if call is not None and filename and not call.recording_file:
        call.recording_file = filename[:255]
    if call is not None:
        name_side_files(call)
    return call


def name_side_files(call: Call) -> None:
    """The r()/t() side files are named after the mixed file (recording_names.py); they are
    stored too, so the transcription never has to know the convention."""
    if call.recording_file and not call.recording_caller_file:
        caller, agent = side_files(call.recording_file)
        call.recording_caller_file, call.recording_agent_file = caller[:255], agent[:255]


def cdr_received(session: Session, *, uniqueid: str, source: str, caller_name: str,
                 recording_file: str = "") -> Call | None:
    """A Cdr fills in a caller number and a recording file still missing (the project's
    cdr_manager.conf maps the dialplan's RECORDING_FILE into it). Its times are the
    Asterisk host's local wall clock and the listener already has better ones."""
    call = session.scalar(select(Call).where(Call.uniqueid == uniqueid))
    if call is not None:
        _fill(call, CallerRef(uniqueid=uniqueid, caller_number=source, caller_name=caller_name))
        if recording_file and not call.recording_file:
            call.recording_file = recording_file[:255]
        name_side_files(call)
    return call


# --- reconciliation ------------------------------------------------------------------------------
def open_calls(session: Session, *, started_before: dt.datetime) -> list[Call]:
    return list(session.scalars(select(Call).where(Call.ended_at.is_(None), Call.status.in_(OPEN),
                                                   Call.started_at < started_before).order_by(Call.id)))


def close_lost_call(session: Session, call: Call, *, at: dt.datetime, callback_due: dt.timedelta,
                    settings: Settings | None = None) -> Change:
    """The call's channels vanished while we could not hear Asterisk (and Asterisk's CDR
    file, read just before, did not say how it ended): close it so reports do not count
    it as live for ever. A caller who never reached an agent — waiting in the queue, or
    routed to one (the QueueCallerJoin was lost with the rest) — is abandoned and gets a
    callback task: when in doubt, call back (不漏接一个电话)."""
    call.ended_at = at
    call.hangup_cause = call.hangup_cause or LOST_DURING_OUTAGE
    task = None
    if call.status in (CallStatus.ROUTED, CallStatus.QUEUED, CallStatus.RINGING):
        call.abandoned = True
        call.status = CallStatus.ABANDONED
        task = _callback(session, call, callback_due,
                         notes="call ended while the AMI connection was down", settings=settings)
    elif call.status == CallStatus.ANSWERED:
        call.status = CallStatus.COMPLETED
    elif call.status == CallStatus.ROUTING:
        call.status = CallStatus.HUNG_UP
    _close_legs(session, call, at)
    return Change(call, changed=True, callback=task)


def answered_during_outage(session: Session, call: Call, *, interface: str, at: dt.datetime) -> Change:
    """The caller is bridged to an agent although we never saw AgentConnect."""
    changed = _answer(session, call, interface, None, at)
    return Change(call, changed=changed)
