"""Fixtures of the real-Asterisk tests (marker ``asterisk``).

They run only when ``CALLCENTER_ASTERISK`` names an Asterisk 22 binary (chan_pjsip,
app_queue, res_agi) and ``sipp`` (Debian package sip-tester) is installed; otherwise
every test here is skipped with the reason shown.

One private Asterisk per test session (``live``): the project's ``asterisk_conf/``
with free loopback ports, pointed at a callcenter FastAGI server that runs in this
process on an ephemeral port, on a migrated SQLite database holding the example
lines and queues (``callcenter.services.setup.defaults.setup_defaults``) opened around the
clock.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import tempfile
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from callcenter import migrate
from callcenter.config import Settings
from callcenter.db import session_scope

from . import sipp as sipp_peers
from .ami import AMISession
from .pbx import REPO, Asterisk, Ports, write_tone

AMI_USER = "callcenter"


@pytest.fixture(scope="session")
def asterisk_binary() -> Path:
    value = os.environ.get("CALLCENTER_ASTERISK", "")
    if not value:
        pytest.skip("live Asterisk tests: set CALLCENTER_ASTERISK to an Asterisk 22 binary "
                    "(e.g. /opt/asterisk22/sbin/asterisk)")
    path = Path(value)
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.skip(f"CALLCENTER_ASTERISK={value} is not an executable file")
    return path


@pytest.fixture(scope="session")
def sipp_available() -> None:
    if sipp_peers.sipp_binary() is None:
        pytest.skip("live Asterisk tests need sipp (Debian package sip-tester)")


@dataclass
class Live:
    pbx: Asterisk
    settings: Settings
    agi: object                 # callcenter.agi.server.ServerThread
    ami: AMISession
    root: Path

    def sipp_dir(self, test_name: str) -> Path:
        return self.root / "sipp" / test_name


def seed_routing(settings: Settings) -> None:
    """The example lines and queues (as shipped in asterisk_conf/), open every hour of
    every day: today and tomorrow are declared working days, so a national holiday
    does not close the lines while the tests run. No IVR on the ordinary line: the
    calls go straight to the queue."""
    from callcenter.services.setup import defaults, hours, lines
    from callcenter.timeutil import to_local

    with session_scope(settings.database_url) as session:
        defaults.setup_defaults(session)
        lines.update_line(session, "4008001000", ivr_flow="")
        hours.set_hours(session, None, range(7), hours.parse_intervals("00:00-24:00"))
        today = to_local(dt.datetime.now(dt.UTC).replace(tzinfo=None), settings.timezone).date()
        for day in (today, today + dt.timedelta(days=1)):
            hours.add_override(session, day, "workday", name="live test")


def write_prompts(settings: Settings) -> None:
    """A short tone for every prompt of the shipped IVR flows: the after-hours route
    plays them (rendering the real voice is the prompts command's business)."""
    from callcenter.ivr.loader import all_prompts, load_flows

    settings.prompts_dir.mkdir(parents=True, exist_ok=True)
    for prompt_id in all_prompts(load_flows(settings.ivr_flows_dir)):
        write_tone(settings.prompts_dir / f"{prompt_id}.wav", seconds=0.3)


@pytest.fixture(scope="session")
def live(asterisk_binary, sipp_available, request) -> Iterator[Live]:
    from callcenter.agi.process import start_in_thread

    root = Path(tempfile.mkdtemp(prefix="cc-live-"))
    url = f"sqlite:///{root}/callcenter.db"
    migrate.upgrade(url)
    settings = Settings(database_url=url, recordings_dir=root / "pbx" / "recordings",
                        prompts_dir=root / "pbx" / "recordings" / "prompts",
                        ivr_flows_dir=REPO / "ivr_flows",
                        secret_key="live-test", agi_host="127.0.0.1", agi_port=0)
    seed_routing(settings)
    write_prompts(settings)
    agi = start_in_thread(settings, host="127.0.0.1", port=0)
    pbx = Asterisk(asterisk_binary, Ports(agi=agi.port), root=root / "pbx")
    ami = None
    try:
        pbx.build()
        pbx.start()
        ami = AMISession(pbx.ports.ami, AMI_USER, pbx.ami_secret)
        ami.wait_for(lambda m: m.get("Event") == "FullyBooted", timeout=30)
        yield Live(pbx=pbx, settings=settings, agi=agi, ami=ami, root=root)
    finally:
        if ami is not None:
            ami.close()
        pbx.stop()
        agi.stop()
        if request.session.testsfailed:
            print(f"\nlive Asterisk files kept for inspection in {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


# A call still up this long after a test ended was left behind by it.
CALL_LEFT_BEHIND_S = 15.0


@pytest.fixture(autouse=True)
def no_call_left_behind(request) -> Iterator[None]:
    """After each test on the shared Asterisk: the calls it placed end by themselves, or they
    are hung up here, with a warning naming them.

    Why: a test that fails half-way (a call on hold that is never taken off it) leaves
    agent1001 busy, and every later live test then fails at its setup, hiding the one
    failure that matters. Waiting first keeps the normal ends of calls (and so the CDRs
    later tests read) exactly as Asterisk writes them."""
    if "live" not in request.fixturenames:
        yield
        return
    live = request.getfixturevalue("live")
    yield
    deadline = time.monotonic() + CALL_LEFT_BEHIND_S
    while (channels := _channels(live)) and time.monotonic() < deadline:
        time.sleep(0.25)
    if channels:
        for channel in channels:
            live.ami.action("Hangup", Channel=channel)
        gone = time.monotonic() + 5
        while _channels(live) and time.monotonic() < gone:      # a hang-up takes a moment
            time.sleep(0.1)
        warnings.warn(f"{request.node.nodeid} left calls up; hung up: {', '.join(channels)}", stacklevel=1)


def _channels(live) -> list[str]:
    _, items = live.ami.list_action("CoreShowChannels")
    return [item["Channel"] for item in items if item.get("Channel")]
