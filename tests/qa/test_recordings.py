"""Recordings: linked to the call row with their side files, served with range requests to
the roles that may hear them, never from outside recordings_dir, missing files shown as a
state, every playback and download audited, retention that spares calls under review."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from callcenter.db import session_scope, utcnow
from callcenter.models import AuditEntry, Call, QaAppeal, QaAssignment, QaPlan, QaSample
from callcenter.services.calls import calltrack
from callcenter.services.calls.recording_names import side_files
from callcenter.services.qa import recordings
from callcenter.services.qa.recordings import State

from .conftest import add_call, write_wav


def test_side_files_are_named_after_the_mixed_file():
    assert side_files("calls/2026/12/06/17.5.wav") == ("calls/2026/12/06/17.5-caller.wav",
                                                       "calls/2026/12/06/17.5-agent.wav")
    assert side_files("") == ("", "")


def test_the_listener_stores_the_side_files_with_the_recording(settings, users):
    call_id = add_call(settings.database_url, agent_id=users["agent"])
    with session_scope(settings.database_url) as s:
        call = s.get(Call, call_id)
        calltrack.recording_started(s, uniqueid=call.uniqueid, linkedid=call.linkedid,
                                    filename="calls/2026/12/06/x.wav")
    with session_scope(settings.database_url) as s:
        call = s.get(Call, call_id)
        assert recordings.recording_sides(call) == ("calls/2026/12/06/x-caller.wav", "calls/2026/12/06/x-agent.wav")


def test_recording_sides_falls_back_to_the_dialplan_names_for_old_rows():
    call = Call(recording_file="calls/a/b.wav", recording_caller_file="", recording_agent_file="")
    assert recordings.recording_sides(call) == ("calls/a/b-caller.wav", "calls/a/b-agent.wav")


# --- nothing outside recordings_dir --------------------------------------------------------

@pytest.fixture
def outside(tmp_path) -> Path:
    return write_wav(tmp_path / "secret" / "other.wav")


@pytest.mark.parametrize("name", ["../secret/other.wav", "calls/../../secret/other.wav", "ABSOLUTE", "LINK",
                                  "calls/..", ".", ""])
def test_a_name_leading_outside_is_never_located(settings, outside, name):
    root = Path(settings.recordings_dir)
    root.mkdir(parents=True, exist_ok=True)
    if name == "ABSOLUTE":
        name = str(outside)
    elif name == "LINK":
        (root / "calls").mkdir(exist_ok=True)
        os.symlink(outside, root / "calls" / "link.wav")
        name = "calls/link.wav"
    located = recordings.locate_name(settings, name)
    assert located.path is None
    assert located.state in (State.OUTSIDE, State.NONE, State.MISSING)
    if name not in ("", "calls/.."):
        assert located.state is State.OUTSIDE


def test_an_absolute_path_inside_the_directory_is_served(settings):
    path = write_wav(Path(settings.recordings_dir) / "calls" / "a.wav")
    assert recordings.locate_name(settings, str(path.resolve())).path == path.resolve()


@pytest.mark.parametrize("name", ["../secret/other.wav", "ABSOLUTE", "LINK"])
def test_the_route_refuses_a_database_name_outside(settings, users, signed_in, outside, name):
    root = Path(settings.recordings_dir)
    (root / "calls").mkdir(parents=True, exist_ok=True)
    if name == "ABSOLUTE":
        name = str(outside)
    elif name == "LINK":
        os.symlink(outside, root / "calls" / "link.wav")
        name = "calls/link.wav"
    call_id = add_call(settings.database_url, agent_id=users["agent"], recording=name)
    qa = signed_in("qa")
    assert qa.get(f"/qa/calls/{call_id}/recording").status_code == 404
    page = qa.get(f"/qa/calls/{call_id}").get_data(as_text=True)
    assert "录音路径不在录音目录内" in page and "<audio" not in page


def test_the_request_cannot_name_a_file(settings, recorded_call, signed_in):
    qa = signed_in("qa")
    for query in ("?side=../../etc/passwd", "?file=/etc/passwd", "?side=/etc/passwd"):
        response = qa.get(f"/qa/calls/{recorded_call}/recording{query}")
        assert response.status_code in (200, 404)
        if response.status_code == 200:   # an unknown parameter is ignored: still the call's own file
            assert response.data[:4] == b"RIFF"
    assert qa.get("/qa/calls/1/../../recording").status_code == 404


# --- serving ----------------------------------------------------------------------------

def test_range_requests_let_the_player_seek(recorded_call, signed_in, settings):
    qa = signed_in("qa")
    whole = qa.get(f"/qa/calls/{recorded_call}/recording")
    assert whole.status_code == 200 and whole.mimetype == "audio/wav"
    assert whole.headers["Accept-Ranges"] == "bytes"
    part = qa.get(f"/qa/calls/{recorded_call}/recording", headers={"Range": "bytes=1000-1999"})
    assert part.status_code == 206
    assert part.headers["Content-Range"] == f"bytes 1000-1999/{len(whole.data)}"
    assert part.data == whole.data[1000:2000]
    caller = qa.get(f"/qa/calls/{recorded_call}/recording?side=caller")
    assert caller.status_code == 200 and caller.data != whole.data


@pytest.mark.parametrize("role, status", [("qa", 200), ("supervisor", 200), ("admin", 200), ("agent", 200)])
def test_who_may_hear_the_call(recorded_call, signed_in, role, status):
    assert signed_in(role).get(f"/qa/calls/{recorded_call}/recording").status_code == status
    assert signed_in(role).get(f"/qa/calls/{recorded_call}").status_code == status


def test_another_agent_may_not_hear_the_call(settings, users, signed_in, test_password_hash):
    from web.conftest import add_user

    other = add_user(settings.database_url, test_password_hash, "agent2", "agent")
    name = "calls/other.wav"
    write_wav(Path(settings.recordings_dir) / name)
    call_id = add_call(settings.database_url, agent_id=other, recording=name)
    agent = signed_in("agent")
    assert agent.get(f"/qa/calls/{call_id}/recording").status_code == 403
    assert agent.get(f"/qa/calls/{call_id}").status_code == 403
    assert signed_in("agent2").get(f"/qa/calls/{call_id}/recording").status_code == 200


def test_anonymous_is_sent_to_sign_in(client, recorded_call):
    response = client.get(f"/qa/calls/{recorded_call}/recording")
    assert response.status_code == 302 and "/auth/login" in response.location


def _audit(settings, call_id):
    with session_scope(settings.database_url) as s:
        return [(e.user_id, e.action) for e in s.scalars(
            select(AuditEntry).where(AuditEntry.object_type == "recording", AuditEntry.object_id == str(call_id))
            .order_by(AuditEntry.id))]


def test_every_playback_and_download_is_audited(settings, users, recorded_call, signed_in):
    qa = signed_in("qa")
    qa.get(f"/qa/calls/{recorded_call}/recording", headers={"Range": "bytes=0-"})
    # Seeking within the same playback: ranges further in are not a new playback.
    qa.get(f"/qa/calls/{recorded_call}/recording", headers={"Range": "bytes=5000-"})
    signed_in("agent").get(f"/qa/calls/{recorded_call}/recording?download=1")
    assert _audit(settings, recorded_call) == [(users["qa"], "play"), (users["agent"], "download")]
    with session_scope(settings.database_url) as s:
        entry = s.scalar(select(AuditEntry).where(AuditEntry.action == "play"))
        assert entry.at <= utcnow() and "side=mix" in entry.detail


def test_a_refused_listener_leaves_no_playback_entry(settings, users, signed_in, test_password_hash):
    from web.conftest import add_user

    other = add_user(settings.database_url, test_password_hash, "agent2", "agent")
    write_wav(Path(settings.recordings_dir) / "calls/o.wav")
    call_id = add_call(settings.database_url, agent_id=other, recording="calls/o.wav")
    signed_in("agent").get(f"/qa/calls/{call_id}/recording")
    assert _audit(settings, call_id) == []


@pytest.mark.parametrize("case, label", [("missing", "录音文件缺失"), ("none", "此通话没有录音"),
                                         ("purged", "录音已按保留期限删除"), ("unreadable", "录音文件无法读取")])
def test_a_recording_that_cannot_play_is_a_state_in_the_page(settings, users, signed_in, case, label):
    name = "" if case == "none" else "calls/gone.wav"
    extra = {"recording_purged_at": utcnow()} if case == "purged" else {}
    if case == "unreadable":
        if os.geteuid() == 0:
            pytest.skip("root reads any file")
        os.chmod(write_wav(Path(settings.recordings_dir) / name), 0)
    call_id = add_call(settings.database_url, agent_id=users["agent"], recording=name, **extra)
    qa = signed_in("qa")
    page = qa.get(f"/qa/calls/{call_id}")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert label in text and "<audio" not in text
    assert qa.get(f"/qa/calls/{call_id}/recording").status_code == 404


# --- retention ----------------------------------------------------------------------------

def _old_call(settings, users, name, days=400):
    for suffix in ("", "-caller", "-agent"):
        write_wav(Path(settings.recordings_dir) / name.replace(".wav", f"{suffix}.wav"), seconds=0.1)
    return add_call(settings.database_url, agent_id=users["agent"], recording=name,
                    started_at=utcnow() - dt.timedelta(days=days))


def test_purge_removes_expired_files_but_never_calls_under_review_or_appeal(settings, users):
    expired = _old_call(settings, users, "calls/old.wav")
    _old_call(settings, users, "calls/new.wav", days=3)   # recent: kept
    reviewed = _old_call(settings, users, "calls/review.wav")
    appealed = _old_call(settings, users, "calls/appeal.wav")
    with session_scope(settings.database_url) as s:
        plan = QaPlan(name="p", period="month", quota_per_agent=5, rules={})
        s.add(plan)
        s.flush()
        sample = QaSample(plan_id=plan.id, period_start=dt.date(2025, 1, 1), period_end=dt.date(2025, 2, 1),
                          seed=1, rules={}, filters={}, as_of=utcnow(), call_ids=[reviewed])
        s.add(sample)
        s.flush()
        s.add(QaAssignment(sample_id=sample.id, call_id=reviewed, agent_id=users["agent"], reasons=[]))
        from callcenter.models import QaScore, QaScorecard
        card = QaScorecard(family="t", version=1, name="t", definition={})
        s.add(card)
        s.flush()
        score = QaScore(call_id=appealed, version=1, scorecard_id=card.id, agent_id=users["agent"],
                        inspector_id=users["qa"], total=80, submitted_at=utcnow() - dt.timedelta(days=30))
        s.add(score)
        s.flush()
        s.add(QaAppeal(score_id=score.id, call_id=appealed, agent_id=users["agent"], reason="r"))

    with session_scope(settings.database_url) as s:
        dry = recordings.purge(s, settings, dry_run=True)
    assert dry.calls == [expired] and len(dry.files) == 3
    assert (Path(settings.recordings_dir) / "calls/old.wav").exists()
    assert sorted(dry.kept_for_review) == sorted([reviewed, appealed])

    with session_scope(settings.database_url) as s:
        done = recordings.purge(s, settings)
    assert done.calls == [expired] and "removed 3 file(s) of 1 call(s)" in done.summary()
    root = Path(settings.recordings_dir)
    assert not (root / "calls/old.wav").exists() and not (root / "calls/old-caller.wav").exists()
    for kept in ("new", "review", "appeal"):
        assert (root / f"calls/{kept}.wav").exists()
    with session_scope(settings.database_url) as s:
        assert s.get(Call, expired).recording_purged_at is not None
        assert recordings.locate(settings, s.get(Call, expired)).state is State.PURGED
        assert recordings.purge(s, settings).calls == []   # once


def test_purge_never_deletes_outside_the_directory(settings, users, tmp_path):
    victim = write_wav(tmp_path / "victim.wav")
    add_call(settings.database_url, agent_id=users["agent"], recording=str(victim),
             started_at=utcnow() - dt.timedelta(days=400))
    with session_scope(settings.database_url) as s:
        report = recordings.purge(s, settings)
    assert victim.exists() and report.refused[0] == str(victim) and report.files == []


def test_the_purge_command_says_what_it_removed(settings, users, monkeypatch):
    from callcenter.cli import main
    from callcenter.config import get_settings

    _old_call(settings, users, "calls/cli.wav")
    monkeypatch.setenv("CALLCENTER_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("CALLCENTER_RECORDINGS_DIR", str(settings.recordings_dir))
    get_settings.cache_clear()
    try:
        dry = CliRunner().invoke(main, ["recordings", "purge", "--dry-run"])
        assert dry.exit_code == 0, dry.output
        assert "would remove" in dry.output and "calls/cli.wav" in dry.output
        assert (Path(settings.recordings_dir) / "calls/cli.wav").exists()
        done = CliRunner().invoke(main, ["recordings", "purge"])
        assert done.exit_code == 0 and "removed 3 file(s) of 1 call(s)" in done.output
        assert not (Path(settings.recordings_dir) / "calls/cli.wav").exists()
    finally:
        get_settings.cache_clear()
