"""QA on a real Asterisk: an answered SIPp call leaves the mixed recording and its two
side files (MixMonitor r()/t()), each side carries audio (not silence), and the QA page
serves the mixed file with range requests."""

from __future__ import annotations

import array
import math
import wave
from pathlib import Path

import pytest
from werkzeug.security import generate_password_hash

from callcenter.bus.core import InProcessBus
from callcenter.db import session_scope
from callcenter.models import Role, User
from callcenter.services.qa import recordings
from callcenter.web import create_app

from . import test_hotline_calls as hotline
from .test_hotline_calls import VIP_LINE, call, calls_from, wait_ready, wait_until

phone = hotline.phone   # the registered agent phone (a fixture)

pytestmark = pytest.mark.asterisk

CALLER = "13800138077"


def rms(path: Path) -> float:
    with wave.open(str(path), "rb") as w:
        assert (w.getsampwidth(), w.getnchannels()) == (2, 1), path
        samples = array.array("h", w.readframes(w.getnframes()))
    return math.sqrt(sum(s * s for s in samples) / len(samples)) if samples else 0.0


def test_an_answered_call_is_recorded_with_both_sides_and_served(live, phone, tmp_path):
    wait_ready(live, "vip", "Agent 1001")
    call(live, "qa_recording", [[VIP_LINE, CALLER, "QA recording caller"]], hold_ms=5000)
    row = max(calls_from(live, CALLER), key=lambda c: c.id)
    assert row.recording_file
    settings = live.settings
    names = [row.recording_file, *recordings.recording_sides(row)]
    assert names[1].endswith("-caller.wav") and names[2].endswith("-agent.wav")

    def all_written():
        located = [recordings.locate_name(settings, n) for n in names]
        return all(loc.path is not None and loc.path.stat().st_size > 44 + 8000 for loc in located) and located

    located = wait_until(all_written, timeout=30)
    assert located, [recordings.locate_name(settings, n) for n in names]
    mixed, caller, agent = (loc.path for loc in located)
    # Both phones play the PCMA sample: each side file holds that side's audio, not silence.
    loud = {name: rms(path) for name, path in (("mixed", mixed), ("caller", caller), ("agent", agent))}
    assert all(level > 200 for level in loud.values()), loud

    with session_scope(settings.database_url) as s:
        s.add(User(username="live_qa", display_name="质检", role=Role.QA,
                   password_hash=generate_password_hash("live-qa-pass", method="pbkdf2:sha256:1000")))
    app = create_app(settings, InProcessBus(), instance_path=tmp_path / "instance")
    app.config.update(TESTING=True, WTF_CSRF_ENABLED=False)
    client = app.test_client()
    assert client.post("/auth/login", data={"username": "live_qa", "password": "live-qa-pass"}).status_code == 302
    whole = client.get(f"/qa/calls/{row.id}/recording")
    assert whole.status_code == 200 and whole.data == mixed.read_bytes()
    part = client.get(f"/qa/calls/{row.id}/recording", headers={"Range": "bytes=44-1043"})
    assert part.status_code == 206 and part.data == whole.data[44:1044]
    assert "<audio" in client.get(f"/qa/calls/{row.id}").get_data(as_text=True)
