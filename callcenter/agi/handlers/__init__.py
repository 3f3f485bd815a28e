"""AGI routes, one module per route name the dialplan uses (``AGI(agi://host/route_call)``).

Each module registers its handler with ``@callcenter.agi.registry.route(name)``;
``registry.default_registry()`` imports every module here, so the FastAGI server and
the per-call scripts in ``agi_scripts/`` serve the same routes.
"""
