"""Places the claimed survey calls (AMI Originate, async) and stores what Asterisk answers.

A thread with its own event loop and AMI connection, owned by the scheduler process (the
CLI hands it to the jobs). ``submit(claims)`` is called by the dispatch job after the
attempts are committed; each Originate goes out at its planned time into the
``[survey]`` context with ``CC_SURVEY_ID=<attempt id>`` and ActionID ``survey-<id>``.
Before each Originate the ``fence`` is asked whether this process may still dial (the
scheduler lock is held): a process that lost it sends nothing more.

Asterisk 22 answers a 486 Busy with ``Reason: 0`` like an unknown endpoint; the busy
channel's ``Hangup`` (Cause 17) comes just before. The channel is tied to its attempt by
its account code: the Originate sets ``Account: survey-<id>``, which every channel event
(and the CDR) carries as ``AccountCode`` — the AMI user does not read the "dialplan"
class, so the VarSet of CC_SURVEY_ID never arrives (asterisk_conf/manager.conf).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
import time
from collections.abc import Callable

from callcenter.ami.client import AMIClient, AMIConnectionError, AMIError
from callcenter.ami.protocol import Message
from callcenter.db import session_scope, utcnow
from callcenter.services.surveys import dispatch
from callcenter.services.surveys.dispatch import Claim

log = logging.getLogger(__name__)

_BUSY_MEMORY_S = 5.0
# How long a Reason-0 answer waits for the channel's Cause-17 Hangup that says "busy".
_BUSY_WAIT_S = 1.0


class SurveyDialer:
    def __init__(self, settings, *, fence: Callable[[], bool] | None = None) -> None:
        self.settings = settings
        self.fence = fence
        self.client = AMIClient(settings.ami_host, settings.ami_port, settings.ami_username, settings.ami_secret,
                                reconnect_max_s=settings.ami_reconnect_max_s, on_event=self._on_event)
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._busy: dict[str, float] = {}                # attempt id → when its channel hung up busy
        self.in_flight = 0
        self.sent: dict[int, float] = {}          # attempt id → when its Originate went out (time.time)
        self.max_in_flight = 0

    # --- lifecycle ----------------------------------------------------------------------
    def start(self) -> SurveyDialer:
        self._thread = threading.Thread(target=self._run, name="survey-dialer", daemon=True)
        self._thread.start()
        self._ready.wait(10)
        return self

    def _run(self) -> None:
        self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self.loop)
        task = self.loop.create_task(self.client.run())
        self._ready.set()
        try:
            self.loop.run_until_complete(task)
            # What was still running when the client stopped (its Logoff, placed calls).
            pending = asyncio.all_tasks(self.loop)
            for leftover in pending:
                leftover.cancel()
            self.loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        finally:
            self.loop.close()

    def stop(self, timeout: float = 5.0) -> None:
        if self.loop is None or self.loop.is_closed():
            return
        with_future = asyncio.run_coroutine_threadsafe(self.client.close(), self.loop)
        try:
            with_future.result(timeout)
        except (concurrent.futures.TimeoutError, RuntimeError):
            pass
        if self._thread is not None:
            self._thread.join(timeout)

    def wait_connected(self, timeout: float = 10.0) -> bool:
        assert self.loop is not None
        return asyncio.run_coroutine_threadsafe(self.client.wait_connected(timeout), self.loop).result(timeout + 1)

    # --- dialling -----------------------------------------------------------------------
    def submit(self, claims: list[Claim]) -> None:
        if not claims:
            return
        assert self.loop is not None
        for claim in claims:
            self.loop.call_soon_threadsafe(lambda c=claim: self.loop.create_task(self._place(c)))

    async def _place(self, claim: Claim) -> None:
        delay = (claim.planned_at - utcnow()).total_seconds()
        if delay > 0:
            await asyncio.sleep(delay)
        if self.fence is not None and not await asyncio.to_thread(self.fence):
            log.error("survey attempt %s not dialled: this scheduler lost its lock", claim.attempt_id)
            return      # stays open; the new holder's recovery settles it as never dialled
        resource = self.settings.survey_dial.format(number=claim.number)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            self.sent[claim.attempt_id] = time.time()
            result = await self.client.originate(
                resource, context="survey", exten="s", priority=1,
                timeout_ms=self.settings.survey_ring_timeout_s * 1000, caller_id=self.settings.survey_caller_id,
                variables={"CC_SURVEY_ID": str(claim.attempt_id)}, account=claim.action_id,
                action_id=claim.action_id)
        except AMIConnectionError as exc:
            self.sent.pop(claim.attempt_id, None)
            await asyncio.to_thread(self._write, dispatch.not_sent, claim.attempt_id, why=str(exc))
            return
        except AMIError as exc:
            # Sent, but no OriginateResponse: crash recovery settles it from what Asterisk saw.
            log.warning("survey attempt %s: %s; left to recovery", claim.attempt_id, exc)
            return
        finally:
            self.in_flight -= 1
        if result.event is None:          # the Originate itself was refused
            await asyncio.to_thread(self._write, dispatch.record_originate, claim.attempt_id,
                                    success=False, reason=None)
            return
        busy = await self._wait_busy(claim.attempt_id) if not result.success and result.reason == 0 else False
        await asyncio.to_thread(self._write, dispatch.record_originate, claim.attempt_id,
                                success=result.success, reason=result.reason, channel=result.channel,
                                uniqueid=result.uniqueid, busy_seen=busy)

    def _write(self, fn, attempt_id: int, **kw) -> None:
        with session_scope(self.settings.database_url) as session:
            fn(session, self.settings, attempt_id, now=utcnow(), **kw)

    # --- events -------------------------------------------------------------------------
    def _on_event(self, message: Message) -> None:
        if message.event == "Hangup" and message.get("Cause") == "17":
            attempt = dispatch.attempt_id_from(message.get("AccountCode"))
            if attempt is not None:
                self._busy[str(attempt)] = time.monotonic()
                if len(self._busy) > 1000:
                    now = time.monotonic()
                    self._busy = {k: t for k, t in self._busy.items() if now - t < _BUSY_MEMORY_S}

    async def _wait_busy(self, attempt_id: int, wait_s: float = _BUSY_WAIT_S) -> bool:
        """Reason 0 is busy or an unknown endpoint: the channel's Cause-17 Hangup tells which.
        It usually comes just before the OriginateResponse, but the two travel apart (the
        Hangup through the event callback), so it is also waited for a moment."""
        deadline = time.monotonic() + wait_s
        while True:
            if self._busy_seen(attempt_id):
                return True
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(0.02)

    def _busy_seen(self, attempt_id: int) -> bool:
        seen = self._busy.pop(str(attempt_id), None)
        return seen is not None and time.monotonic() - seen < _BUSY_MEMORY_S

    def live_channels(self, timeout: float = 10.0) -> list[dict[str, str]] | None:
        """CoreShowChannels as dicts (Channel, ApplicationData ...); None when AMI is down."""
        if self.loop is None or not self.client.connected:
            return None
        try:
            result = asyncio.run_coroutine_threadsafe(self.client.core_show_channels(), self.loop).result(timeout)
        except (AMIError, concurrent.futures.TimeoutError):
            return None
        return [dict(event.fields) for event in result.events]


def fenced_dialer(settings) -> Callable[[Callable[[], bool]], SurveyDialer]:
    """How the scheduler makes its dialer when it takes the lead
    (``scheduler.standby.StandbyScheduler``'s ``make_dialer``): started, and asking the
    lock's ``fence()`` before each Originate."""
    return lambda fence: SurveyDialer(settings, fence=fence).start()
