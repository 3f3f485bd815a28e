"""Issue 11 #9: ``serve`` without an Asterisk logged an AMI warning every 25 s for ever
and never said ``--no-ami`` exists. Now: one warning with the hint, then quiet retries."""

from __future__ import annotations

import asyncio
import logging
import socket

from callcenter.ami.client import AMIClient

from .test_client import make_client, run, running, until


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]   # nothing listens there once the socket is closed


def test_an_absent_asterisk_is_reported_once_with_the_hint_then_retried_quietly(caplog):
    caplog.set_level(logging.DEBUG, logger="callcenter.ami.client")

    async def scenario() -> int:
        client = AMIClient("127.0.0.1", _closed_port(), "callcenter", "secret", reconnect_min_s=0.01,
                           reconnect_max_s=0.02, ping_interval_s=0,
                           unreachable_hint="'callcenter serve --no-ami' runs without Asterisk")
        async with running(client, connect=False):
            await until(lambda: client.stats.connect_attempts >= 6)
            return client.stats.connect_attempts
    attempts = run(scenario)
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    quiet = [r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG and "still unreachable" in r.getMessage()]
    assert len(warnings) == 1, warnings
    assert "unreachable" in warnings[0] and "--no-ami" in warnings[0]
    assert len(quiet) >= attempts - 2


def test_after_a_login_a_new_outage_is_reported_again(emulator, caplog):
    caplog.set_level(logging.WARNING, logger="callcenter.ami.client")

    async def scenario() -> None:
        client = make_client(emulator, reconnect_min_s=0.05, reconnect_max_s=0.1)
        async with running(client):
            for _ in range(2):
                before = client.stats.logins
                await asyncio.to_thread(emulator.restart, 0.6)
                await until(lambda before=before: client.stats.logins > before)
    run(scenario)
    lost = [r.getMessage() for r in caplog.records if "AMI" in r.getMessage()]
    assert len(lost) >= 2, "each outage is said (at least once)"
