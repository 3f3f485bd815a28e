"""The tracker thread: applies queued AMI jobs to the database in arrival order.

A batch of jobs per transaction (one commit per batch of up to ``YIELD_EVERY`` jobs,
opened through the project's unit of work); retries while the database is unreachable; when a batch fails for
another reason, applies its jobs one by one so that only the bad event is logged and
skipped; publishes only after the commit, so the console never gets a screen-pop for a
row it cannot read yet. Separate from :mod:`callcenter.ami.tracker` (what an event
means) and from the listener (the asyncio side), because this is the part that waits
on the database, and nothing that waits may run on the AMI reader's loop.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from callcenter.ami import reconcile as reconcile_mod
from callcenter.ami.protocol import Message
from callcenter.ami.publisher import AGENT_TOPIC, RING_TOPIC, BusPublisher
from callcenter.ami.tracker import EventTracker, Malformed
from callcenter.db import session_scope_from, utcnow
from callcenter.services.calls import aging, callbacks

log = logging.getLogger(__name__)


# A batch with this many AgentCalled is a burst (many calls ringing in one instant); a
# batch with fewer is looked at again this much later, since the AMI reader may have
# handed over only the first rings of a burst yet ...
BURST_RINGS = 10
BURST_SETTLE_S = 0.02
# ... whose recording waits this long, so that the pops are built first (p99 of the
# pop latency in a 100-call burst: bench/screenpop.py) ...
BURST_YIELD_S = 0.25
# When the consoles share this process, AgentCalled are recorded once the rings
# announced are popped (the bus's ``urgent`` mark), waiting at most this much.
BURST_WAIT_MAX_S = 2.0
# A long batch is applied in parts of this many jobs (one transaction each), and looks
# for rings to let go first between two parts: a burst that comes while the previous
# one is being recorded does not wait for all of it.
YIELD_EVERY = 25


@dataclass
class Job:
    kind: str  # event / connected / snapshot / cdr / reconcile / wrap_up_end / transfer / dial_result / caller_priority / barrier
    at: dt.datetime
    message: Message | None = None
    snapshot: reconcile_mod.Snapshot | None = None
    interface: str = ""
    path: Path | None = None             # the CDR file, for kind "cdr"
    data: dict[str, Any] | None = None   # the console's answer, for kind "transfer"
    done: threading.Event | None = None
    result: dict[str, Any] | None = None  # the action_result, for kind "dial_result"


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
            self._take_more(jobs)
            if jobs:
                self._let_pops_go_first(jobs)
                for start in range(0, len(jobs), YIELD_EVERY):
                    if start:
                        self._yield_to_pops()
                    self._process(jobs[start:start + YIELD_EVERY])
            if first is None and self._stopping.is_set() and self._queue.empty():
                return

    def _take_more(self, jobs: list[Job]) -> None:
        """Add what is queued to ``jobs``, up to a batch."""
        while len(jobs) < self.batch:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            if item is None:
                self._stopping.set()
                return
            jobs.append(item)

    @staticmethod
    def _rings(jobs: list[Job]) -> int:
        return sum(1 for j in jobs if j.kind == "event" and j.message is not None
                   and j.message.event == "AgentCalled")

    def _let_pops_go_first(self, jobs: list[Job]) -> None:
        """Phones began to ring: the consoles are building their pops from the early
        announcements (topic agent.ring) right now, on the same interpreter when the
        panel runs in this process, and recording the rings waits until those pops are
        out (the bus's urgent mark, held from the announcement on); so does any other
        event that comes while the mark is held (the calls of a burst bring their
        Newchannel and QueueCallerJoin along). A panel in another process marks nothing
        here: a burst there gets the fixed wait only."""
        rings = self._rings(jobs)
        if self._stopping.is_set():
            return
        if rings:
            if rings < BURST_RINGS:
                time.sleep(BURST_SETTLE_S)
                self._take_more(jobs)
                rings = self._rings(jobs)
            if rings >= BURST_RINGS and not self._stopping.is_set():
                time.sleep(BURST_YIELD_S)
        self._yield_to_pops()

    def _yield_to_pops(self) -> None:
        """When phones began to ring and their consoles share this process, the work at
        hand (a batch, or the rest of a long one) waits for the pops."""
        bus = self.publisher.bus
        if bus.urgent.active and bus.has_subscribers(RING_TOPIC):
            bus.urgent.wait_quiet(BURST_WAIT_MAX_S)

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
        except Exception:  # one bad event must not stop the tracker
            self.stats.failed += 1
            log.exception("AMI event could not be applied and was skipped: %r",
                          job.message.fields[:6] if job.message else job.kind)

    def _apply(self, jobs: list[Job]) -> None:
        messages: list[tuple[str, dict[str, Any]]] = []
        applied = 0
        malformed = 0
        # One unit of work per batch: commit once, roll back on any exception.
        with session_scope_from(self.sessions) as session:
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
                elif job.kind in ("connected", "snapshot"):
                    # Events from here on were sent after the snapshot was asked for.
                    self.tracker.connected()
                elif job.kind == "cdr":
                    assert job.path is not None
                    summary = self.tracker.read_cdrs(session, job.path)
                    if summary.get("lines"):
                        log.info("Asterisk's CDR file: %s", summary)
                elif job.kind == "reconcile":
                    assert job.snapshot is not None
                    out, summary = self.tracker.reconcile(session, job.snapshot)
                    messages.extend(out)
                    self.stats.reconciles += 1
                    self.stats.last_reconcile = summary
                    log.info("AMI reconciliation: %s", summary)
                elif job.kind == "wrap_up_end":
                    messages.extend(self.tracker.wrap_up_end(session, job.interface))
                elif job.kind == "transfer":
                    messages.extend(self.tracker.transfer_done(session, job.data or {}, job.at))
                elif job.kind == "dial_result":
                    assert job.result is not None
                    callbacks.record_dial_result(session, job.result)
                elif job.kind == "caller_priority":
                    data = job.data or {}
                    call = aging.raised(session, int(data["call_id"]), int(data["priority"]), job.at,
                                        user_id=data.get("user_id"), detail=str(data.get("detail") or ""))
                    if call is not None:      # the wallboard's waiting callers change
                        messages.append((AGENT_TOPIC, {"type": "caller_priority", "interface": "",
                                                       "linkedid": call.linkedid, "call_id": call.id,
                                                       "queue": call.queue, "priority": call.aged_priority}))
        self.stats.events_applied += applied
        self.stats.malformed += malformed
        for topic, payload in messages:
            self.publisher.publish(topic, payload)
