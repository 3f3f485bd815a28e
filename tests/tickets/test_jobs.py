"""The scheduler: the sweep as an importable job, one scheduler per database, the CLI."""

from __future__ import annotations

import datetime as dt
import pickle

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from callcenter.bus.core import InProcessBus
from callcenter.cli import main
from callcenter.config import get_settings
from callcenter.db import session_factory, utcnow
from callcenter.models import Ticket
from callcenter.scheduler import jobs
from callcenter.services.tickets.tickets import create_ticket

from .helpers import COMPLAINT_FIELDS


@pytest.fixture(autouse=True)
def _forget_runtime():
    yield
    jobs.configure(None)  # the next test's job runs start from scratch


def overdue_complaint(session, settings, actor):
    """Urgent (2 h), passed on (no same-day rule): due an hour ago, next level in an hour."""
    t = create_ticket(session, settings, actor=actor, type="complaint", subject="噪音", contact_phone="138",
                      severity="ordinary", urgency="urgent", department="工程部",
                      fields=dict(COMPLAINT_FIELDS), now=utcnow() - dt.timedelta(hours=3))
    session.commit()
    return t


def test_scheduler_holds_the_sweep_as_text_reference(settings):
    scheduler = jobs.make_scheduler(settings.model_copy(update={"escalation_sweep_s": 45}))
    (job,) = [j for j in scheduler.get_jobs() if j.id == "escalation_sweep"]
    assert job.func_ref == "callcenter.scheduler.jobs:escalation_sweep"
    assert job.trigger.interval.total_seconds() == 45
    pickle.dumps((job.args, job.kwargs))  # what a persistent job store would store
    assert not scheduler.running


def test_sweep_job_commits_and_publishes(settings, session, people):
    t = overdue_complaint(session, settings, people["agent1"])
    bus = InProcessBus()
    jobs.make_scheduler(settings, bus)
    with bus.subscribe("notify") as sub:
        assert jobs.escalation_sweep() == 1
        events = [payload for _topic, payload in sub.drain()]
    assert {e["user_id"] for e in events} == {people["agent1"].id, people["sup"].id}
    with session_factory(settings.database_url)() as fresh:
        assert fresh.scalar(select(Ticket.escalation_level).where(Ticket.id == t.id)) == 1
    assert jobs.escalation_sweep() == 0


def test_a_second_scheduler_is_refused(settings):
    with jobs.single_instance_lock(settings):
        with pytest.raises(jobs.SchedulerAlreadyRunning):
            with jobs.single_instance_lock(settings):
                pass
    with jobs.single_instance_lock(settings):  # released on exit
        pass


def test_scheduler_command_once(settings, session, people, monkeypatch):
    overdue_complaint(session, settings, people["agent1"])
    monkeypatch.setenv("CALLCENTER_DATABASE_URL", settings.database_url)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(main, ["scheduler", "--once"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert "1 ticket(s) escalated" in result.output
