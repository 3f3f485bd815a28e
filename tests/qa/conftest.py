"""QA fixtures: the web panel's (one user per role, signed-in clients) plus recorded calls
with real WAV files below the test's recordings directory."""

from __future__ import annotations

import datetime as dt
import itertools
import math
import struct
import wave
from pathlib import Path

import pytest

from callcenter.db import session_scope, utcnow
from callcenter.models import Call, CallStatus
from web import conftest as web  # tests/ is on sys.path (rootdir insertion), as for tests/web itself
from web.conftest import PASSWORD, AuthActions, csrf_token  # noqa: F401  (used by the QA tests)

# The web panel's fixtures (one user per role, the app on SQLite and PostgreSQL).
test_password_hash, bus, app, client, users, auth = (web.test_password_hash, web.bus, web.app, web.client,
                                                     web.users, web.auth)

_ids = itertools.count(1)


def write_wav(path: Path, seconds: float = 2.0, freq: float = 440.0, rate: int = 8000) -> Path:
    """A short real tone (mono 16-bit PCM)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    frames = b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * freq * i / rate)))
                      for i in range(int(seconds * rate)))
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(frames)
    return path


def add_call(url: str, *, agent_id: int | None, recording: str = "", started_at: dt.datetime | None = None,
             talk: int = 120, queue: str = "general_q", category: str = "", line_id: int | None = None,
             **extra) -> int:
    n = next(_ids)
    with session_scope(url) as s:
        call = Call(uniqueid=f"1700000000.{n}", linkedid=f"1700000000.{n}", caller_number="13800138000",
                    caller_e164="+8613800138000", queue=queue, category=category, status=CallStatus.COMPLETED,
                    started_at=started_at or utcnow(), answered_by_user_id=agent_id,
                    answered_by_interface="PJSIP/1001" if agent_id else "", talk_seconds=talk, wait_seconds=12,
                    recording_file=recording, line_id=line_id, ivr_path=["main", "2"], **extra)
        s.add(call)
        s.flush()
        return call.id


@pytest.fixture
def recorded_call(settings, users) -> int:
    """A call answered by ``agent`` with a 2-second recording (and its side files)."""
    name = "calls/2026/12/06/1700000000.rec.wav"
    for suffix, freq in (("", 440.0), ("-caller", 300.0), ("-agent", 600.0)):
        write_wav(Path(settings.recordings_dir) / name.replace(".wav", f"{suffix}.wav"), freq=freq)
    return add_call(settings.database_url, agent_id=users["agent"], recording=name,
                    recording_caller_file=name.replace(".wav", "-caller.wav"),
                    recording_agent_file=name.replace(".wav", "-agent.wav"))


@pytest.fixture
def signed_in(app, users):
    """signed_in("qa") → a test client signed in as that role's user."""
    def make(username: str):
        c = app.test_client()
        AuthActions(c).login(username)
        return c
    return make
