"""The AMI listener: one long-running AMI connection that keeps call records complete,
keeps agent states current, turns abandoned calls into callback tasks, tells the console
what happens (bus topic ``agent``) and executes the panel's requests (topic ``ami.action``).

Three threads, so that nothing slow ever stops the AMI reader:
- the asyncio loop (:class:`AMIListener`, this module): :class:`AMIClient` reads the
  socket, keeps only the events that matter (queue, agent, member, hangup, recording,
  Cdr) and queues them with their arrival time; it also runs reconciliation queries and
  panel actions;
- the tracker thread (:class:`~callcenter.ami.worker.EventWorker`): applies queued
  events to the database in arrival order, a batch per transaction, through
  :class:`~callcenter.ami.tracker.EventTracker` (``services.calls.calltrack`` and
  ``services.people.agents``); retries while the database is unreachable; logs and skips an
  event it cannot apply; publishes only after the commit, so the console never gets
  a screen-pop for a row it cannot read yet;
- the publisher thread (:class:`~callcenter.ami.publisher.BusPublisher`): hands
  messages to the bus; a slow bus (Redis far away) fills a bounded queue and drops with
  a count instead of blocking.

The event → record mapping is described in :mod:`callcenter.ami.tracker`; running the
listener in a thread or in the foreground is :mod:`callcenter.ami.process`.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from callcenter.ami import actions as panel_actions
from callcenter.ami import queue_hand
from callcenter.ami import reconcile as reconcile_mod
from callcenter.ami.client import AMIClient, AMIError
from callcenter.ami.protocol import Message
from callcenter.ami.publisher import ACTION_TOPIC, AGENT_TOPIC, RING_TOPIC, BusPublisher
from callcenter.ami.tracker import RELEVANT_EVENTS, RELEVANT_VARIABLES, EventTracker
from callcenter.ami.worker import EventWorker, Job, ListenerStats
from callcenter.bus.core import EventBus
from callcenter.db import session_factory, utcnow
from callcenter.services.calls import aging

log = logging.getLogger(__name__)


class AMIListener:
    """Run with ``await listener.run()`` on an event loop; stop with ``request_stop()``."""

    def __init__(self, settings, bus: EventBus, *, sessions: sessionmaker[Session] | None = None,
                 ping_interval_s: float = 20.0, ping_timeout_s: float = 5.0,
                 reconnect_min_s: float = 0.5, reconcile_grace_s: float = 5.0,
                 boot_wait_s: float = 3.0, execute_actions: bool = True,
                 wrapup_s: float | None = None, unreachable_hint: str = "") -> None:
        self.settings = settings
        self.bus = bus
        self.stats = ListenerStats()
        self.publisher = BusPublisher(bus)
        self.tracker = EventTracker(callback_due=dt.timedelta(hours=settings.callback_due_hours),
                                    reconcile_grace=dt.timedelta(seconds=reconcile_grace_s),
                                    schedule_wrap_up_end=self._schedule_wrap_up_end,
                                    region=settings.phone_region,
                                    default_wrapup_s=wrapup_s if wrapup_s is not None
                                    else settings.ami_wrapup_s, settings=settings)
        self.worker = EventWorker(sessions or session_factory(settings.database_url), self.tracker,
                                  self.publisher, self.stats)
        self.client = AMIClient(settings.ami_host, settings.ami_port, settings.ami_username, settings.ami_secret,
                                reconnect_min_s=reconnect_min_s, reconnect_max_s=settings.ami_reconnect_max_s,
                                ping_interval_s=ping_interval_s, ping_timeout_s=ping_timeout_s,
                                on_event=self._on_event, on_connect=self._on_connect,
                                unreachable_hint=unreachable_hint)
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
        self._spawn(self._reconcile_periodically())
        self._spawn(self._age_periodically())
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
        if name == "AgentCalled":
            self._ring_early(msg)
        if self.worker.submit(Job("event", utcnow(), message=msg)):
            self.stats.events_queued += 1

    def _ring_early(self, msg: Message) -> None:
        """Tell the consoles at once that a phone rings (topic ``agent.ring``), before the
        tracker has recorded it: the pop reads the calls row route_call wrote when the call
        came in, and an agent waits for nothing. The recorded ``agent_called`` follows on
        ``agent`` as always (for the state, and the pop of a call nobody recorded)."""
        if msg.get("Interface") and msg.get("DestUniqueid") and msg.get("Linkedid"):
            self.publisher.publish(RING_TOPIC, {
                "type": "agent_ringing", "interface": msg.get("Interface"), "linkedid": msg.get("Linkedid"),
                "uniqueid": msg.get("Uniqueid"), "dest_uniqueid": msg.get("DestUniqueid"),
                "queue": msg.get("Queue"), "member_name": msg.get("MemberName")})

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
        Logins ~0.2 s before its queues are loaded): first what its CDR file says of the
        calls that ended meanwhile, then the live channels and queues."""
        await self._wait_booted(connection)
        self.worker.submit(Job("snapshot", utcnow()))
        try:
            taken_at = utcnow()
            channels = await self.client.core_show_channels()
            status = await self.client.queue_status()
        except AMIError as exc:
            log.warning("AMI reconciliation skipped (%s); it runs again in %.0f s", exc,
                        self.settings.ami_reconcile_interval_s)
            return
        if generation != self._generation:
            return
        snap = reconcile_mod.Snapshot.from_lists(taken_at, channels.events, status.events)
        self.worker.gap = False
        self.worker.submit(Job("cdr", taken_at, path=Path(self.settings.asterisk_cdr_csv)))
        self.worker.submit(Job("reconcile", taken_at, snapshot=snap))

    async def _reconcile_periodically(self) -> None:
        """Reconciliation is not only for reconnects: a call younger than the grace at the
        last one, or whose end was lost, is looked at again at the next."""
        interval = self.settings.ami_reconcile_interval_s
        while True:
            await asyncio.sleep(interval)
            if self.client.connected:
                await self._reconcile(self._generation, self.client.stats.connections)

    # --- fair queues ---------------------------------------------------------------------------------
    async def _age_periodically(self) -> None:
        """Raise ordinary callers who have waited their queue's aging time (services/calls/aging.py)."""
        refused: set[int] = set()     # Asterisk said no (caller gone): not asked again
        while True:
            await asyncio.sleep(self.settings.queue_aging_check_s)
            if not self.client.connected:
                continue
            try:
                await self.age_once(refused)
            except AMIError as exc:
                log.warning("queue aging skipped (%s)", exc)
            except Exception:  # a database hiccup must not end the loop
                log.exception("queue aging failed; tried again in %.0f s", self.settings.queue_aging_check_s)

    async def age_once(self, refused: set[int] | None = None) -> int:
        refused = set() if refused is None else refused

        def find() -> list[aging.Raise]:
            with self.worker.sessions() as session:
                return aging.due(session, self.settings, utcnow())

        raised = 0
        for due in await asyncio.to_thread(find):
            if due.call_id in refused:
                continue
            result = await queue_hand.change_priority(self.client, due.queue, due.channel, due.priority)
            if result.success:
                raised += 1
                self.worker.submit(Job("caller_priority", utcnow(), data={"call_id": due.call_id,
                                                                          "priority": due.priority}))
            else:
                refused.add(due.call_id)
                log.info("queue aging: %s in %s not raised (%s)", due.channel, due.queue, result.message)
        return raised

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
        if result.get("op") == "transfer" and isinstance(result.get("call_id"), int):
            # Kept on the call record (and popped on a receiving agent) by the tracker,
            # after the answer below: the transferring console hears first.
            self.publisher.publish(AGENT_TOPIC, result)
            self.worker.submit(Job("transfer", utcnow(), data=result))
            return
        if result.get("action") == "CallerPriority" and result["ok"]:
            # Kept on the call and in the audit log (a supervisor's hand).
            self.worker.submit(Job("caller_priority", utcnow(), data={
                "call_id": result["call_id"], "priority": result["priority"], "user_id": result.get("user_id"),
                "detail": f"提前 priority {result['priority']} by request {result.get('request_id')}"}))
        if result.get("action") == "Originate" and result.get("attempt_id"):
            # The callback attempt learns how its click-to-dial went (before the console does).
            self.worker.submit(Job("dial_result", utcnow(), result=result))
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
