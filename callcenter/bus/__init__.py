"""Event bus between the AMI listener, the scheduler and the web workers: the
in-process engine and the bus interface in ``core``, Redis pub/sub across processes in
``redis``; ``make_bus(settings)`` picks the one the settings name."""

from __future__ import annotations

import hashlib

from sqlalchemy.engine import make_url

from callcenter.bus.core import EventBus, InProcessBus
from callcenter.secret_key import installation_secret


def make_bus(settings) -> EventBus:
    if settings.bus == "redis":
        from callcenter.bus.redis import RedisBus

        return RedisBus(settings.redis_url, prefix=bus_prefix(settings), key=installation_secret(settings))
    return InProcessBus()


def bus_prefix(settings) -> str:
    """The installation's Redis channel prefix: ``bus_prefix``, else one derived from its
    database, which every process of one installation shares and no other has."""
    if settings.bus_prefix:
        return settings.bus_prefix
    url = make_url(settings.database_url).render_as_string(hide_password=True)
    return f"callcenter:{hashlib.sha256(url.encode()).hexdigest()[:12]}:"
