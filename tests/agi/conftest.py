"""Fixtures for the AGI transport tests: a FastAGI server on 127.0.0.1:0 in the test's
own event loop, with test-only routes (the product routes are tested in their areas).

Every test here runs twice: on asyncio's own event loop and on uvloop (the server's
default when installed): the test's ``asyncio.run`` gets that loop, and servers
started in a thread or another process are told by ``CALLCENTER_AGI_EVENT_LOOP``."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
from collections.abc import AsyncIterator

import pytest

from callcenter.agi.registry import Registry
from callcenter.agi.server import FastAGIServer
from callcenter.config import Settings

EVENT_LOOPS = ["asyncio", pytest.param("uvloop", marks=pytest.mark.skipif(
    importlib.util.find_spec("uvloop") is None, reason="uvloop is not installed"))]


@pytest.fixture(autouse=True, params=EVENT_LOOPS)
def event_loop_kind(request, monkeypatch):
    kind = request.param
    monkeypatch.setenv("CALLCENTER_AGI_EVENT_LOOP", kind)
    previous = asyncio.get_event_loop_policy()
    if kind == "uvloop":
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    try:
        yield kind
    finally:
        asyncio.set_event_loop_policy(previous)


def agi_settings(**overrides) -> Settings:
    values = dict(agi_header_timeout_s=2.0, agi_command_timeout_s=5.0, agi_route_budget_s=1.0,
                  agi_db_threads=4)
    values.update(overrides)
    return Settings(**values)


@contextlib.asynccontextmanager
async def running_server(registry: Registry, settings: Settings | None = None) -> AsyncIterator[FastAGIServer]:
    server = FastAGIServer(settings or agi_settings(), registry, host="127.0.0.1", port=0)
    await server.start()
    try:
        yield server
    finally:
        await server.stop(grace_s=2.0)


async def settle(server: FastAGIServer, timeout: float = 3.0) -> None:
    """Wait until every session has ended (the half-close handshake included) and what
    the routes recorded behind them is in the database."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while server.active_sessions and loop.time() < deadline:
        await asyncio.sleep(0.005)
    await asyncio.to_thread(server.recorder.flush, max(0.1, deadline - loop.time()))
