"""What every view needs besides the request: settings, the bus, the SSE registry,
the login throttle, and a unit of work on the configured database."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field

from flask import current_app
from sqlalchemy.orm import Session

from callcenter.bus.core import EventBus
from callcenter.config import Settings
from callcenter.db import session_scope
from callcenter.services.people.throttle import LoginThrottle
from callcenter.web.popbuilder import PopBuilder
from callcenter.web.sse import StreamRegistry


@dataclass
class Panel:
    settings: Settings
    bus: EventBus
    streams: StreamRegistry
    throttle: LoginThrottle
    # Pops of calls ringing at the same moment are built together (web.popbuilder).
    pops: PopBuilder = field(default_factory=PopBuilder)

    @contextlib.contextmanager
    def unit_of_work(self) -> Iterator[Session]:
        with session_scope(self.settings.database_url) as session:
            yield session


def panel() -> Panel:
    return current_app.extensions["callcenter"]


def unit_of_work():
    return panel().unit_of_work()
