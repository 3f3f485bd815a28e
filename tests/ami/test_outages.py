"""不漏接一个电话 through AMI outages: 40 calls in flight while the network drops for 4 s,
while the listener process is killed (kill -9) and Asterisk restarts before a new one
starts. Afterwards: 0 rows left open, every caller nobody answered has exactly one
callback task, the answered ones have none, 0 rows lost or doubled.

The emulated Asterisk writes its CDR file (cdr_custom) as the real one does, whoever
listens; the listener reads it after each reconnect, then reconciles the rest."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter

import pytest
from sqlalchemy import select

from callcenter.config import Settings
from callcenter.db import session_scope
from callcenter.models import Call, CallbackTask, CallStatus
from callcenter.simulation.ami.thread import EmulatorThread

from .conftest import SECRET, routed_call, wait_until

CALLS = 40
OUTCOMES = ("answered", "abandoned", "timeout")


@pytest.fixture
def cdr_emulator(tmp_path):
    emu = EmulatorThread(secret=SECRET, auth_failure_delay_s=0.05, boot_delay_s=0.05,
                         cdr_path=tmp_path / "cdr-custom" / "callcenter.csv").start()
    try:
        yield emu
    finally:
        emu.stop()


def outage_settings(settings, emulator, tmp_path):
    return settings.model_copy(update={
        "ami_host": emulator.host, "ami_port": emulator.port, "ami_secret": SECRET, "ami_reconnect_max_s": 0.4,
        "ami_reconcile_interval_s": 2.0, "asterisk_cdr_csv": tmp_path / "cdr-custom" / "callcenter.csv"})


def place_calls(prefix: str) -> dict[str, str]:
    """What will happen to each call."""
    return {f"{prefix}.{n}": OUTCOMES[n % 3] for n in range(CALLS)}


def play(emulator: EmulatorThread, db_url: str, plan: dict[str, str], spread_s: float) -> None:
    """Every call of the plan, started across ``spread_s`` seconds (blocks until all ended);
    each one's row is written as route_call writes it, just before the call queues."""
    async def one(delay: float, uniqueid: str, outcome: str) -> None:
        await asyncio.sleep(delay)
        await asyncio.to_thread(routed_call, db_url, uniqueid=uniqueid, queue="vip",
                                caller=f"1380013{int(uniqueid.rsplit('.', 1)[1]):04d}")
        await emulator.emulator.play_call(queue="vip", interface="PJSIP/agent1001", linkedid=uniqueid,
                                          caller=f"1380013{int(uniqueid.rsplit('.', 1)[1]):04d}",
                                          outcome=outcome, ring_s=1.0, talk_s=1.5, recording=False)

    async def every() -> None:
        await asyncio.gather(*(one(i * spread_s / len(plan), u, o) for i, (u, o) in enumerate(plan.items())))

    emulator.call(every, timeout=120)


def assert_every_call_accounted_for(db_url: str, plan: dict[str, str]) -> None:
    with session_scope(db_url) as s:
        calls = list(s.scalars(select(Call).where(Call.uniqueid.in_(plan))))
        tasks = Counter(t.call_id for t in s.scalars(select(CallbackTask)))
        rows = Counter(c.uniqueid for c in calls)
        open_rows = [c.uniqueid for c in calls if c.ended_at is None]
        missing = [c.uniqueid for c in calls if plan[c.uniqueid] != "answered" and tasks[c.id] != 1]
        answered = {c.uniqueid: (c.status, tasks[c.id]) for c in calls if plan[c.uniqueid] == "answered"}
    assert rows == Counter(plan.keys()), "a row lost or doubled"
    assert open_rows == [], f"{len(open_rows)} rows left open"
    assert missing == [], f"{len(missing)} unanswered callers without exactly one callback task"
    wrong = {u: v for u, v in answered.items() if v != (CallStatus.COMPLETED, 0)}
    assert wrong == {}, wrong


def test_a_network_drop_during_forty_calls_loses_no_caller(settings, cdr_emulator, agents_for, bus, tmp_path):
    from callcenter.ami.process import start_listener_thread

    ami = outage_settings(settings, cdr_emulator, tmp_path)
    agents_for(ami)
    plan = place_calls("1795344700")
    listener = start_listener_thread(ami, bus, reconnect_min_s=0.05, reconcile_grace_s=1.0, boot_wait_s=1.0)
    try:
        assert listener.wait_connected(10) and listener.sync(10)
        drop = threading.Timer(1.5, lambda: cdr_emulator.call(cdr_emulator.emulator.drop_connections, 4.0))
        drop.start()
        play(cdr_emulator, ami.database_url, plan, spread_s=6.0)
        drop.join()
        reconciles = listener.stats.reconciles
        wait_until(lambda: listener.stats.reconciles >= reconciles + 2, timeout=30, what="reconciliations")
        assert listener.sync(15)
    finally:
        listener.stop()
    assert_every_call_accounted_for(ami.database_url, plan)


def test_listener_killed_and_asterisk_restarted_meanwhile_loses_no_caller(sqlite_url, cdr_emulator, agents_for,
                                                                          tmp_path):
    ami = outage_settings(Settings(database_url=sqlite_url), cdr_emulator, tmp_path)
    agents_for(ami)
    plan = place_calls("1795344800")
    first = start_ami_process(ami, tmp_path)
    try:
        wait_until(lambda: cdr_emulator.emulator.logins >= 1, what="login")
        killer = threading.Timer(2.0, lambda: os.kill(first.pid, signal.SIGKILL))
        killer.start()
        restart = threading.Timer(5.0, lambda: cdr_emulator.call(cdr_emulator.emulator.restart, 0.5))
        restart.start()
        play(cdr_emulator, sqlite_url, plan, spread_s=5.0)   # some calls are hung up by the restart
        killer.join()
        restart.join()
    finally:
        first.kill()
        first.wait(10)
    second = start_ami_process(ami, tmp_path)
    try:
        logins = cdr_emulator.emulator.logins
        wait_until(lambda: cdr_emulator.emulator.logins > logins, what="the new listener's login")
        wait_until(lambda: _all_closed(sqlite_url, plan), timeout=30, what="every row closed")
        time.sleep(1.0)                               # one more CDR reading must change nothing
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(20)
    assert_every_call_accounted_for(sqlite_url, _as_ended(cdr_emulator, plan))


def start_ami_process(ami, tmp_path) -> subprocess.Popen:
    env = {**os.environ, "CALLCENTER_DATABASE_URL": ami.database_url, "CALLCENTER_AMI_HOST": ami.ami_host,
           "CALLCENTER_AMI_PORT": str(ami.ami_port), "CALLCENTER_AMI_SECRET": SECRET,
           "CALLCENTER_AMI_RECONCILE_INTERVAL_S": "2", "CALLCENTER_ASTERISK_CDR_CSV": str(ami.asterisk_cdr_csv)}
    env.pop("CALLCENTER_CONFIG", None)
    script = os.path.join(os.path.dirname(sys.executable), "callcenter")
    return subprocess.Popen([script, "ami"], env=env, cwd=tmp_path, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def _all_closed(db_url: str, plan: dict[str, str]) -> bool:
    with session_scope(db_url) as s:
        return all(c.ended_at is not None for c in s.scalars(select(Call).where(Call.uniqueid.in_(plan))))


def _as_ended(emulator: EmulatorThread, plan: dict[str, str]) -> dict[str, str]:
    """A call the restart hung up before an agent answered it was not answered."""
    from callcenter.services.calls.cdr_backfill import parse_line

    lines = [parse_line(raw) for raw in emulator.emulator.cdr.path.read_text(encoding="utf-8").splitlines()]
    answered = {line.uniqueid for line in lines if line is not None and line.answered}
    return {u: ("answered" if u in answered else "abandoned") for u in plan}


@pytest.fixture
def agents_for():
    """Panel users for the emulator's agents, in the database of the given settings."""
    from callcenter.models import Role, User

    def make(ami) -> None:
        with session_scope(ami.database_url) as s:
            for n in ("1001", "1002", "1003"):
                s.add(User(username=f"agent{n}", password_hash="!", role=Role.AGENT, display_name=f"坐席{n}",
                           default_interface=f"PJSIP/agent{n}"))
    return make
