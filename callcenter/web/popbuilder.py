"""Screen-pops of calls that ring at the same moment are built together.

Each console's stream thread used to build its own pop (about ten queries) and write its
own audit entry; when 100 calls rang at once, that was 100 units of work one after the
other under one interpreter lock, and the last agent waited a second or two. Here a
stream hands its request to the process's builder thread and waits; the builder takes
everything waiting, builds it with ``screenpop.build_pops`` (a fixed number of queries
for the whole batch, one batch per role because numbers are masked by role) and wakes
each stream with its pop. While a stream waits for its pop, the bus's ``urgent`` mark
is held, so the AMI listener in the same process records a burst of rings after the
pops, not in the middle of building them.

Audit entries of the pops shown are written by a second thread, a batch per unit of
work (one INSERT), right after the pops went out: a write that waits for the database
(SQLite has one writer at a time) never holds up the next pops.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import threading
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from callcenter.services.calls import screenpop
from callcenter.services.calls.popbatch import PopRequest

log = logging.getLogger(__name__)

# How long a build may take before the stream gives up and sends the caller ID alone.
BUILD_TIMEOUT_S = 10.0


@dataclass
class _Slot:
    request: PopRequest
    role: str
    done: threading.Event = field(default_factory=threading.Event)
    pop: dict[str, Any] | None = None
    error: BaseException | None = None


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """No cyclic garbage collection while a batch is built: a full pass in a warmed-up
    web panel took 60-90 ms on a loaded machine, and it came in the middle of pops. It
    runs as usual right after the batch."""
    paused = gc.isenabled()
    if paused:
        gc.disable()
    try:
        yield
    finally:
        if paused:
            gc.enable()


class PopBuilder:
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._pending: list[_Slot] = []
        self._thread: threading.Thread | None = None
        self._panel: Any = None
        self._audit_cond = threading.Condition()
        self._audits: list[tuple[int | None, dict[str, Any], threading.Event]] = []
        self._audit_thread: threading.Thread | None = None
        self._audit_panel: Any = None

    def build(self, panel: Any, request: PopRequest, role: str) -> dict[str, Any]:
        """The pop for ``request`` as ``role`` sees it (raises what the build raised)."""
        slot = _Slot(request, role)
        with panel.bus.urgent.hold():
            with self._cond:
                self._ensure_thread(panel)
                self._pending.append(slot)
                self._cond.notify()
            if not slot.done.wait(BUILD_TIMEOUT_S):
                raise TimeoutError("the screen-pop was not built in time")
        if slot.error is not None:
            raise slot.error
        assert slot.pop is not None
        return slot.pop

    def audit(self, panel: Any, user_id: int | None, pop: dict[str, Any], wait_s: float = 5.0) -> None:
        """Record that ``user_id`` saw the pop: written with the other audits of the
        moment in one unit of work; returns once written (or logged as not written)."""
        if not pop.get("customer"):
            return
        written = threading.Event()
        with self._audit_cond:
            self._audit_panel = panel
            if self._audit_thread is None or not self._audit_thread.is_alive():
                self._audit_thread = threading.Thread(target=self._run_audits, name="screen-pop-audit",
                                                      daemon=True)
                self._audit_thread.start()
            self._audits.append((user_id, pop, written))
            self._audit_cond.notify()
        written.wait(wait_s)

    def _ensure_thread(self, panel: Any) -> None:
        self._panel = panel
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._run, name="screen-pop-builder", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._pending:
                    self._cond.wait()
                batch, self._pending = self._pending, []
                panel = self._panel
            self._build(panel, batch)

    def _run_audits(self) -> None:
        while True:
            with self._audit_cond:
                while not self._audits:
                    self._audit_cond.wait()
                audits, self._audits = self._audits, []
                panel = self._audit_panel
            self._write_audits(panel, audits)

    def _build(self, panel: Any, batch: list[_Slot]) -> None:
        by_role: dict[str, list[_Slot]] = defaultdict(list)
        for slot in batch:
            by_role[slot.role].append(slot)
        for role, slots in by_role.items():
            try:
                with panel.unit_of_work() as s, _collector_paused():
                    pops = screenpop.build_pops(s, panel.settings, [x.request for x in slots], role=role)
                for slot, pop in zip(slots, pops, strict=True):
                    slot.pop = pop
            except Exception as exc:  # noqa: BLE001 - each stream falls back to the caller ID
                for slot in slots:
                    slot.error = exc
            finally:
                for slot in slots:
                    slot.done.set()

    def _write_audits(self, panel: Any, audits: list[tuple[int | None, dict[str, Any], threading.Event]]) -> None:
        try:
            with panel.unit_of_work() as s:
                screenpop.record_pop_views(s, [(user_id, pop) for user_id, pop, _ in audits])
        except Exception:
            for user_id, pop, _ in audits:
                log.exception("AUDIT: could not record that user %s saw customer %s (linkedid %s)",
                              user_id, (pop.get("customer") or {}).get("id"), pop.get("linkedid"))
        finally:
            for _, _, written in audits:
                written.set()
