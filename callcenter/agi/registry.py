"""Route name → handler, and the failure policy every route runs under.

The handler contract (every AGI route, whatever carries the call):

    async def route_call(channel: AGIChannel, ctx: AGIContext) -> None:
        plan = await ctx.run_in_session(plan_route, ctx.settings, request)
        ...
        await channel.set_variables(decision_variables(decision))

    ROUTE = Route("route_call", route_call, fallback=_fallback)

* ``channel`` is a :class:`callcenter.agi.channel.AGIChannel`; ``channel.request`` holds
  the AGI header (``request.route``, ``request.args``, ``request.get("callerid")``).
* ``ctx`` is a :class:`callcenter.agi.context.AGIContext`: ``ctx.settings`` is the
  process's Settings; ``ctx.log`` a logger that prefixes the
  call's uniqueid; ``await ctx.run_db(fn, *args, **kw)`` runs a *blocking* function
  (SQLAlchemy work) off the event loop, in a bounded thread pool, and raises
  :class:`callcenter.agi.dbwork.RouteBudgetExceeded` (a TimeoutError) when it takes longer than
  ``settings.agi_route_budget_s`` — or at once, when the pool is so far behind that
  it could not finish in time (load shedding); ``ctx.run_in_session(fn, *args)`` does the same
  with ``fn(session, *args)`` inside one ``session_scope`` (commit on success), and
  ``ctx.run_in_transaction(fn, *args)`` with ``fn(connection, *args)`` inside one
  transaction (no ORM session: for hot paths written with Core statements).
  Both use ``ctx.engine``: the FastAGI server's own engine (its pool sized to its
  database threads), else the process's shared one for the database URL.
  In a per-call script the function runs in the same process under the same budget.
* Handlers are ``async def`` (a plain ``def`` is refused when the route is added) and
  live in modules under ``callcenter/agi/handlers/``, each exporting its ``ROUTE``;
  ``callcenter.agi.handlers.default_registry()`` lists them by name, so the FastAGI
  server and the scripts in ``agi_scripts/`` serve the same routes under the names the
  dialplan uses. Nothing is registered by importing a module.
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
import inspect
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Union

from callcenter.agi.channel import AGIChannel, AGIHangup
from callcenter.agi.context import AGIContext
from callcenter.agi.dbwork import RouteBudgetExceeded
from callcenter.config import Settings

Handler = Callable[[AGIChannel, AGIContext], Awaitable[None]]
Fallback = Union[Mapping[str, str], Callable[[Settings], Mapping[str, str]],
                 Callable[[AGIChannel, AGIContext], Awaitable[None]]]


@dataclass(frozen=True)
class Route:
    name: str
    handler: Handler
    fallback: Fallback | None = None
    # Cap on the whole handler (None: only each run_db call is budgeted, so an IVR
    # conversation with the caller may take as long as the caller takes).
    budget_s: float | None = None


class Registry:
    """The routes one server (or one per-call script) serves, by name."""

    def __init__(self, routes: tuple[Route, ...] | list[Route] = ()) -> None:
        self._routes: dict[str, Route] = {}
        for entry in routes:
            self.add(entry)

    def route(self, name: str, *, fallback: Fallback | None = None,
              budget_s: float | None = None) -> Callable[[Handler], Handler]:
        """Decorator: ``@registry.route("name")`` adds an ``async def`` handler to this registry."""

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
