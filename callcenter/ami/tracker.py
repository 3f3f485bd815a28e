"""One AMI event → service calls inside the caller's transaction.

:class:`EventTracker` knows what each event means for the records (through
``services.calls.calltrack`` and ``services.people.agents``) and returns the bus messages to publish
once the transaction commits. It opens no session, runs no thread and never retries:
that is :mod:`callcenter.ami.worker`'s job, so the mapping can be read (and tested) on
its own.

Event → record mapping (see the README table): QueueCallerJoin → queued_at/queue/queued;
AgentCalled → a CallAgentLeg + ringing + ``agent_called`` (the screen-pop);
AgentRingNoAnswer → leg ``ringnoanswer`` with RingTime (milliseconds); DialEnd CANCEL →
leg ``cancelled``; AgentConnect → answered_at/by, wait (HoldTime); AgentComplete → talk
(TalkTime), hangup side (Reason), completed, agent wrap-up; QueueCallerAbandon →
abandoned + callback task (side ``caller``, ``system`` for a shutdown, ``queue_timeout``
when no hangup request preceded it); Hangup of the caller channel → ended_at, cause;
VarSet MIXMONITOR_FILENAME → recording file; QueueMember* → agent state.
"""

from __future__ import annotations

import collections
import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from callcenter.ami import cdr
from callcenter.ami import reconcile as reconcile_mod
from callcenter.ami.protocol import Message
from callcenter.ami.publisher import AGENT_TOPIC
from callcenter.config import Settings
from callcenter.models import AgentStatus, CdrCursor
from callcenter.services.calls import calltrack, cdr_backfill, controls
from callcenter.services.people import agents

RELEVANT_EVENTS = frozenset({
    "QueueCallerJoin", "QueueCallerAbandon", "AgentCalled", "AgentConnect", "AgentComplete",
    "AgentRingNoAnswer", "AgentDump", "DialEnd", "Hangup", "HangupRequest", "SoftHangupRequest",
    "MixMonitorStart", "Cdr", "QueueMemberStatus", "QueueMemberPause", "QueueMemberAdded",
    "QueueMemberRemoved",
})
RELEVANT_VARIABLES = frozenset({"MIXMONITOR_FILENAME", "QUEUESTATUS"})
MEMBER_EVENTS = {"QueueMemberStatus": "status", "QueueMemberPause": "pause", "QueueMemberAdded": "added",
                 "QueueMemberRemoved": "removed"}
# SoftHangupRequest Cause is the soft-hangup flag: 4 = AST_SOFTHANGUP_SHUTDOWN (3e2).
SOFTHANGUP_SHUTDOWN = "4"


class Malformed(ValueError):
    """An event that lacks what its handler needs."""


def _clean(value: str) -> str:
    """AMI writes ``<unknown>`` (or ``unknown`` in QueueEntry) for an absent caller ID."""
    return "" if value in ("<unknown>", "unknown", "<Unknown>") else value


def _int(msg: Message, key: str) -> int:
    try:
        return int(msg.get(key))
    except ValueError:
        raise Malformed(f"{msg.event} without a numeric {key} ({msg.get(key)!r})") from None


def _require(msg: Message, *keys: str) -> None:
    missing = [k for k in keys if not msg.get(k)]
    if missing:
        raise Malformed(f"{msg.event} without {', '.join(missing)}")


def caller_ref(msg: Message, region: str = "CN") -> calltrack.CallerRef:
    exten = msg.get("Exten")
    number = _clean(msg.get("CallerIDNum"))
    return calltrack.CallerRef(
        uniqueid=msg.get("Uniqueid"), linkedid=msg.get("Linkedid"), channel=msg.get("Channel"),
        caller_number=number, caller_name=_clean(msg.get("CallerIDName")),
        dialled_number=exten if exten.lstrip("+").isdigit() else "", caller_e164=None, region=region)


class _Bounded(collections.OrderedDict):
    """Per-channel facts kept in memory for a while (a channel lives minutes, not days)."""

    def __init__(self, limit: int = 20000) -> None:
        super().__init__()
        self.limit = limit

    def __setitem__(self, key: Any, value: Any) -> None:
        super().__setitem__(key, value)
        self.move_to_end(key)
        while len(self) > self.limit:
            self.popitem(last=False)


class EventTracker:
    """Turns one AMI event into service calls inside the caller's transaction.
    Returns the (topic, payload) messages to publish once that transaction commits."""

    def __init__(self, *, callback_due: dt.timedelta, reconcile_grace: dt.timedelta,
                 schedule_wrap_up_end: Callable[[str, float], None], region: str = "CN",
                 default_wrapup_s: float = 0.0, settings: Settings | None = None) -> None:
        self.callback_due = callback_due
        # The site's settings put callback due times inside opening hours.
        self.settings = settings
        self.region = region
        # A queue-level wrapuptime (queues.conf) is not in any AMI event: members report
        # only their own. This is used when a member reports 0.
        self.default_wrapup_s = default_wrapup_s
        self.reconcile_grace = reconcile_grace
        self.schedule_wrap_up_end = schedule_wrap_up_end
        self.hangup_requested: _Bounded = _Bounded()   # uniqueid → caller / system
        self.recordings: _Bounded = _Bounded()         # uniqueid → (linkedid, file) before the row exists
        self.wrapuptime: dict[str, int] = {}           # interface → seconds (member events)
        self.seen: set[str] = set()                    # uniqueids/linkedids since the last login

    def connected(self) -> None:
        self.seen.clear()

    # --- dispatch ------------------------------------------------------------------
    def apply(self, session: Session, msg: Message, at: dt.datetime) -> list[tuple[str, dict[str, Any]]]:
        name = msg.event
        out: list[tuple[str, dict[str, Any]]] = []
        for key in ("Uniqueid", "Linkedid", "DestUniqueid"):
            if msg.get(key):
                self.seen.add(msg.get(key))
        if name in MEMBER_EVENTS:
            self._member(session, msg, MEMBER_EVENTS[name], out)
            return out
        handler = getattr(self, f"_on_{name}", None)
        if handler is not None:
            handler(session, msg, at, out)
        return out

    # --- caller side --------------------------------------------------------------------
    def _on_QueueCallerJoin(self, session: Session, msg: Message, at: dt.datetime, out: list) -> None:
        _require(msg, "Uniqueid", "Queue")
        change = calltrack.caller_joined(session, caller_ref(msg, self.region), queue=msg.get("Queue"), at=at)
        self._apply_recording(session, msg.get("Uniqueid"))
        if change.changed:
            # The wallboard's "waiting" moves; no console is concerned (no interface).
            out.append((AGENT_TOPIC, {"type": "caller_join", "interface": "", "queue": change.call.queue,
                                      "linkedid": change.call.linkedid, "call_id": change.call.id}))

    def _on_QueueCallerAbandon(self, session: Session, msg: Message, at: dt.datetime, out: list) -> None:
        _require(msg, "Uniqueid", "Queue")
        uniqueid = msg.get("Uniqueid")
        hold_s = _int(msg, "HoldTime")
        # Asterisk reports a queue timeout as an abandon too; a caller who hung up
        # produced a HangupRequest first, a shutdown a SoftHangupRequest with Cause 4.
        side = self.hangup_requested.get(uniqueid, "queue_timeout")
        change = calltrack.caller_abandoned(session, caller_ref(msg, self.region), queue=msg.get("Queue"),
                                            hold_s=hold_s, side=side, at=at,
                                            callback_due=self.callback_due, settings=self.settings)
        self._apply_recording(session, uniqueid)
        if change.changed:
            out.append((AGENT_TOPIC, self._abandon_payload(change, msg.get("Queue"), hold_s)))

    def _abandon_payload(self, change: calltrack.Change, queue_name: str, hold_s: int | None,
                         **extra: Any) -> dict[str, Any]:
        call = change.call
        return {"type": "caller_abandon", "interface": "", "linkedid": call.linkedid,
                "uniqueid": call.uniqueid, "queue": queue_name or call.queue, "hold_time": hold_s,
                "caller_number": call.caller_number, "caller_name": call.caller_name, "call_id": call.id,
                "pop_key": call.screen_pop_key, "hangup_side": call.hangup_side,
                "callback_task_id": change.callback.id if change.callback is not None else None, **extra}

    def _on_HangupRequest(self, session: Session, msg: Message, at: dt.datetime, out: list) -> None:
        if msg.get("Uniqueid"):
            self.hangup_requested.setdefault(msg.get("Uniqueid"), "caller")

    def _on_SoftHangupRequest(self, session: Session, msg: Message, at: dt.datetime, out: list) -> None:
        if msg.get("Uniqueid") and msg.get("Cause") == SOFTHANGUP_SHUTDOWN:
            self.hangup_requested.setdefault(msg.get("Uniqueid"), "system")

    def _on_Hangup(self, session: Session, msg: Message, at: dt.datetime, out: list) -> None:
        _require(msg, "Uniqueid")
        uniqueid = msg.get("Uniqueid")
        change = calltrack.channel_hung_up(session, uniqueid=uniqueid, cause=msg.get("Cause"),
                                           cause_txt=msg.get("Cause-txt"), at=at,
                                           callback_due=self.callback_due, settings=self.settings)
        self.hangup_requested.pop(uniqueid, None)
        self.recordings.pop(uniqueid, None)
        if change is not None and change.callback is not None and change.changed:
            out.append((AGENT_TOPIC, self._abandon_payload(change, "", change.call.wait_seconds)))

    def _on_VarSet(self, session: Session, msg: Message, at: dt.datetime, out: list) -> None:
        variable, uniqueid = msg.get("Variable"), msg.get("Uniqueid")
        if not uniqueid:
            return
        if variable == "MIXMONITOR_FILENAME" and msg.get("Value"):
            self.recordings[uniqueid] = (msg.get("Linkedid"), msg.get("Value"))
            self._apply_recording(session, uniqueid)
        elif variable == "QUEUESTATUS" and msg.get("Value") == "TIMEOUT":
            calltrack.queue_timed_out(session, uniqueid=uniqueid)

    def _on_MixMonitorStart(self, session: Session, msg: Message, at: dt.datetime, out: list) -> None:
        # MixMonitorStart names no file; the VarSet just before it did.
        self._apply_recording(session, msg.get("Uniqueid"))

    def _apply_recording(self, session: Session, uniqueid: str) -> None:
        pending = self.recordings.get(uniqueid)
        if pending is None:
            return
        linkedid, filename = pending
        if calltrack.recording_started(session, uniqueid=uniqueid, linkedid=linkedid, filename=filename):
            self.recordings.pop(uniqueid, None)

    def _on_Cdr(self, session: Session, msg: Message, at: dt.datetime, out: list) -> None:
        if msg.get("UniqueID"):
            callerid = msg.get("CallerID")
            name = callerid.split('"')[1] if callerid.count('"') >= 2 else ""
            calltrack.cdr_received(session, uniqueid=msg.get("UniqueID"), source=_clean(msg.get("Source")),
                                   caller_name=name, recording_file=msg.get("RECORDING_FILE"))

    # --- agent side ---------------------------------------------------------------------------
    def _agent_fields(self, msg: Message) -> dict[str, Any]:
        _require(msg, "Uniqueid", "DestUniqueid", "Interface", "Queue")
        return {"dest_uniqueid": msg.get("DestUniqueid"), "interface": msg.get("Interface"),
                "member_name": msg.get("MemberName"), "queue": msg.get("Queue")}

    def _agent_payload(self, kind: str, msg: Message, change: calltrack.Change,
                       update: agents.AgentUpdate | None = None, **extra: Any) -> dict[str, Any]:
        call = change.call
        payload = {"type": kind, "interface": msg.get("Interface"), "linkedid": call.linkedid,
                   "uniqueid": call.uniqueid, "queue": msg.get("Queue"), "member_name": msg.get("MemberName"),
                   "call_id": call.id, "pop_key": call.screen_pop_key,
                   "user_id": update.user_id if update else None,
                   "agent_status": update.status.value if update and update.status else None}
        payload.update(extra)
        return payload

    def _publish_agent(self, update: agents.AgentUpdate, out: list) -> None:
        if update.changed:
            out.append((AGENT_TOPIC, update.payload()))

    def _on_AgentCalled(self, session: Session, msg: Message, at: dt.datetime, out: list) -> None:
        fields = self._agent_fields(msg)
        change = calltrack.agent_called(session, caller_ref(msg, self.region), at=at, **fields)
        self._apply_recording(session, msg.get("Uniqueid"))
        update = agents.agent_ringing(session, fields["interface"], change.call.linkedid)
        if change.changed:
            out.append((AGENT_TOPIC, self._agent_payload(
                "agent_called", msg, change, update, caller_number=change.call.caller_number,
                caller_name=change.call.caller_name, dest_uniqueid=fields["dest_uniqueid"])))
        self._publish_agent(update, out)

    def _on_AgentRingNoAnswer(self, session: Session, msg: Message, at: dt.datetime, out: list) -> None:
        fields = self._agent_fields(msg)
        ring_ms = _int(msg, "RingTime")  # milliseconds here, seconds in AgentConnect
        change = calltrack.agent_ring_no_answer(session, caller_ref(msg, self.region), ring_ms=ring_ms, at=at, **fields)
        update = agents.ring_ended(session, fields["interface"], change.call.linkedid)
        if change.changed:
            out.append((AGENT_TOPIC, self._agent_payload("ring_no_answer", msg, change, update, ring_ms=ring_ms)))
        self._publish_agent(update, out)

    def _on_DialEnd(self, session: Session, msg: Message, at: dt.datetime, out: list) -> None:
        if not (msg.get("Uniqueid") and msg.get("DestUniqueid")):
            return  # an originated call: no caller side, not a queue leg
        change = calltrack.dial_ended(session, caller_uniqueid=msg.get("Uniqueid"),
                                      dest_uniqueid=msg.get("DestUniqueid"),
                                      dial_status=msg.get("DialStatus"), at=at)
        if change is not None and change.changed and change.leg is not None:
            self._publish_agent(agents.ring_ended(session, change.leg.interface, change.call.linkedid), out)

    def _on_AgentDump(self, session: Session, msg: Message, at: dt.datetime, out: list) -> None:
        # The agent hung up during the announcement: the caller keeps waiting.
        if msg.get("Uniqueid") and msg.get("DestUniqueid"):
            calltrack.dial_ended(session, caller_uniqueid=msg.get("Uniqueid"),
                                 dest_uniqueid=msg.get("DestUniqueid"), dial_status="CANCEL", at=at)

    def _on_AgentConnect(self, session: Session, msg: Message, at: dt.datetime, out: list) -> None:
        fields = self._agent_fields(msg)
        hold_s, ring_s = _int(msg, "HoldTime"), _int(msg, "RingTime")
        change = calltrack.agent_connected(session, caller_ref(msg, self.region), hold_s=hold_s, ring_s=ring_s, at=at,
                                           **fields)
        update = agents.agent_answered(session, fields["interface"], change.call.linkedid)
        if change.changed:
            out.append((AGENT_TOPIC, self._agent_payload("agent_connect", msg, change, update,
                                                         hold_time=hold_s, ring_time=ring_s)))
        self._publish_agent(update, out)

    def _on_AgentComplete(self, session: Session, msg: Message, at: dt.datetime, out: list) -> None:
        if not msg.get("DestUniqueid"):
            # After a transfer (Redirect of the caller) the agent's channel is gone and
            # Asterisk leaves out the Dest* fields: the leg is the one this agent answered.
            _require(msg, "Uniqueid", "Interface", "Queue")
            dest = calltrack.connected_leg_dest(session, caller_ref(msg, self.region), msg.get("Interface"))
            if not dest:
                raise Malformed("AgentComplete without DestUniqueid, and no answered leg of that agent")
            msg = Message([*((k, v) for k, v in msg.fields if k.lower() != "destuniqueid"), ("DestUniqueid", dest)])
        fields = self._agent_fields(msg)
        hold_s, talk_s = _int(msg, "HoldTime"), _int(msg, "TalkTime")
        reason = msg.get("Reason")
        change = calltrack.agent_completed(session, caller_ref(msg, self.region), hold_s=hold_s, talk_s=talk_s,
                                           reason=reason, at=at, **fields)
        if controls.handed_over(session, change.call.id, fields["interface"]):
            # A blind transfer ended this agent's part (and started their wrap-up) when it
            # was made; Asterisk 22 reports AgentComplete only when the caller hangs up.
            update = agents.AgentUpdate(interface=fields["interface"])
        else:
            update = agents.agent_finished(session, fields["interface"], change.call.linkedid)
        if change.changed:
            out.append((AGENT_TOPIC, self._agent_payload("agent_complete", msg, change, update, hold_time=hold_s,
                                                         talk_time=talk_s, reason=reason)))
        self._publish_agent(update, out)
        self._time_wrap_up(update, fields["interface"])

    def _time_wrap_up(self, update: agents.AgentUpdate, interface: str) -> None:
        """An agent who just entered wrap-up leaves it after the member's (or queue's) wrap-up time."""
        wrapup = self.wrapuptime.get(interface, 0) or self.default_wrapup_s
        if update.changed and update.status == AgentStatus.WRAP_UP and wrapup > 0:
            self.schedule_wrap_up_end(interface, float(wrapup))

    def _member(self, session: Session, msg: Message, kind: str, out: list) -> None:
        _require(msg, "Interface", "Queue")
        fact = reconcile_mod.member_fact(msg)
        self.wrapuptime[fact.interface] = fact.wrapuptime
        update = agents.member_reported(session, fact, kind)
        out.append((AGENT_TOPIC, update.payload(fact, event=msg.event)))

    # --- jobs other than events -------------------------------------------------------------------
    def reconcile(self, session: Session, snap: reconcile_mod.Snapshot) -> tuple[list, dict[str, int]]:
        report = reconcile_mod.reconcile(session, snap, seen=self.seen, callback_due=self.callback_due,
                                         grace=self.reconcile_grace, settings=self.settings)
        out: list[tuple[str, dict[str, Any]]] = []
        for change in report.closed:
            if change.callback is not None:
                out.append((AGENT_TOPIC, self._abandon_payload(change, "", change.call.wait_seconds, lost=True)))
        for update in report.agents:
            out.append((AGENT_TOPIC, update.payload(event="reconcile")))
        summary = {"kept": len(report.kept), "closed": len(report.closed), "answered": len(report.answered),
                   "agents": len(report.agents)}
        return out, summary

    def read_cdrs(self, session: Session, path: Path) -> dict[str, int]:
        """Apply the lines Asterisk's CDR file gained since the last reading (its cursor is
        part of the same transaction): calls nobody followed get their row, their end and
        their callback task (services.calls.cdr_backfill)."""
        cursor = session.get(CdrCursor, str(path)) or CdrCursor(path=str(path), inode=0, offset=0)
        chunk = cdr.read_new(path, cursor.inode, cursor.offset)
        if chunk is None:
            return {}
        lines = [line for raw in chunk.lines if (line := cdr_backfill.parse_line(raw)) is not None]
        report = cdr_backfill.backfill(session, lines, region=self.region, callback_due=self.callback_due,
                                       settings=self.settings)
        cursor.inode, cursor.offset = chunk.inode, chunk.offset
        session.merge(cursor)
        return {"lines": len(chunk.lines), "created": report.created, "closed": report.closed,
                "callbacks": report.callbacks}

    def transfer_done(self, session: Session, answer: dict[str, Any], at: dt.datetime) -> list:
        """A console's transfer: on the call record, a pop for a receiving agent, and for a
        blind transfer Asterisk accepted the end of the first agent's part: wrap-up now
        (the caller left their phone; no AgentComplete comes until the caller hangs up)."""
        out = [(AGENT_TOPIC, payload) for payload in controls.record_transfer(session, answer, at=at)]
        interface, linkedid = str(answer.get("interface") or ""), str(answer.get("linkedid") or "")
        if answer.get("ok") and not answer.get("attended") and interface and linkedid:
            update = agents.agent_finished(session, interface, linkedid)
            self._publish_agent(update, out)
            self._time_wrap_up(update, interface)
        return out

    def wrap_up_end(self, session: Session, interface: str) -> list:
        update = agents.end_wrap_up(session, interface)
        return [(AGENT_TOPIC, update.payload(event="wrapuptime"))] if update.changed else []
