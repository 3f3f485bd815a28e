"""AGI routes, one module per route name the dialplan uses (``AGI(agi://host/route_call)``).

Each module exports its ``ROUTE`` (name, handler, fallback); ``default_registry()``
lists them here by name, so the FastAGI server and the per-call scripts in
``agi_scripts/`` serve the same routes. A new route is a module here and a line in
``ROUTES``.
"""

from __future__ import annotations

import functools

from callcenter.agi.handlers import after_hours, ivr, route_call, survey
from callcenter.agi.registry import Registry

ROUTES = (route_call.ROUTE, after_hours.ROUTE, ivr.ROUTE, survey.ROUTE)


@functools.cache
def default_registry() -> Registry:
    """The product's routes (one Registry per process)."""
    return Registry(ROUTES)
