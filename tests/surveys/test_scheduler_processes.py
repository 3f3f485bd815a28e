"""The one scheduler as real ``callcenter scheduler`` processes against the AMI emulator:
a second copy stands by and takes over when the first is killed (-9); a scheduler whose
PostgreSQL lock is taken away (pg_terminate_backend) stops dialling at once; killed at
random moments mid-dispatch and restarted, no customer is dialled twice and no survey is
lost."""

from __future__ import annotations

import collections
import datetime as dt
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select, text

from callcenter.db import session_scope, utcnow
from callcenter.models import SurveyAttempt, SurveyRequest
from callcenter.scheduler.leadership import PG_LOCK_KEY
from callcenter.services.surveys import requests
from callcenter.simulation.ami.state import ANSWER
from callcenter.simulation.ami.thread import EmulatorThread

from .conftest import closed_ticket

CALLCENTER = Path(sys.executable).absolute().parent / "callcenter"
SECRET = "survey-process-secret"


class _EveryoneAnswers(dict):
    def get(self, key, default=None):
        return ANSWER


@pytest.fixture
def emulator():
    emu = EmulatorThread(secret=SECRET, boot_delay_s=0.05, originate_ring_s=0.05).start()
    emu.emulator.endpoints = _EveryoneAnswers()
    yield emu
    emu.stop()


class Scheduler:
    """One ``callcenter scheduler`` process; its stderr goes to a file the test reads."""

    def __init__(self, settings, emulator, tmp_path: Path, name: str, **extra: str) -> None:
        env = {k: v for k, v in os.environ.items() if k != "CALLCENTER_CONFIG"}
        env.update(CALLCENTER_DATABASE_URL=settings.database_url, CALLCENTER_AMI_HOST=emulator.host,
                   CALLCENTER_AMI_PORT=str(emulator.port), CALLCENTER_AMI_SECRET=SECRET,
                   CALLCENTER_AMI_RECONNECT_MAX_S="0.5", CALLCENTER_SURVEY_DIAL="PJSIP/{number}",
                   CALLCENTER_SURVEY_MAX_CONCURRENT="1000", CALLCENTER_SURVEY_AGENT_LINES="1000",
                   CALLCENTER_SURVEY_CALLS_PER_MINUTE="600", CALLCENTER_SURVEY_DISPATCH_S="0.5",
                   CALLCENTER_SCHEDULER_LOCK_CHECK_S="0.3", CALLCENTER_JOURNAL_DIR=str(tmp_path / "journal"),
                   CALLCENTER_ASTERISK_CDR_CSV=str(tmp_path / "no-cdr.csv"), **extra)
        self.log_path = tmp_path / f"{name}.log"
        self.process = subprocess.Popen([str(CALLCENTER), "-v", "scheduler"], cwd=tmp_path, env=env,
                                        stdout=subprocess.DEVNULL, stderr=open(self.log_path, "w"))  # noqa: SIM115

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_log(self, text_: str, timeout: float = 30.0, count: int = 1) -> None:
        deadline = time.monotonic() + timeout
        while self.log().count(text_) < count:
            assert self.process.poll() is None, f"scheduler exited: {self.log()}"
            assert time.monotonic() < deadline, f"no {text_!r} in: {self.log()}"
            time.sleep(0.05)

    def kill(self, signum=signal.SIGKILL) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signum)
        self.process.wait(30)


@pytest.fixture
def schedulers(session, agent):
    session.commit()                     # the processes must not wait on this test's transaction
    started: list[Scheduler] = []
    yield started
    for scheduler in started:
        scheduler.kill(signal.SIGTERM if scheduler.process.poll() is None else signal.SIGKILL)


def due_surveys(session, settings, agent, count: int, first: int = 0) -> list[str]:
    numbers = [f"138{first + i:08d}" for i in range(count)]
    for number in numbers:
        closed_ticket(session, settings, agent, phone=number, closed_at=utcnow() - dt.timedelta(minutes=1))
        requests.set_contact(session, number, preferred=(dt.time(0, 0), dt.time(23, 59, 59)))
    session.commit()
    return numbers


def originates(emulator, since: int = 0) -> list:
    return [a for a in emulator.actions[since:] if a.message.get("Action") == "Originate"]


def wait_until(condition, timeout=30.0, what="condition"):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_a_second_scheduler_stands_by_and_takes_over_after_kill_9(settings, emulator, tmp_path, session, agent,
                                                                   schedulers):
    first = Scheduler(settings, emulator, tmp_path, "first")
    schedulers.append(first)
    first.wait_log("scheduler running")
    second = Scheduler(settings, emulator, tmp_path, "second")
    schedulers.append(second)
    second.wait_log("standing by")
    numbers = due_surveys(session, settings, agent, 3)
    wait_until(lambda: len(originates(emulator)) == 3, what="the first scheduler's calls")
    assert "scheduler running" not in second.log()

    first.kill()                                   # kill -9: no clean-up, the lock goes with the process
    second.wait_log("scheduler running")
    more = due_surveys(session, settings, agent, 3, first=100)
    wait_until(lambda: len(originates(emulator)) == 6, what="the standby's calls")
    dialled = collections.Counter(a.message.get("Channel") for a in originates(emulator))
    assert dialled == {f"PJSIP/{n}": 1 for n in numbers + more}


@pytest.mark.postgres
def test_a_scheduler_that_loses_its_postgresql_lock_stops_dialling(settings, emulator, tmp_path, session, agent,
                                                                   schedulers):
    if not settings.database_url.startswith("postgresql"):
        pytest.skip("the advisory lock is PostgreSQL's")
    first = Scheduler(settings, emulator, tmp_path, "first")
    schedulers.append(first)
    first.wait_log("scheduler running")
    second = Scheduler(settings, emulator, tmp_path, "second")
    schedulers.append(second)
    second.wait_log("standing by")
    due_surveys(session, settings, agent, 2)
    wait_until(lambda: len(originates(emulator)) == 2, what="the first scheduler's calls")
    first_session = originates(emulator)[0].session

    admin = create_engine(settings.database_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        terminated = conn.execute(text(
            "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND granted "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
            "AND ((classid::bigint << 32) | objid::bigint) = :k"), {"k": PG_LOCK_KEY}).scalars().all()
    admin.dispose()
    assert terminated == [True]
    mark = len(emulator.actions)
    first.wait_log("scheduler lock lost")
    wait_until(lambda: "scheduler running" in second.log() or first.log().count("scheduler running") == 2,
               what="a scheduler holding the lock again")
    numbers = due_surveys(session, settings, agent, 5, first=200)
    wait_until(lambda: len(originates(emulator, mark)) == 5, what="the new holder's calls")
    assert {a.session for a in originates(emulator, mark)} != {first_session}
    assert all(a.session != first_session for a in originates(emulator, mark))
    assert collections.Counter(a.message.get("Channel") for a in originates(emulator, mark)) == \
        {f"PJSIP/{n}": 1 for n in numbers}


def test_kill_9_mid_dispatch_never_dials_twice_and_loses_nothing(settings, emulator, tmp_path, session, agent,
                                                                 schedulers):
    rng = random.Random(13)
    numbers = due_surveys(session, settings, agent, 60)
    extra = {"CALLCENTER_SURVEY_ATTEMPT_STALE_S": "2"}
    at_kill: list[int] = []
    for _round in range(8):
        scheduler = Scheduler(settings, emulator, tmp_path, f"round{_round}", **extra)
        schedulers.append(scheduler)
        scheduler.wait_log("scheduler running")
        time.sleep(rng.uniform(0.05, 1.5))         # somewhere in the middle of a dispatch
        scheduler.kill()
        at_kill.append(len(originates(emulator)))
    last = Scheduler(settings, emulator, tmp_path, "last", **extra)
    schedulers.append(last)

    def settled() -> bool:
        with session_scope(settings.database_url) as s:
            surveys = list(s.scalars(select(SurveyRequest)))
            return all(sv.attempts >= 1 for sv in surveys) and not s.scalar(
                select(SurveyAttempt.id).where(SurveyAttempt.outcome == "", SurveyAttempt.answered_at.is_(None)))
    wait_until(settled, timeout=60, what="every survey dialled or settled")

    dialled = collections.Counter(a.message.get("Channel").removeprefix("PJSIP/") for a in originates(emulator))
    assert max(dialled.values()) == 1, [n for n, c in dialled.items() if c > 1]        # 0 customers twice
    with session_scope(settings.database_url) as s:
        for survey in s.scalars(select(SurveyRequest)):
            attempts = list(s.scalars(select(SurveyAttempt).where(SurveyAttempt.survey_id == survey.id)))
            assert len(attempts) == 1                                                   # 0 surveys lost
            (attempt,) = attempts
            if dialled[survey.number]:
                assert attempt.reason == 4 or attempt.outcome == "unknown"
            else:                    # killed between the attempt's commit and its Originate
                assert attempt.outcome == "unknown" and survey.next_attempt_at is not None
    assert set(dialled) <= set(numbers)
    assert any(0 < n < len(numbers) for n in at_kill), at_kill      # some kills did land mid-dispatch
