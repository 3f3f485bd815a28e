"""Lines, queues, hours, overrides and duty shifts: validation, the admin CLI, and how a
change reaches the cached configuration the router reads."""

from __future__ import annotations

import datetime as dt

import pytest
from click.testing import CliRunner
from sqlalchemy import text, update

from callcenter.cli import main
from callcenter.config import get_settings
from callcenter.db import session_factory
from callcenter.models import Line, LineKind
from callcenter.services.calls import routing
from callcenter.services.calls.routing import RouteRequest
from callcenter.services.setup import defaults, hours, lines, routing_config

from .conftest import at


def _request(dialled="4008001000", now=None):
    return RouteRequest(uniqueid="u.1", linkedid="u.1", channel="PJSIP/t-1", dialled=dialled,
                        caller_number="anonymous", caller_name="", now=now or at(2026, 11, 23, 10))


# --- validation --------------------------------------------------------------------------------

@pytest.mark.parametrize("call, message", [
    (lambda s: lines.add_queue(s, "general", "general"), "reserved"),
    (lambda s: lines.add_queue(s, "bad name", "general"), "letters, digits"),
    (lambda s: lines.add_queue(s, "q1", "gold"), "unknown queue kind"),
    (lambda s: lines.add_queue(s, "vip", "vip"), "already exists"),
    (lambda s: lines.add_line(s, "400-800", kind="vip", queue="vip"), "digits only"),
    (lambda s: lines.add_line(s, "4008003000", kind="vip", queue="nope"), "unknown queue 'nope'"),
    (lambda s: lines.add_line(s, "4008003000", kind="gold", queue="vip"), "unknown line kind"),
    (lambda s: lines.add_line(s, "4008002000", kind="vip", queue="vip"), "already exists"),
    (lambda s: lines.add_line(s, "4008003000", kind="vip", queue="vip", ivr_flow="../etc/passwd"), "IVR flow"),
    (lambda s: lines.update_line(s, "4008009999", name="x"), "unknown line"),
    (lambda s: lines.remove_queue(s, "vip"), "used by line"),
    (lambda s: hours.remove_override(s, dt.date(2026, 12, 1)), "no calendar override"),
    (lambda s: hours.add_duty_shift(s, "duty", at(2026, 12, 1, 18), at(2026, 12, 1, 9)), "end after"),
    (lambda s: hours.remove_duty_shift(s, 999), "no duty shift"),
])
def test_bad_configuration_is_refused_with_a_clear_message(session, example_config, call, message):
    with pytest.raises(lines.LineError, match=message):
        call(session)


@pytest.mark.parametrize("text_, days", [
    ("mon-fri", [0, 1, 2, 3, 4]), ("sat,sun", [5, 6]), ("1-5", [0, 1, 2, 3, 4]), ("all", list(range(7))),
    ("fri-mon", [0, 4, 5, 6]), ("周一-周五", [0, 1, 2, 3, 4]), ("Monday", [0]), ("weekend", [5, 6]),
])
def test_weekday_syntax(text_, days):
    assert hours.parse_weekdays(text_) == days


@pytest.mark.parametrize("bad", ["", "funday", "1-2-3", "8", "mon-"])
def test_bad_weekdays(bad):
    with pytest.raises(lines.LineError):
        hours.parse_weekdays(bad)


def test_interval_syntax():
    assert hours.parse_intervals("09:00-18:00") == [(dt.time(9), dt.time(18))]
    assert hours.parse_intervals("13:30-18:00, 8:30-12:00") == [(dt.time(8, 30), dt.time(12)),
                                                                (dt.time(13, 30), dt.time(18))]
    assert hours.parse_intervals("00:00-24:00") == [(dt.time(0), dt.time(0))]
    for bad, message in [("18:00-09:00", "closes before it opens"), ("9-18", "HH:MM"),
                         ("09:00-12:00,11:00-13:00", "overlap"), ("25:00-26:00", "bad time"),
                         ("09:00-24:30", "bad time"), ("", "no time range")]:
        with pytest.raises(lines.LineError, match=message):
            hours.parse_intervals(bad)


def test_setup_defaults_matches_the_dialplan_and_is_idempotent(session, example_config):
    vip, ordinary = example_config["4008002000"], example_config["4008001000"]
    assert (vip.kind, vip.queue.name, vip.duty_queue.name, vip.ivr_flow) == (LineKind.VIP, "vip", "duty", "")
    assert (ordinary.kind, ordinary.queue.name, ordinary.duty_queue.name, ordinary.ivr_flow) == \
        (LineKind.ORDINARY, "general_q", "duty", "main")
    assert [(h.weekday, h.opens, h.closes) for h in hours.list_hours(session)] == \
        [(d, dt.time(9), dt.time(18)) for d in range(5)]
    assert defaults.setup_defaults(session) == []


def test_a_line_with_history_is_deactivated_not_deleted(session, settings, example_config):
    lines.add_line(session, "4008003000", kind="ordinary", queue="general_q")
    session.commit()
    assert lines.remove_line(session, "4008003000") == "deleted"
    plan = routing.plan_route(session, settings, _request("4008002000"))
    routing.record_route(session, plan, routing.decide(plan, settings))
    session.commit()
    assert lines.remove_line(session, "4008002000") == "deactivated"
    session.commit()
    assert routing.plan_route(session, settings, _request("4008002000")).line_id is None


def test_overlapping_duty_shifts_are_reported(session, example_config):
    _, overlaps = hours.add_duty_shift(session, "duty", at(2026, 12, 24, 9), at(2026, 12, 24, 18))
    assert overlaps == []
    second, overlaps = hours.add_duty_shift(session, "duty", at(2026, 12, 24, 17), at(2026, 12, 24, 22))
    assert len(overlaps) == 1
    _, overlaps = hours.add_duty_shift(session, "duty", at(2026, 12, 24, 22), at(2026, 12, 25, 9))
    assert [o.id for o in overlaps] == []       # touching is not overlapping


# --- the cached configuration ----------------------------------------------------------------------

def test_configuration_is_cached_until_something_changes(db_url, settings, example_config):
    factory = session_factory(db_url)
    with factory() as one, factory() as two:
        assert routing_config.current_config(one) is routing_config.current_config(two)


def test_a_committed_change_is_used_by_the_next_call(db_url, settings, example_config):
    factory = session_factory(db_url)
    with factory() as router:
        assert routing.plan_route(router, settings, _request()).line_kind == "ordinary"
        router.rollback()
        with factory() as admin:                # another process: the CLI, the web panel
            lines.update_line(admin, "4008001000", kind="vip")
            admin.commit()
        assert routing.plan_route(router, settings, _request()).line_kind == "vip"
        router.rollback()
        with factory() as admin:
            hours.add_override(admin, dt.date(2026, 11, 23), "holiday")
            admin.commit()
        plan = routing.plan_route(router, settings, _request())
        assert (plan.is_open, plan.closed_reason) == (False, "holiday")


def test_bulk_orm_statements_move_the_token_too(db_url, settings, example_config):
    factory = session_factory(db_url)
    with factory() as session:
        before = routing_config.current_config(session)
        session.execute(update(Line).where(Line.number == "4008001000").values(ivr_flow="other"))
        session.commit()
        after = routing_config.current_config(session)
        assert after is not before and after.lines_by_number["4008001000"].ivr_flow == "other"


def test_an_uncommitted_change_never_reaches_the_cache(db_url, settings, example_config):
    factory = session_factory(db_url)
    with factory() as admin:
        lines.update_line(admin, "4008001000", kind="vip")
        assert routing_config.current_config(admin).lines_by_number["4008001000"].kind == "vip"   # its own view
        admin.rollback()
    with factory() as router:
        assert routing_config.current_config(router).lines_by_number["4008001000"].kind == "ordinary"


def test_raw_sql_changes_show_after_max_age(db_url, settings, example_config, monkeypatch):
    factory = session_factory(db_url)
    with factory() as session:
        routing_config.current_config(session)
        session.execute(text("UPDATE lines SET name = 'renamed' WHERE number = '4008001000'"))
        session.commit()
        assert routing_config.current_config(session).lines_by_number["4008001000"].name != "renamed"
        monkeypatch.setattr(routing_config, "MAX_AGE_S", 0.0)
        assert routing_config.current_config(session).lines_by_number["4008001000"].name == "renamed"


# --- the admin CLI -----------------------------------------------------------------------------------

@pytest.fixture
def cli(db_url, monkeypatch, tmp_path):
    monkeypatch.setenv("CALLCENTER_DATABASE_URL", db_url)
    monkeypatch.setenv("CALLCENTER_IVR_FLOWS_DIR", str(tmp_path / "flows"))
    get_settings.cache_clear()
    runner = CliRunner()

    def run(*args: str, ok: bool = True):
        result = runner.invoke(main, list(args))
        if ok:
            assert result.exit_code == 0, result.output
        else:
            assert result.exit_code != 0, result.output
        return result

    yield run
    get_settings.cache_clear()


def test_admin_cli_end_to_end(cli, session, settings):
    out = cli("setup-defaults").output
    assert "line 4008002000" in out and "queue general_q" in out and "Mon–Fri 09:00-18:00" in out
    assert "already there" in cli("setup-defaults").output
    listing = cli("line", "list").output
    assert "4008002000" in listing and "VIP客户专线" in listing
    assert "IVR flow 'main' has no file" in listing           # warns, lines still listed
    cli("queue", "add", "complaints_q", "--kind", "general", "--description", "投诉专席")
    assert "complaints_q" in cli("queue", "list").output
    cli("line", "add", "4008003000", "--kind", "ordinary", "--queue", "complaints_q", "--name", "投诉热线")
    cli("line", "set", "4008003000", "--duty-queue", "duty", "--inactive")
    assert "unknown queue 'nope'" in cli("line", "set", "4008003000", "--queue", "nope", ok=False).output
    cli("hours", "set", "default", "sat", "09:00-12:00")
    cli("hours", "set", "4008002000", "all", "00:00-24:00")
    assert "closes before it opens" in cli("hours", "set", "default", "mon", "18:00-09:00", ok=False).output
    hours = cli("hours", "list").output
    assert "default     sat  09:00-12:00" in hours and "4008002000  sun  00:00-24:00" in hours
    cli("calendar", "holiday", "add", "2026-12-24", "--to", "2026-12-25", "--name", "年会")
    cli("calendar", "workday", "add", "2026-12-27", "--line", "4008001000")
    assert "not a date" in cli("calendar", "holiday", "add", "24/12/2026", ok=False).output
    listing = cli("calendar", "list").output
    assert "2026-12-25  holiday  default" in listing and "2026-12-27  workday  4008001000" in listing
    day = cli("calendar", "day", "2026-10-10").output
    assert "working day (swapped weekend working day, 调休)" in day and "09:00-18:00" in day
    cli("calendar", "remove", "2026-12-25")
    duty = cli("duty", "add", "--queue", "duty", "--from", "2099-12-24 09:00", "--to", "2099-12-24 18:00",
               "--note", "小王").output
    assert "duty shift" in duty
    overlap = cli("duty", "add", "--queue", "duty", "--from", "2099-12-24 17:00", "--to", "2099-12-24 20:00")
    assert "warning: overlaps duty shift" in overlap.output
    assert "小王" in cli("duty", "list").output
    assert "unknown queue" in cli("duty", "add", "--queue", "x", "--from", "2026-12-24 09:00",
                                  "--to", "2026-12-24 10:00", ok=False).output
    assert "used by line" in cli("queue", "remove", "duty", ok=False).output

    # what the router sees now
    ordinary = lines.get_line(session, "4008001000").id
    config = routing_config.current_config(session)
    assert config.lines_by_number.get("4008003000") is None        # inactive
    assert config.overrides[(dt.date(2026, 12, 24), None)][0].value == "holiday"
    assert config.overrides[(dt.date(2026, 12, 27), ordinary)][0].value == "workday"
    assert (dt.date(2026, 12, 25), None) not in config.overrides


def test_calendar_status_warns_about_years_without_national_data(cli, monkeypatch):
    import callcenter.db

    monkeypatch.setattr(callcenter.db, "utcnow", lambda: dt.datetime(2026, 11, 22, 4, 0))
    result = cli("calendar", "status")
    assert "today (Asia/Shanghai): 2026-11-22" in result.output
    assert "years 2004-2026" in result.output
    assert "2027: NOT COVERED" in result.output
    assert "WARNING: 2027: not covered by chinesecalendar" in result.output
