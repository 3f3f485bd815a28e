"""Route name → handler, the context a handler gets, and the failure policy.

The handler contract (every AGI route, whatever carries the call):

    from callcenter.agi.registry import route

    @route("route_call", fallback=lambda settings: fallback_decision(settings).channel_variables())
    async def route_call(channel: AGIChannel, ctx: AGIContext) -> None:
        plan = await ctx.run_in_session(plan_route, ctx.settings, request)
        ...
        await channel.set_variables(decision.channel_variables())

* ``channel`` is a :class:`callcenter.agi.channel.AGIChannel`; ``channel.request`` holds
  the AGI header (``request.route``, ``request.args``, ``request.get("callerid")``).
* ``ctx.settings`` is the process's Settings; ``ctx.log`` a logger that prefixes the
  call's uniqueid; ``await ctx.run_db(fn, *args, **kw)`` runs a *blocking* function
  (SQLAlchemy work) off the event loop, in a bounded thread pool, and raises
  :class:`RouteBudgetExceeded` (a TimeoutError) when it takes longer than
  ``settings.agi_route_budget_s`` — or at once, when the pool is so far behind that
  it could not finish in time (load shedding); ``ctx.run_in_session(fn, *args)`` does the same
  with ``fn(session, *args)`` inside one ``session_scope`` (commit on success), and
  ``ctx.run_in_transaction(fn, *args)`` with ``fn(connection, *args)`` inside one
  transaction (no ORM session: for hot paths written with Core statements).
  Both use ``ctx.engine``: the FastAGI server's own engine (its pool sized to its
  database threads), else the process's shared one for the database URL.
  In a per-call script the function runs in the same process under the same budget.
* Handlers are ``async def`` (registering a plain ``def`` is refused at import time)
  and live in modules under ``callcenter/agi/handlers/``; ``default_registry()``
  imports every module of that package, so the FastAGI server and the scripts in
  ``agi_scripts/`` see the same routes under the names the dialplan uses.
* ``fallback`` is what the call gets when the handler fails: a dict of channel
  variables, a function ``(settings) -> dict`` of them, or ``async def (channel, ctx)``.

Failure policy (``run_route``), identical for FastAGI and the per-call scripts:
a hangup (``AGIHangup``) is normal — logged at INFO, no fallback, the handler has seen
the exception and recorded what it needed; any other exception, or a budget overrun,
is logged at ERROR with the uniqueid, then the fallback variables are set and the
session ends cleanly, so the dialplan continues with a route. (The dialplan also sets
safe defaults before the AGI and checks ``AGISTATUS`` after it.)
"""

from __future__ import annotations

import asyncio
import functools
import importlib
import inspect
import logging
import pkgutil
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar, Union

from sqlalchemy import Engine

from callcenter.agi.channel import AGIChannel, AGIHangup
from callcenter.config import Settings

if TYPE_CHECKING:
    from callcenter.agi.inline import InlineTransactions

T = TypeVar("T")
Handler = Callable[[AGIChannel, "AGIContext"], Awaitable[None]]
Fallback = Union[Mapping[str, str], Callable[[Settings], Mapping[str, str]],
                 Callable[[AGIChannel, "AGIContext"], Awaitable[None]]]

HANDLERS_PACKAGE = "callcenter.agi.handlers"
log = logging.getLogger("callcenter.agi")


class RouteBudgetExceeded(TimeoutError):
    """A database step (or the whole handler) ran past its time budget."""


class CallLog(logging.LoggerAdapter):
    """Prefixes every message with the call's uniqueid, so one grep finds a call."""

    def process(self, msg, kwargs):
        return f"[{self.extra['uniqueid']}] {msg}", kwargs


DbRunner = Callable[[Callable[..., Any], tuple, dict], Awaitable[Any]]


class AGIContext:
    """What a handler gets besides the channel (see the module docstring)."""

    __slots__ = ("settings", "log", "route", "_runner", "_engine", "_inline")

    def __init__(self, settings: Settings, uniqueid: str, runner: DbRunner, route: str = "",
                 engine: Engine | None = None, inline: InlineTransactions | None = None) -> None:
        self.settings = settings
        self.log = CallLog(log, {"uniqueid": uniqueid or "-"})
        self.route = route
        self._runner = runner
        self._engine = engine
        self._inline = inline

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            from callcenter.db import engine_for

            self._engine = engine_for(self.settings.database_url)
        return self._engine

    async def run_db(self, fn: Callable[..., T], /, *args: Any, **kw: Any) -> T:
        return await self._runner(fn, args, kw)

    async def run_in_session(self, fn: Callable[..., T], /, *args: Any, **kw: Any) -> T:
        """``fn(session, *args, **kw)`` in one unit of work (commit on success)."""
        return await self._runner(_in_session, (self.engine, fn, args, kw), {})

    async def run_in_transaction(self, fn: Callable[..., T], /, *args: Any, **kw: Any) -> T:
        """``fn(connection, *args, **kw)`` in one transaction (commit on success).

        On the FastAGI server with SQLite it runs on the event-loop thread when it
        needs no lock held elsewhere (callcenter.agi.inline), else in a database thread.
        ``fn`` must be database work only, safe to run again after a rollback."""
        if self._inline is not None:
            from callcenter.agi.inline import InlineBusy

            try:
                return self._inline.run(fn, args, kw)
            except InlineBusy:
                pass                 # another connection writes: wait for it in a thread
        return await self._runner(_in_transaction, (self.engine, fn, args, kw), {})


def _in_session(engine: Engine, fn: Callable[..., T], args: tuple, kw: dict) -> T:
    from callcenter.db import session_scope_on

    with session_scope_on(engine) as session:
        return fn(session, *args, **kw)


def _in_transaction(engine: Engine, fn: Callable[..., T], args: tuple, kw: dict) -> T:
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


# --- routes ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Route:
    name: str
    handler: Handler
    fallback: Fallback | None = None
    # Cap on the whole handler (None: only each run_db call is budgeted, so an IVR
    # conversation with the caller may take as long as the caller takes).
    budget_s: float | None = None


class Registry:
    def __init__(self) -> None:
        self._routes: dict[str, Route] = {}

    def route(self, name: str, *, fallback: Fallback | None = None,
              budget_s: float | None = None) -> Callable[[Handler], Handler]:
        """Decorator: ``@route("route_call")`` registers an ``async def`` handler."""

        def register(handler: Handler) -> Handler:
            self.add(Route(name, handler, fallback, budget_s))
            return handler

        return register

    def add(self, entry: Route) -> None:
        if not inspect.iscoroutinefunction(entry.handler):
            raise TypeError(f"AGI route {entry.name!r}: handler must be 'async def'")
        if not entry.name or "/" in entry.name or "?" in entry.name:
            raise ValueError(f"AGI route name {entry.name!r} must be a plain word")
        existing = self._routes.get(entry.name)
        if existing is not None and existing.handler is not entry.handler:
            raise ValueError(f"AGI route {entry.name!r} is registered twice")
        self._routes[entry.name] = entry

    def get(self, name: str) -> Route | None:
        return self._routes.get(name)

    def names(self) -> list[str]:
        return sorted(self._routes)


_default = Registry()
route = _default.route
_loaded = False


def load_handlers(package: str = HANDLERS_PACKAGE) -> None:
    """Import every module of the handlers package (each registers its routes)."""
    pkg = importlib.import_module(package)
    for info in pkgutil.iter_modules(pkg.__path__, prefix=package + "."):
        importlib.import_module(info.name)


def default_registry() -> Registry:
    """The routes of ``callcenter/agi/handlers/``, imported once per process."""
    global _loaded
    if not _loaded:
        load_handlers()
        _loaded = True
    return _default


# --- the failure policy -----------------------------------------------------------------------

COMPLETED, HANGUP, FALLBACK, FAILED = "completed", "hangup", "fallback", "failed"


async def run_route(entry: Route, channel: AGIChannel, ctx: AGIContext) -> str:
    """Run a handler under the failure policy; returns the outcome (see module doc)."""
    try:
        if entry.budget_s is None:
            await entry.handler(channel, ctx)
        else:
            try:
                await asyncio.wait_for(entry.handler(channel, ctx), entry.budget_s)
            except TimeoutError as exc:
                if isinstance(exc, RouteBudgetExceeded):
                    raise
                raise RouteBudgetExceeded(f"route {entry.name} exceeded {entry.budget_s:g} s") from None
        return COMPLETED
    except AGIHangup as exc:
        ctx.log.info("caller hung up during %s: %s", entry.name, exc)
        return HANGUP
    except RouteBudgetExceeded as exc:
        ctx.log.error("route %s over budget, using its fallback: %s", entry.name, exc)
    except Exception:  # noqa: BLE001 - the policy: every failure still gets a route
        ctx.log.exception("route %s failed, using its fallback", entry.name)
    return await apply_fallback(entry, channel, ctx)


async def apply_fallback(entry: Route, channel: AGIChannel, ctx: AGIContext) -> str:
    fallback = entry.fallback
    if channel.hung_up:
        return HANGUP
    if fallback is None:
        return FAILED
    try:
        if inspect.iscoroutinefunction(fallback):
            await fallback(channel, ctx)
        else:
            variables = fallback(ctx.settings) if callable(fallback) else fallback
            for name, value in variables.items():
                await channel.command("SET VARIABLE", name, value)
    except AGIHangup as exc:
        ctx.log.info("caller hung up during the fallback of %s: %s", entry.name, exc)
        return HANGUP
    except Exception:  # noqa: BLE001
        ctx.log.exception("fallback of route %s failed too", entry.name)
        return FAILED
    return FALLBACK
