"""The all-in-one process: first start on an empty installation, then every piece
answering on its own port, then a clean stop."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import stat
import threading
import time
import urllib.request

import pytest
from sqlalchemy import func, select

from callcenter.config import Settings
from callcenter.db import session_scope
from callcenter.models import Call, Line, User
from callcenter.runtime import INITIAL_PASSWORD_FILE, AllInOne, prepare
from callcenter.services.people import users
from callcenter.simulation.calls import SimulatedCall, run_session


@pytest.fixture
def fresh(tmp_path) -> Settings:
    """An installation that has never run: no database file at all."""
    return Settings(database_url=f"sqlite:///{tmp_path / 'callcenter.db'}", recordings_dir=tmp_path / "rec",
                    prompts_dir=tmp_path / "rec" / "prompts", secret_key="test-secret", agi_port=0)


def test_first_start_prepares_everything_once(fresh, tmp_path):
    instance = tmp_path / "instance"
    first = prepare(fresh, instance)
    assert any("4008002000" in line for line in first.configured)
    password_file = instance / INITIAL_PASSWORD_FILE
    assert first.admin_password_file == password_file
    assert stat.S_IMODE(os.stat(password_file).st_mode) == 0o600
    password = password_file.read_text(encoding="utf-8").strip()
    with session_scope(fresh.database_url) as session:
        admin = session.scalar(select(User).where(User.username == "admin"))
        assert admin.role.value == "admin" and users.verify_password(admin, password)
        lines = session.scalar(select(func.count(Line.id)))

    again = prepare(fresh, instance)
    assert again.configured == [] and again.admin_password_file is None
    with session_scope(fresh.database_url) as session:
        assert session.scalar(select(func.count(User.id))) == 1
        assert session.scalar(select(func.count(Line.id))) == lines


@pytest.mark.skipif(not (shutil.which("espeak-ng") and shutil.which("sox")), reason="espeak-ng and sox not installed")
def test_first_start_renders_the_prompts_so_a_fresh_install_speaks(fresh, tmp_path):
    first = prepare(fresh, tmp_path / "instance")
    assert first.prompts.startswith("rendered ")
    assert (fresh.prompts_dir / "main_menu.wav").is_file() or any(fresh.prompts_dir.glob("*.wav"))
    assert prepare(fresh, tmp_path / "instance").prompts == ""   # nothing left to render


def test_unusable_ivr_flows_are_reported_and_calls_still_route(fresh, tmp_path):
    """Started from the wrong directory, or with a flow file broken by an edit: the
    system says what is wrong and where, and the ordinary line's calls go to its queue
    without the menu."""
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "main.yaml").write_text("name: main\nstart: menu\nnodes:\n  menu: {prompt: nowhere}\n",
                                     encoding="utf-8")
    broken = fresh.model_copy(update={"ivr_flows_dir": flows})
    first = prepare(broken, tmp_path / "instance")
    assert first.prompts.startswith("IVR flows not usable")
    assert "main.yaml" in first.prompts and "callcenter ivr check" in first.prompts

    missing = fresh.model_copy(update={"ivr_flows_dir": tmp_path / "no-such-dir"})
    assert str(tmp_path / "no-such-dir") in prepare(missing, tmp_path / "instance").prompts

    _open_around_the_clock(broken, "4008001000")
    system = AllInOne(broken, with_ami=False, web_port=0, instance_path=tmp_path / "instance").start()
    try:
        call = SimulatedCall(dialled="4008001000", caller_number="13800138000", caller_name="")
        result = asyncio.run(run_session(call, "127.0.0.1", system.agi.port))
    finally:
        system.stop()
    assert result.variables["CC_QUEUE"] == "general_q"
    with session_scope(broken.database_url) as session:
        row = session.scalar(select(Call).where(Call.uniqueid == call.uniqueid))
        assert row.queue == "general_q" and row.ivr_path == ["error"]


def _open_around_the_clock(settings: Settings, number: str) -> None:
    from callcenter.services.setup import hours

    with session_scope(settings.database_url) as session:
        hours.set_hours(session, number, hours.parse_weekdays("all"), hours.parse_intervals("00:00-24:00"))


def test_all_in_one_routes_a_call_and_serves_the_panel(fresh, tmp_path):
    prepare(fresh, tmp_path / "instance")
    _open_around_the_clock(fresh, "4008002000")
    before = set(threading.enumerate())
    system = AllInOne(fresh, with_ami=False, web_host="127.0.0.1", web_port=0,
                      instance_path=tmp_path / "instance").start()
    try:
        with urllib.request.urlopen(f"{system.web.url}/auth/login", timeout=10) as response:
            assert response.status == 200
        call = SimulatedCall(dialled="4008002000", caller_number="13800138000", caller_name='张三 "VIP"')
        result = asyncio.run(run_session(call, "127.0.0.1", system.agi.port))
        assert result.variables["CC_QUEUE"] == "vip"
        assert result.variables["QUEUE_PRIO"] == str(fresh.priority_vip)
        assert result.variables["CC_ROUTE_REASON"] == "vip_line"
        assert any(line.startswith("scheduler") for line in system.describe())
    finally:
        system.stop()
    with session_scope(fresh.database_url) as session:
        row = session.scalar(select(Call).where(Call.uniqueid == call.uniqueid))
        assert (row.queue, row.caller_name) == ("vip", '张三 "VIP"')
    leftover = [t for t in set(threading.enumerate()) - before if t.is_alive() and not t.daemon]
    assert leftover == []


def test_a_second_all_in_one_on_the_same_database_stands_by_and_takes_the_jobs_over(db_url, tmp_path):
    """Two ``serve`` on one database (a spare host, a restart that overlaps the old
    process): one runs the periodic jobs, the other stands by and takes them over when
    the first stops, so surveys and the escalation sweep neither run twice nor stop."""
    fresh = Settings(database_url=db_url, recordings_dir=tmp_path / "rec", prompts_dir=tmp_path / "rec" / "prompts",
                     secret_key="test-secret", agi_port=0)
    prepare(fresh, tmp_path / "instance")
    with contextlib.ExitStack() as running:
        one = AllInOne(fresh, with_ami=False, web_port=0, instance_path=tmp_path / "instance").start()
        running.callback(one.stop)
        two = AllInOne(fresh.model_copy(update={"agi_port": 0}), with_ami=False, web_port=0,
                       instance_path=tmp_path / "instance").start()
        running.callback(two.stop)
        assert one.scheduler is not None and two.scheduler is None
        assert "escalation_sweep" in _scheduler_line(one), one.describe()
        assert _scheduler_line(two).startswith("standing by"), two.describe()

        one.stop()
        deadline = time.monotonic() + 10
        while two.scheduler is None:
            assert time.monotonic() < deadline, "the standby never took the jobs over"
            time.sleep(0.05)
        assert {job.id for job in two.scheduler.get_jobs()} >= {"escalation_sweep", "survey_dispatch"}
        assert "escalation_sweep" in _scheduler_line(two), two.describe()
    assert two.scheduler is None


def test_jobs_that_fail_to_start_are_started_again(fresh, tmp_path, monkeypatch, caplog):
    """In ``serve`` the scheduler is a thread nothing restarts: when its jobs cannot start
    (the database away for a moment), it gives the lock up, says why, and tries again."""
    from callcenter.scheduler import jobs

    real = jobs.make_scheduler
    tries = []

    def make_scheduler(*args, **kwargs):
        tries.append(1)
        if len(tries) == 1:
            raise OSError("database is away for a moment")
        return real(*args, **kwargs)

    monkeypatch.setattr(jobs, "make_scheduler", make_scheduler)
    prepare(fresh, tmp_path / "instance")
    system = AllInOne(fresh, with_ami=False, web_port=0, instance_path=tmp_path / "instance").start()
    try:
        deadline = time.monotonic() + 15
        while system.scheduler is None:
            assert time.monotonic() < deadline, "the jobs were never started again"
            time.sleep(0.05)
        assert len(tries) == 2
        assert any("scheduler failed to run its jobs" in r.getMessage() and r.exc_info for r in caplog.records)
    finally:
        system.stop()


def _scheduler_line(system: AllInOne) -> str:
    (line,) = [line for line in system.describe() if line.startswith("scheduler")]
    return line.removeprefix("scheduler").strip()
