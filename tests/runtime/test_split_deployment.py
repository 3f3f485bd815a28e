"""The split deployment a grown site runs, as real processes: PostgreSQL, Redis,
``callcenter agi --workers 2``, ``callcenter ami``, two ``callcenter web`` and one
``callcenter scheduler``, with the AMI emulator as Asterisk. A call routed by the
FastAGI workers is recorded in PostgreSQL; the agent signed in on one web process gets
its pop from the listener over Redis; a pause asked for on the other web process is
carried out on Asterisk; a second scheduler stands by instead of running the jobs twice.

Skipped with the reason when PostgreSQL or Redis is not reachable."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from agi import peers  # tests/agi/peers.py: a scripted Asterisk side
from sqlalchemy import select
from web.http_client import RawStream, WebClient  # tests/web/http_client.py

from callcenter.db import session_scope
from callcenter.models import Call, Role, User
from callcenter.services.people import customers
from callcenter.services.setup import defaults, hours
from callcenter.simulation.ami.thread import EmulatorThread

CALLCENTER = Path(sys.executable).parent / "callcenter"
REDIS_URL = os.environ.get("CALLCENTER_TEST_REDIS", "redis://127.0.0.1:6379/0")
SECRET = "split-ami-secret"
PASSWORD = "split-deployment-password"
INTERFACE = "PJSIP/agent1001"
VIP_LINE = "4008002000"


def _redis_or_skip() -> None:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except Exception as exc:  # noqa: BLE001 - any failure means "not reachable"
        pytest.skip(f"Redis not reachable at {REDIS_URL}: {exc}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(condition, timeout: float = 30.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False


@pytest.fixture
def site(db_url, tmp_path):
    if not db_url.startswith("postgresql"):
        pytest.skip("the split deployment runs on PostgreSQL")
    _redis_or_skip()
    with session_scope(db_url) as s:
        defaults.setup_defaults(s)
        hours.set_hours(s, None, range(7), hours.parse_intervals("00:00-24:00"))
        customers.create_customer(s, name="王秀英", numbers=["13800138000"], tier="vip")
        from werkzeug.security import generate_password_hash

        s.add(User(username="agent1001", role=Role.AGENT, display_name="坐席1001",
                   password_hash=generate_password_hash(PASSWORD, method="pbkdf2:sha256:1000"),
                   default_interface=INTERFACE))
    emulator = EmulatorThread(secret=SECRET, auth_failure_delay_s=0.05, boot_delay_s=0.05).start()
    env = {k: v for k, v in os.environ.items() if k != "CALLCENTER_CONFIG"}
    env.update(CALLCENTER_DATABASE_URL=db_url, CALLCENTER_BUS="redis", CALLCENTER_REDIS_URL=REDIS_URL,
               CALLCENTER_BUS_PREFIX=f"cc-split-{uuid.uuid4().hex[:8]}:", CALLCENTER_SECRET_KEY="split-secret",
               CALLCENTER_AMI_HOST=emulator.host, CALLCENTER_AMI_PORT=str(emulator.port),
               CALLCENTER_AMI_SECRET=SECRET, CALLCENTER_JOURNAL_DIR=str(tmp_path / "journal"),
               CALLCENTER_ASTERISK_CDR_CSV=str(tmp_path / "no-cdr.csv"), CALLCENTER_WEB_THREADS="16")
    processes: list[subprocess.Popen] = []

    def start(*args: str, out=subprocess.DEVNULL) -> subprocess.Popen:
        process = subprocess.Popen([str(CALLCENTER), *args], env=env, cwd=tmp_path, stdout=out,
                                   stderr=subprocess.STDOUT, text=True)
        processes.append(process)
        return process

    try:
        yield {"db": db_url, "emulator": emulator, "start": start, "env": env}
    finally:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
        emulator.stop()


def _web(site) -> tuple[int, subprocess.Popen]:
    process = site["start"]("web", "--host", "127.0.0.1", "--port", "0", out=subprocess.PIPE)
    match = re.search(r"http://127.0.0.1:(\d+)/", process.stdout.readline())
    assert match, "callcenter web printed no address"
    return int(match.group(1)), process


def test_a_call_through_the_split_deployment(site, tmp_path_factory):
    agi_port = _free_port()
    site["start"]("agi", "--host", "127.0.0.1", "--port", str(agi_port), "--workers", "2")
    site["start"]("ami")
    scheduler = site["start"]("scheduler", out=subprocess.PIPE)
    web_a, _ = _web(site)
    web_b, _ = _web(site)
    emulator = site["emulator"]
    _wait(lambda: _listening(agi_port), what="the FastAGI workers")
    _wait(lambda: emulator.emulator.logins >= 1, what="the AMI listener's login")

    # The agent signs in on web B and opens the console's event stream there.
    agent_b = WebClient(f"http://127.0.0.1:{web_b}").sign_in("agent1001", PASSWORD)
    assert agent_b.post_json("/api/agent/interface", json.dumps({"interface": INTERFACE}))[0] == 200
    stream = RawStream("127.0.0.1", web_b, "/api/agent/events", agent_b.cookie)
    assert stream.status == 200
    stream.read_text_until("event: state")

    # Asterisk hands a VIP-line call to the FastAGI workers.
    head = peers.header("route_call", uniqueid="1795344900.1", dnid=VIP_LINE, extension=VIP_LINE,
                        callerid="13800138000")
    head = head.replace(b"agi_arg_1: arg1\nagi_arg_2: arg2\n", b"agi_arg_1: 1795344900.1\n")
    import asyncio

    variables = asyncio.run(peers.call(agi_port, head)).variables()
    assert variables["CC_ROUTE_DONE"] == "1" and variables["CC_QUEUE"] == "vip"

    def row() -> Call | None:
        with session_scope(site["db"]) as s:
            call = s.scalar(select(Call).where(Call.uniqueid == "1795344900.1"))
            if call is not None:
                s.expunge(call)
            return call
    call = _wait(row, what="the calls row in PostgreSQL")
    assert call.screen_pop_key == variables["CC_POP_KEY"] and call.route_reason == "vip_line"

    # The queue rings the agent: the pop reaches web B from the listener over Redis.
    emulator.agent_called(interface=INTERFACE, linkedid="1795344900.1", caller="13800138000")
    pop = stream.read_text_until("event: pop")
    pop += stream.read_text_until("\n\n")
    assert variables["CC_POP_KEY"] in pop and "王秀英" in pop
    stream.close()

    # A pause asked for on web A is carried out on Asterisk by the listener.
    agent_a = WebClient(f"http://127.0.0.1:{web_a}").sign_in("agent1001", PASSWORD)
    status, body = agent_a.post_json("/api/agent/action", json.dumps({"action": "pause", "reason": "培训"}))
    assert status == 202, body
    _wait(lambda: any(a.message.action == "QueuePause" and a.message.get("Interface") == INTERFACE
                      for a in emulator.emulator.actions), what="QueuePause at Asterisk")

    # Exactly one scheduler dispatches: a second one stands by on the lock (it takes over
    # only when the first dies; tests/surveys/test_scheduler_processes.py).
    log_path = tmp_path_factory.mktemp("second") / "scheduler.log"
    with open(log_path, "w") as log_file:
        second = site["start"]("scheduler", out=log_file)
        _wait(lambda: "standing by" in log_path.read_text(), what="the second scheduler standing by")
    assert second.poll() is None, "the standby keeps running"
    assert "another scheduler holds the lock" in log_path.read_text()
    assert scheduler.poll() is None, "the first scheduler still runs"
