"""The AMI listener: one long-running AMI connection that keeps call records complete,
keeps agent states current, turns abandoned calls into callback tasks, tells the console
what happens (bus topic ``agent``) and executes the panel's requests (topic ``ami.action``).

Three threads, so that nothing slow ever stops the AMI reader:
- the asyncio loop: :class:`AMIClient` reads the socket, keeps only the events that
  matter (queue, agent, member, hangup, recording, Cdr) and queues them with their
  arrival time; it also runs reconciliation queries and panel actions;
- the tracker thread (:class:`EventWorker`): applies queued events to the database in
  arrival order, a batch per transaction, through ``services.calltrack`` and
  ``services.agents``; retries while the database is unreachable; logs and skips an
  event it cannot apply; publishes only after the commit, so the console never gets
  a screen-pop for a row it cannot read yet;
- the publisher thread (:class:`BusPublisher`): hands messages to the bus; a slow bus
  (Redis far away) fills a bounded queue and drops with a count instead of blocking.

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

import asyncio
import collections
import contextlib
import datetime as dt
import logging
import queue
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from callcenter.ami import actions as panel_actions
from callcenter.ami import reconcile as reconcile_mod
from callcenter.ami.client import AMIClient, AMIError
from callcenter.ami.protocol import Message
from callcenter.bus import EventBus
from callcenter.db import session_factory, utcnow
from callcenter.models import AgentStatus
from callcenter.services.calls import calltrack
from callcenter.services.people import agents, phones

log = logging.getLogger(__name__)

AGENT_TOPIC = "agent"
ACTION_TOPIC = "ami.action"

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


# --------------------------------------------------------------------------------------
# publishing
# --------------------------------------------------------------------------------------
class BusPublisher:
    """Hands payloads to the bus on its own thread; ``publish`` never blocks."""

    def __init__(self, bus: EventBus, maxsize: int = 10000) -> None:
        self.bus = bus
        self._queue: queue.Queue[tuple[str, dict[str, Any]] | None] = queue.Queue(maxsize)
        self._thread = threading.Thread(target=self._run, name="ami-bus-publisher", daemon=True)
        self.published = 0
        self.dropped = 0

    def start(self) -> None:
        self._thread.start()

    def publish(self, topic: str, payload: dict[str, Any]) -> None:
        try:
            self._queue.put_nowait((topic, payload))
        except queue.Full:
            self.dropped += 1
            if self.dropped in (1, 10, 100) or self.dropped % 1000 == 0:
                log.error("event bus is not keeping up: %d messages dropped", self.dropped)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            topic, payload = item
            if isinstance(payload, threading.Event):
                payload.set()  # a flush marker
                continue
            try:
                self.bus.publish(topic, payload)
                self.published += 1
            except Exception:  # noqa: BLE001 - a bus outage must not stop the publisher
                log.exception("publishing on the event bus failed; message dropped")

    def flush(self, timeout: float) -> bool:
        """Wait until everything handed over so far has reached the bus."""
        done = threading.Event()
        try:
            self._queue.put(("", done), timeout=timeout)  # type: ignore[arg-type]
        except queue.Full:
            return False
        return done.wait(timeout)

    def stop(self, timeout: float = 5.0) -> None:
        if self._thread.is_alive():
            with contextlib.suppress(queue.Full):
                self._queue.put(None, timeout=timeout)
            self._thread.join(timeout)


# --------------------------------------------------------------------------------------
# applying events
# --------------------------------------------------------------------------------------
@dataclass
class Job:
    kind: str  # event / connected / reconcile / wrap_up_end / barrier
    at: dt.datetime
    message: Message | None = None
    snapshot: reconcile_mod.Snapshot | None = None
    interface: str = ""
    done: threading.Event | None = None


@dataclass
class ListenerStats:
    events_received: int = 0
    events_queued: int = 0
    events_applied: int = 0
    malformed: int = 0
    failed: int = 0
    dropped: int = 0
    db_retries: int = 0
    reconciles: int = 0
    last_reconcile: dict[str, int] = field(default_factory=dict)


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
        dialled_number=exten if exten.lstrip("+").isdigit() else "", caller_e164=phones.normalize(number, region))


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
                 default_wrapup_s: float = 0.0) -> None:
        self.callback_due = callback_due
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
        calltrack.caller_joined(session, caller_ref(msg, self.region), queue=msg.get("Queue"), at=at)
        self._apply_recording(session, msg.get("Uniqueid"))

    def _on_QueueCallerAbandon(self, session: Session, msg: Message, at: dt.datetime, out: list) -> None:
        _require(msg, "Uniqueid", "Queue")
        uniqueid = msg.get("Uniqueid")
        hold_s = _int(msg, "HoldTime")
        # Asterisk reports a queue timeout as an abandon too; a caller who hung up
        # produced a HangupRequest first, a shutdown a SoftHangupRequest with Cause 4.
        side = self.hangup_requested.get(uniqueid, "queue_timeout")
        change = calltrack.caller_abandoned(session, caller_ref(msg, self.region), queue=msg.get("Queue"),
                                            hold_s=hold_s, side=side, at=at,
                                            callback_due=self.callback_due)
        self._apply_recording(session, uniqueid)
        if change.changed:
            out.append((AGENT_TOPIC, self._abandon_payload(change, msg.get("Queue"), hold_s)))

    def _abandon_payload(self, change: calltrack.Change, queue_name: str, hold_s: int | None,
                         **extra: Any) -> dict[str, Any]:
        call = change.call
        return {"type": "caller_abandon", "interface": "", "linkedid": call.linkedid,
                "uniqueid": call.uniqueid, "queue": queue_name or call.queue, "hold_time": hold_s,
                "caller_number": call.caller_number, "caller_name": call.caller_name, "call_id": call.id,
                "hangup_side": call.hangup_side,
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
                                           callback_due=self.callback_due)
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
                   "call_id": call.id, "user_id": update.user_id if update else None,
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
        fields = self._agent_fields(msg)
        hold_s, talk_s = _int(msg, "HoldTime"), _int(msg, "TalkTime")
        reason = msg.get("Reason")
        change = calltrack.agent_completed(session, caller_ref(msg, self.region), hold_s=hold_s, talk_s=talk_s,
                                           reason=reason, at=at, **fields)
        update = agents.agent_finished(session, fields["interface"], change.call.linkedid)
        if change.changed:
            out.append((AGENT_TOPIC, self._agent_payload("agent_complete", msg, change, update, hold_time=hold_s,
                                                         talk_time=talk_s, reason=reason)))
        self._publish_agent(update, out)
        wrapup = self.wrapuptime.get(fields["interface"], 0) or self.default_wrapup_s
        if update.changed and update.status == AgentStatus.WRAP_UP and wrapup > 0:
            self.schedule_wrap_up_end(fields["interface"], float(wrapup))

    def _member(self, session: Session, msg: Message, kind: str, out: list) -> None:
        _require(msg, "Interface", "Queue")
        fact = reconcile_mod.member_fact(msg)
        self.wrapuptime[fact.interface] = fact.wrapuptime
        update = agents.member_reported(session, fact, kind)
        out.append((AGENT_TOPIC, update.payload(fact, event=msg.event)))

    # --- jobs other than events -------------------------------------------------------------------
    def reconcile(self, session: Session, snap: reconcile_mod.Snapshot) -> tuple[list, dict[str, int]]:
        report = reconcile_mod.reconcile(session, snap, seen=self.seen, callback_due=self.callback_due,
                                         grace=self.reconcile_grace)
        out: list[tuple[str, dict[str, Any]]] = []
        for change in report.closed:
            if change.callback is not None:
                out.append((AGENT_TOPIC, self._abandon_payload(change, "", change.call.wait_seconds, lost=True)))
        for update in report.agents:
            out.append((AGENT_TOPIC, update.payload(event="reconcile")))
        summary = {"kept": len(report.kept), "closed": len(report.closed), "answered": len(report.answered),
                   "agents": len(report.agents)}
        return out, summary

    def wrap_up_end(self, session: Session, interface: str) -> list:
        update = agents.end_wrap_up(session, interface)
        return [(AGENT_TOPIC, update.payload(event="wrapuptime"))] if update.changed else []


class EventWorker:
    """Applies jobs in arrival order on one thread; see the module docstring."""

    def __init__(self, sessions: sessionmaker[Session], tracker: EventTracker, publisher: BusPublisher,
                 stats: ListenerStats, *, maxsize: int = 50000, batch: int = 200) -> None:
        self.sessions = sessions
        self.tracker = tracker
        self.publisher = publisher
        self.stats = stats
        self.batch = batch
        self._queue: queue.Queue[Job | None] = queue.Queue(maxsize)
        self._timers: list[tuple[float, str]] = []
        self._timer_lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ami-tracker", daemon=True)
        self.gap = False  # events were dropped: the next reconcile should repair

    def start(self) -> None:
        self._thread.start()

    def submit(self, job: Job) -> bool:
        try:
            self._queue.put_nowait(job)
            return True
        except queue.Full:
            self.stats.dropped += 1
            self.gap = True
            if self.stats.dropped in (1, 10, 100) or self.stats.dropped % 1000 == 0:
                log.error("AMI tracker cannot keep up (database slow or down): %d events dropped; "
                          "a reconciliation will repair the records", self.stats.dropped)
            return False

    def schedule(self, interface: str, delay_s: float) -> None:
        with self._timer_lock:
            self._timers.append((time.monotonic() + delay_s, interface))

    def wait_idle(self, timeout: float) -> bool:
        done = threading.Event()
        job = Job("barrier", utcnow(), done=done)
        deadline = time.monotonic() + timeout
        while not self.submit(job):
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return done.wait(max(0.0, deadline - time.monotonic()))

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            with contextlib.suppress(queue.Full):
                self._queue.put(None, timeout=timeout)
            self._thread.join(timeout)

    def _due_timers(self) -> list[Job]:
        now = time.monotonic()
        with self._timer_lock:
            due = [t for t in self._timers if t[0] <= now]
            self._timers = [t for t in self._timers if t[0] > now]
        return [Job("wrap_up_end", utcnow(), interface=i) for _, i in due]

    def _run(self) -> None:
        while True:
            try:
                first = self._queue.get(timeout=0.2)
            except queue.Empty:
                first = None
                if self._stopping.is_set():
                    return
            jobs = self._due_timers()
            if first is not None:
                jobs.append(first)
            while len(jobs) < self.batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    self._stopping.set()
                    break
                jobs.append(item)
            if jobs:
                self._process(jobs)
            if first is None and self._stopping.is_set() and self._queue.empty():
                return

    def _process(self, jobs: list[Job]) -> None:
        barriers = [j for j in jobs if j.kind == "barrier"]
        work = [j for j in jobs if j.kind != "barrier"]
        try:
            if work:
                self._apply_with_retry(work)
        finally:
            for job in barriers:
                assert job.done is not None
                job.done.set()

    def _apply_with_retry(self, jobs: list[Job]) -> None:
        delay = 0.5
        while True:
            try:
                self._apply(jobs)
                return
            except (OperationalError, DBAPIError) as exc:
                if isinstance(exc, DBAPIError) and not isinstance(exc, OperationalError) \
                        and not exc.connection_invalidated:
                    break  # not a connectivity problem: fall through to one-by-one
                self.stats.db_retries += 1
                if self._stopping.is_set():
                    log.error("database unreachable while stopping: %d AMI events not recorded (%s)",
                              len(jobs), exc.__class__.__name__)
                    return
                log.error("database unreachable (%s); retrying %d AMI events in %.1f s",
                          str(exc).splitlines()[0][:200], len(jobs), delay)
                time.sleep(delay)
                delay = min(delay * 2, 30.0)
            except Exception:  # noqa: BLE001 - isolate the bad event below
                break
        if len(jobs) == 1:
            self._apply_one_logged(jobs[0])
            return
        for job in jobs:
            self._apply_one_logged(job)

    def _apply_one_logged(self, job: Job) -> None:
        try:
            self._apply([job])
        except Exception:  # noqa: BLE001 - one bad event must not stop the tracker
            self.stats.failed += 1
            log.exception("AMI event could not be applied and was skipped: %r",
                          job.message.fields[:6] if job.message else job.kind)

    def _apply(self, jobs: list[Job]) -> None:
        messages: list[tuple[str, dict[str, Any]]] = []
        applied = 0
        malformed = 0
        session = self.sessions()
        try:
            for job in jobs:
                if job.kind == "event":
                    assert job.message is not None
                    try:
                        # Handlers check every field before they write anything, so a
                        # malformed event leaves no trace in the transaction.
                        messages.extend(self.tracker.apply(session, job.message, job.at))
                        applied += 1
                    except Malformed as exc:
                        malformed += 1
                        log.warning("malformed AMI event skipped: %s", exc)
                elif job.kind == "connected":
                    self.tracker.connected()
                elif job.kind == "reconcile":
                    assert job.snapshot is not None
                    out, summary = self.tracker.reconcile(session, job.snapshot)
                    messages.extend(out)
                    self.stats.reconciles += 1
                    self.stats.last_reconcile = summary
                    log.info("AMI reconciliation: %s", summary)
                elif job.kind == "wrap_up_end":
                    messages.extend(self.tracker.wrap_up_end(session, job.interface))
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()
        self.stats.events_applied += applied
        self.stats.malformed += malformed
        for topic, payload in messages:
            self.publisher.publish(topic, payload)


# --------------------------------------------------------------------------------------
# the listener
# --------------------------------------------------------------------------------------
class AMIListener:
    """Run with ``await listener.run()`` on an event loop; stop with ``request_stop()``."""

    def __init__(self, settings, bus: EventBus, *, sessions: sessionmaker[Session] | None = None,
                 ping_interval_s: float = 20.0, ping_timeout_s: float = 5.0,
                 reconnect_min_s: float = 0.5, reconcile_grace_s: float = 5.0,
                 boot_wait_s: float = 3.0, execute_actions: bool = True,
                 wrapup_s: float | None = None) -> None:
        self.settings = settings
        self.bus = bus
        self.stats = ListenerStats()
        self.publisher = BusPublisher(bus)
        self.tracker = EventTracker(callback_due=dt.timedelta(hours=settings.callback_due_hours),
                                    reconcile_grace=dt.timedelta(seconds=reconcile_grace_s),
                                    schedule_wrap_up_end=self._schedule_wrap_up_end,
                                    region=settings.phone_region,
                                    default_wrapup_s=wrapup_s if wrapup_s is not None
                                    else settings.ami_wrapup_s)
        self.worker = EventWorker(sessions or session_factory(settings.database_url), self.tracker,
                                  self.publisher, self.stats)
        self.client = AMIClient(settings.ami_host, settings.ami_port, settings.ami_username, settings.ami_secret,
                                reconnect_min_s=reconnect_min_s, reconnect_max_s=settings.ami_reconnect_max_s,
                                ping_interval_s=ping_interval_s, ping_timeout_s=ping_timeout_s,
                                on_event=self._on_event, on_connect=self._on_connect)
        self.boot_wait_s = boot_wait_s
        self.execute_actions = execute_actions
        self.loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._booted: asyncio.Event | None = None
        self._tasks: set[asyncio.Task] = set()
        self._generation = 0
        self._booted_connection = -1

    # --- running ---------------------------------------------------------------------
    async def run(self) -> None:
        self.loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self._booted = asyncio.Event()
        self.publisher.start()
        self.worker.start()
        client_task = asyncio.ensure_future(self.client.run())
        action_task = asyncio.ensure_future(self._action_loop()) if self.execute_actions else None
        log.info("AMI listener started for %s", self.client.where)
        try:
            await self._stop.wait()
        finally:
            for task in [action_task, *self._tasks]:
                if task is not None:
                    task.cancel()
            await self.client.close()
            with contextlib.suppress(asyncio.CancelledError):
                await client_task
            await asyncio.to_thread(self.worker.stop)
            await asyncio.to_thread(self.publisher.stop)
            log.info("AMI listener stopped (%s)", self.stats)

    def request_stop(self) -> None:
        """Thread-safe; the listener logs off and finishes the queued events."""
        if self.loop is not None and self._stop is not None:
            self.loop.call_soon_threadsafe(self._stop.set)

    def _spawn(self, coro) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- AMI callbacks (event loop thread: must not block) -------------------------------------------
    def _on_event(self, msg: Message) -> None:
        self.stats.events_received += 1
        name = msg.event
        if name == "FullyBooted":
            assert self._booted is not None
            self._booted_connection = self.client.stats.connections
            self._booted.set()
            return
        if name == "VarSet" and msg.get("Variable") not in RELEVANT_VARIABLES:
            return
        if name not in RELEVANT_EVENTS and name != "VarSet":
            return
        if self.worker.submit(Job("event", utcnow(), message=msg)):
            self.stats.events_queued += 1

    def _on_connect(self, client: AMIClient) -> None:
        self._generation += 1
        self.worker.submit(Job("connected", utcnow()))
        self._spawn(self._reconcile(self._generation, client.stats.connections))

    async def _wait_booted(self, connection: int) -> None:
        assert self._booted is not None
        deadline = time.monotonic() + self.boot_wait_s
        while self._booted_connection != connection:
            self._booted.clear()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._booted.wait(), remaining)

    async def _reconcile(self, generation: int, connection: int) -> None:
        """Ask Asterisk for the present once it is fully booted (after a restart it takes
        Logins ~0.2 s before its queues are loaded)."""
        await self._wait_booted(connection)
        try:
            taken_at = utcnow()
            channels = await self.client.core_show_channels()
            status = await self.client.queue_status()
        except AMIError as exc:
            log.warning("AMI reconciliation skipped (%s); it runs again on the next connection", exc)
            return
        if generation != self._generation:
            return
        snap = reconcile_mod.Snapshot.from_lists(taken_at, channels.events, status.events)
        self.worker.gap = False
        self.worker.submit(Job("reconcile", taken_at, snapshot=snap))

    def _schedule_wrap_up_end(self, interface: str, delay_s: float) -> None:
        self.worker.schedule(interface, delay_s)

    # --- panel requests -----------------------------------------------------------------------------
    async def _action_loop(self) -> None:
        subscription = self.bus.subscribe(ACTION_TOPIC)
        try:
            while True:
                item = await asyncio.to_thread(subscription.get, 0.5)
                if item is None:
                    continue
                self._spawn(self._execute(item[1]))
        finally:
            subscription.close()

    async def _execute(self, request: Any) -> None:
        result = await panel_actions.execute(self.client, request)
        if not result["ok"]:
            log.warning("panel request %s failed: %s", result.get("request_id"), result["message"])
        self.publisher.publish(AGENT_TOPIC, result)

    # --- for tests, benchmarks and the demo ------------------------------------------------------------------
    async def sync(self, timeout: float = 10.0, *, bus: bool = True) -> bool:
        """Return once every event Asterisk sent before now has been applied and announced:
        a Ping round trip (the answer comes after everything sent earlier), then the
        tracker drains, then the publisher. False if not connected."""
        if not await self.client.wait_connected(timeout):
            return False
        try:
            await self.client.ping()
        except AMIError:
            return False
        if not await asyncio.to_thread(self.worker.wait_idle, timeout):
            return False
        return not bus or await asyncio.to_thread(self.publisher.flush, timeout)


class ListenerThread:
    """The listener on a background thread with its own event loop - what an all-in-one
    process (``callcenter serve``) starts next to its web server::

        handle = start_listener_thread(settings, bus)
        ...
        handle.stop()          # logs off, applies what is queued, joins
    """

    def __init__(self, settings, bus: EventBus, **options: Any) -> None:
        self.listener = AMIListener(settings, bus, **options)
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ami-listener", daemon=True)
        self.error: BaseException | None = None

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            task = loop.create_task(self.listener.run())
            loop.call_soon(self._ready.set)
            loop.run_until_complete(task)
        except BaseException as exc:  # noqa: BLE001 - reported to whoever joins
            self.error = exc
            log.exception("AMI listener thread failed")
        finally:
            self._ready.set()
            loop.close()

    def start(self) -> ListenerThread:
        self._thread.start()
        self._ready.wait(10)
        return self

    def stop(self, timeout: float = 15.0) -> None:
        self.listener.request_stop()
        self._thread.join(timeout)

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    def _call(self, coro, timeout: float) -> Any:
        loop = self.listener.loop
        if loop is None:
            raise RuntimeError("listener is not running")
        return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout)

    def wait_connected(self, timeout: float = 10.0) -> bool:
        return self._call(self.listener.client.wait_connected(timeout), timeout + 1)

    def sync(self, timeout: float = 10.0, *, bus: bool = True) -> bool:
        return self._call(self.listener.sync(timeout, bus=bus), timeout * 3 + 1)

    @property
    def stats(self) -> ListenerStats:
        return self.listener.stats

    def __enter__(self) -> ListenerThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_listener_thread(settings, bus: EventBus, **options: Any) -> ListenerThread:
    """Start the AMI listener in a background thread that shares ``bus`` with the caller."""
    return ListenerThread(settings, bus, **options).start()


def run_listener(settings, bus: EventBus | None = None) -> None:
    """Run the listener in the foreground until SIGTERM/SIGINT (``callcenter ami``)."""
    from callcenter.bus import make_bus

    bus = bus or make_bus(settings)
    listener = AMIListener(settings, bus)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, listener.request_stop)
        await listener.run()

    try:
        asyncio.run(main())
    finally:
        bus.close()
