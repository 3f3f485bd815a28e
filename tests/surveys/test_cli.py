"""``callcenter surveys``: plans, a series, the do-not-call list, the queue."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from callcenter.cli import main
from callcenter.config import get_settings
from callcenter.models import SurveyContact, SurveyRequest

from .conftest import closed_ticket


@pytest.fixture
def cli(settings, monkeypatch):
    monkeypatch.setenv("CALLCENTER_DATABASE_URL", settings.database_url)
    monkeypatch.delenv("CALLCENTER_CONFIG", raising=False)
    get_settings.cache_clear()
    yield lambda *args: CliRunner().invoke(main, list(args))
    get_settings.cache_clear()


def test_plans_series_do_not_call_and_queue(cli, session, settings, agent):
    ticket = closed_ticket(session, settings, agent)
    session.commit()
    result = cli("surveys", "plans")
    assert result.exit_code == 0 and "walk_in" in result.output and "0,3,5,7,15" in result.output
    result = cli("surveys", "series", ticket.number, "--plan", "walk_in", "--start", "2099-01-05T10:00")
    assert result.exit_code == 0 and "5 call(s) scheduled" in result.output
    assert cli("surveys", "series", ticket.number, "--plan", "construction", "--start", "2099-01-05").exit_code == 1
    bad = cli("surveys", "series", ticket.number, "--plan", "walk_in", "--start", "next monday")
    assert bad.exit_code == 2 and "2026-10-01" in bad.output
    assert cli("surveys", "do-not-call", "138 0013 8000", "--note", "投诉后要求").exit_code == 0
    session.expire_all()
    assert session.scalars(select(SurveyContact)).one().do_not_call
    assert len(session.scalars(select(SurveyRequest)).all()) == 6
    assert "GD" in cli("surveys", "queue").output
