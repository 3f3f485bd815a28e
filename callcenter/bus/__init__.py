"""Event bus between the AMI listener, the scheduler and the web workers: the
in-process engine and the bus interface in ``core``, Redis pub/sub across processes in
``redis``; ``make_bus(settings)`` picks the one the settings name."""

from __future__ import annotations

from callcenter.bus.core import EventBus, InProcessBus


def make_bus(settings) -> EventBus:
    if settings.bus == "redis":
        from callcenter.bus.redis import RedisBus

        return RedisBus(settings.redis_url)
    return InProcessBus()
