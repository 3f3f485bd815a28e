"""Fixtures for the AMI tests: a TCP emulator replaying the real Asterisk 22 captures,
the listener on its own thread against it, and the database on SQLite and PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from callcenter.ami.process import ListenerThread, start_listener_thread
from callcenter.bus.core import InProcessBus, Subscription
from callcenter.db import session_scope
from callcenter.models import AgentState, AgentStatus, Call, CallStatus, Role, User
from callcenter.simulation.ami.replay import Recording
from callcenter.simulation.ami.thread import EmulatorThread

TRANSCRIPTS = Path(__file__).parent.parent / "fixtures" / "transcripts" / "ami"
SECRET = "test-ami-secret"


def transcript(name: str, suffix: str = ".from_asterisk.bin") -> Path:
    path = TRANSCRIPTS / f"{name}{suffix}"
    assert path.is_file(), path
    return path


def recording(name: str) -> Recording:
    return Recording.load(transcript(name))


def wait_until(condition: Callable[[], Any], timeout: float = 15.0, what: str = "condition") -> Any:
    """Poll until ``condition()`` is truthy (a wait, not a timing assertion)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


@pytest.fixture
def emulator() -> Iterator[EmulatorThread]:
    emu = EmulatorThread(secret=SECRET, auth_failure_delay_s=0.05, boot_delay_s=0.05,
                         originate_ring_s=0.05).start()
    try:
        yield emu
    finally:
        emu.stop()


@pytest.fixture
def ami_settings(settings, emulator):
    return settings.model_copy(update={"ami_host": emulator.host, "ami_port": emulator.port,
                                       "ami_username": "callcenter", "ami_secret": SECRET,
                                       "ami_reconnect_max_s": 0.4})


@pytest.fixture
def bus() -> InProcessBus:
    return InProcessBus()


@pytest.fixture
def agent_feed(bus) -> Iterator[Subscription]:
    with bus.subscribe("agent", maxsize=10000) as sub:
        yield sub


@pytest.fixture
def agents(ami_settings) -> dict[str, int]:
    """Panel users for the capture's agents, found by their default interface."""
    ids = {}
    with session_scope(ami_settings.database_url) as s:
        for n in ("1001", "1002", "1003"):
            # No password hashing here: these users never sign in during the AMI tests.
            user = User(username=f"agent{n}", password_hash="!", role=Role.AGENT, display_name=f"坐席{n}",
                        default_interface=f"PJSIP/agent{n}")
            s.add(user)
            s.flush()
            ids[f"PJSIP/agent{n}"] = user.id
    return ids


@pytest.fixture
def start_listener(ami_settings, bus) -> Iterator[Callable[..., ListenerThread]]:
    started: list[ListenerThread] = []

    def start(**options: Any) -> ListenerThread:
        options.setdefault("reconnect_min_s", 0.05)
        options.setdefault("reconcile_grace_s", 0.0)
        options.setdefault("boot_wait_s", 1.0)
        handle = start_listener_thread(ami_settings, bus, **options)
        started.append(handle)
        assert handle.wait_connected(10), "listener did not log in"
        assert handle.sync(10)
        wait_until(lambda: handle.stats.reconciles >= 1, what="first reconciliation")
        return handle

    yield start
    for handle in started:
        handle.stop()


@pytest.fixture
def listener(start_listener) -> ListenerThread:
    return start_listener()


def routed_call(db_url: str, *, uniqueid: str, queue: str, caller: str = "13800138000",
                priority: int = 10, dialled: str = "4008002000") -> int:
    """The row the FastAGI route_call handler writes before Queue() runs."""
    with session_scope(db_url) as s:
        call = Call(uniqueid=uniqueid, linkedid=uniqueid, channel="", caller_number=caller,
                    caller_e164="+86" + caller, dialled_number=dialled, queue=queue, priority=priority,
                    route_reason="vip_customer", status=CallStatus.ROUTED, ivr_path=["1"], category="consult",
                    screen_pop_key=f"pop-{uniqueid}")
        s.add(call)
        s.flush()
        return call.id


def agent_state(db_url: str, user_id: int) -> AgentState | None:
    with session_scope(db_url) as s:
        return s.get(AgentState, user_id)


def status_of(db_url: str, user_id: int) -> tuple[AgentStatus, str | None] | None:
    state = agent_state(db_url, user_id)
    return (state.status, state.pause_reason) if state is not None else None


def bus_messages(sub: Subscription) -> list[dict[str, Any]]:
    return [payload for _, payload in sub.drain()]
