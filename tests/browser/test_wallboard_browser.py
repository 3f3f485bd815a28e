"""The supervisor's wallboard in Chromium changes as queue events arrive from the AMI
emulator through the real AMI listener: a caller joins, an agent's phone rings, the
caller abandons — no reload, no polling."""

from __future__ import annotations

import pytest
from werkzeug.security import generate_password_hash

from callcenter.ami.process import start_listener_thread
from callcenter.bus.core import InProcessBus
from callcenter.config import Settings
from callcenter.db import session_scope
from callcenter.models import Queue, QueueKind, Role, User
from callcenter.simulation.ami.thread import EmulatorThread
from callcenter.web import create_app
from callcenter.web.server import ServerThread

pytestmark = pytest.mark.browser

SECRET = "wallboard-ami-secret"
PASSWORD = "wallboard-pass-1"
INTERFACE = "PJSIP/agent1001"


@pytest.fixture
def site(sqlite_url, tmp_path):
    emulator = EmulatorThread(secret=SECRET, auth_failure_delay_s=0.05, boot_delay_s=0.05).start()
    settings = Settings(database_url=sqlite_url, secret_key="wallboard-test", recordings_dir=tmp_path / "rec",
                        ami_host=emulator.host, ami_port=emulator.port, ami_secret=SECRET, web_threads=16)
    with session_scope(sqlite_url) as s:
        s.add_all([Queue(name="vip", kind=QueueKind.VIP), Queue(name="general_q", kind=QueueKind.GENERAL)])
        s.add(User(username="boss", display_name="李主管", role=Role.SUPERVISOR,
                   password_hash=generate_password_hash(PASSWORD, method="pbkdf2:sha256:1000")))
        s.add(User(username="wang", display_name="王坐席", role=Role.AGENT, default_interface=INTERFACE,
                   password_hash="x"))
    bus = InProcessBus()
    listener = start_listener_thread(settings, bus, reconnect_min_s=0.05, reconcile_grace_s=0.0, boot_wait_s=1.0)
    assert listener.wait_connected(10) and listener.sync(10)
    app = create_app(settings, bus, instance_path=tmp_path / "instance")
    server = ServerThread(app, settings).start()
    try:
        yield {"url": server.url, "emulator": emulator, "listener": listener}
    finally:
        server.stop()
        listener.stop()
        emulator.stop()


def test_wallboard_follows_queue_events(chromium, site, tmp_path):
    context = chromium.new_context(locale="zh-CN", viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(site["url"] + "/auth/login")
    page.fill("#username", "boss")
    page.fill("#password", PASSWORD)
    page.click("#login-submit")
    page.goto(site["url"] + "/supervisor/wallboard")
    page.wait_for_selector("#connection:text('实时')")
    vip_waiting = "#wb-queues tr[data-queue='vip'] td:nth-child(2)"
    assert page.text_content(vip_waiting) == "0"

    emulator = site["emulator"]
    caller = emulator.queue_caller_join(queue="vip", caller="13900139000", caller_name="王五")
    page.wait_for_selector(f"{vip_waiting}:text-is('1')")
    assert page.text_content("#wb-today [data-k='offered']") == "1"

    emulator.agent_called(interface=INTERFACE, linkedid=caller.linkedid, caller="13900139000", queue="vip")
    page.wait_for_selector("#wb-queues tr[data-queue='vip'] td:nth-child(3):text-is('1')")
    assert page.text_content(vip_waiting) == "0"

    emulator.caller_abandon(caller, queue="vip", hold_s=40)
    page.wait_for_selector("#wb-queues tr[data-queue='vip'] td:nth-child(7):text-is('1')")
    # One abandon and nothing answered: service level 0 %, red.
    sl = page.wait_for_selector("#wb-today .tile[data-level='service_level_level'].lvl-red")
    assert sl.query_selector("b").text_content() == "0%"
    page.click("#wb-full")
    page.wait_for_selector("#wallboard.full")
    page.screenshot(path=str(tmp_path / "wallboard.png"))
    context.close()
    assert errors == []
