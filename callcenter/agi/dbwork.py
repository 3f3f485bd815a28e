"""Database work of an AGI route: off the event loop, bounded, under a time budget.

``executor_runner`` is the FastAGI server's ``run_db``: a bounded thread pool where a
piece of work that would miss the route's budget is refused at once (load shedding),
so an overloaded database costs callers the fallback route, never silence. The
per-call scripts have their own runner (``callcenter.agi.pyst.thread_runner``) with the
same contract.
"""

from __future__ import annotations

import asyncio
import functools
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from typing import Any, TypeVar

from sqlalchemy import Engine

T = TypeVar("T")
DbRunner = Callable[[Callable[..., Any], tuple, dict], Awaitable[Any]]


class RouteBudgetExceeded(TimeoutError):
    """A database step (or the whole handler) ran past its time budget."""


def in_session(engine: Engine, fn: Callable[..., T], args: tuple, kw: dict) -> T:
    from callcenter.db import session_scope_on

    with session_scope_on(engine) as session:
        return fn(session, *args, **kw)


def in_transaction(engine: Engine, fn: Callable[..., T], args: tuple, kw: dict) -> T:
    with engine.begin() as connection:
        return fn(connection, *args, **kw)


def executor_runner(executor: Executor, budget_s: float, workers: int,
                    overloaded: Callable[[], bool] | None = None) -> DbRunner:
    """The FastAGI server's run_db: a bounded pool, ``budget_s`` per call, queueing
    included (work still queued when the budget runs out is cancelled, never run).

    Load shedding: when the work already queued means this call would wait past its
    budget anyway (queue length / workers x the recent duration of one piece of work),
    it is refused at once with RouteBudgetExceeded. An overloaded database then costs
    callers nothing but the fallback route, given immediately, instead of 1.5 s of
    silence each, and the pool keeps working only for calls it can still serve.
    ``overloaded()`` (the server's event-loop lag check) sheds everything while true:
    database threads compete with the event loop for the GIL, and a loop that falls
    behind delays every call, fallbacks included.
    """
    state = {"pending": 0, "avg": 0.0}    # pending: submitted, not yet run or cancelled
    lock = threading.Lock()
    clock = time.perf_counter

    def timed(call: Callable[[], Any]) -> Any:
        started = clock()
        try:
            return call()
        finally:
            took = clock() - started
            state["avg"] = took if not state["avg"] else state["avg"] + (took - state["avg"]) * 0.2

    def settled(_future: Any) -> None:
        with lock:
            state["pending"] -= 1

    async def run(fn: Callable[..., Any], args: tuple, kw: dict) -> Any:
        # Only a full pool sheds: an idle one always lets work through, so the
        # average recovers after the database does.
        pending, avg = state["pending"], state["avg"]
        if overloaded is not None and overloaded():
            raise RouteBudgetExceeded("server overloaded: event loop behind, database work shed")
        if pending >= workers and (pending / workers + 1) * avg > budget_s:
            raise RouteBudgetExceeded(
                f"database saturated: {pending} queued, ~{avg * 1e3:.0f} ms each")
        call = functools.partial(fn, *args, **kw) if (args or kw) else fn
        with lock:
            state["pending"] += 1
        work = executor.submit(timed, call)
        work.add_done_callback(settled)
        try:
            return await asyncio.wait_for(asyncio.wrap_future(work), budget_s)
        except TimeoutError:
            raise RouteBudgetExceeded(
                f"{getattr(fn, '__qualname__', fn)} took longer than {budget_s:g} s") from None

    return run
