"""The hourly rollup gives the same figures as the calls themselves, whatever happened
since it was last refreshed (random histories, changes after a partial refresh), and a
report over refreshed whole hours does not read the calls at all."""

from __future__ import annotations

import datetime as dt
import random

import pytest
from sqlalchemy import event, select

from callcenter.db import engine_for
from callcenter.models import Call, CallStatsHourly, CallStatsStaleHour, CallStatus, Line, Queue, Ticket, User
from callcenter.models.lines import LineKind, QueueKind
from callcenter.models.tickets import TicketType
from callcenter.services.reports import kpis, rollup
from callcenter.services.reports.measures import KpiRules
from callcenter.services.setup.periods import period_for

TZ = "Asia/Shanghai"
RULES = KpiRules(short_abandon_s=5, service_level_s=20, fcr_days=3, wrapup_s=15, priority_vip=10, tz=TZ)
STATUSES = [CallStatus.COMPLETED, CallStatus.COMPLETED, CallStatus.ABANDONED, CallStatus.QUEUED,
            CallStatus.HUNG_UP, CallStatus.AFTER_HOURS, CallStatus.ANSWERED]


def _setup(session):
    queues = [Queue(name="vip", kind=QueueKind.VIP), Queue(name="general_q", kind=QueueKind.GENERAL)]
    session.add_all(queues)
    session.flush()
    lines = [Line(number="4008002000", kind=LineKind.VIP, queue_id=queues[0].id),
             Line(number="4008001000", kind=LineKind.ORDINARY, queue_id=queues[1].id)]
    agents = [User(username=f"agent{n}", password_hash="x", role="agent") for n in range(4)]
    session.add_all(lines + agents)
    session.flush()
    return lines, agents


def _random_call(rnd, n, lines, agents, start, span_s) -> Call:
    status = rnd.choice(STATUSES)
    answered = status in (CallStatus.COMPLETED, CallStatus.ANSWERED)
    began = start + dt.timedelta(seconds=rnd.randrange(span_s))
    wait = rnd.choice([0, 2, 5, 19, 20, 21, 60])
    number = rnd.choice(["+8613900000001", "+8613900000002", "+8613900000003", "", f"+86138{n:08d}"])
    return Call(uniqueid=f"r{n}", linkedid=f"r{n}", caller_e164=number, caller_number=number, status=status,
                started_at=began, queue=rnd.choice(["vip", "general_q"]) if status not in (
                    CallStatus.HUNG_UP, CallStatus.AFTER_HOURS) else "",
                line_id=rnd.choice([lines[0].id, lines[1].id, None]), priority=rnd.choice([0, 0, 10]),
                wait_seconds=wait, talk_seconds=rnd.randint(10, 300) if status is CallStatus.COMPLETED else None,
                answered_at=began + dt.timedelta(seconds=wait) if answered else None,
                answered_by_user_id=rnd.choice(agents).id if answered else None,
                abandoned=status is CallStatus.ABANDONED)


def _figures(session, period):
    """Every figure a report shows for the period, as plain data."""
    out = {"totals": kpis.totals(session, period.start, period.end, RULES).as_dict(),
           "fcr": kpis.first_contact_resolution(session, period.start, period.end, RULES),
           "repeat": kpis.repeat_callers(session, period.start, period.end, RULES)}
    for by in kpis.DIMENSIONS:
        out[by] = [row.as_dict() for row in kpis.breakdown(session, period.start, period.end, RULES, by)]
    return out


def _from_calls(session, period):
    """The same figures with the rollup out of use (as before it is first computed)."""
    state = session.execute(select(rollup.CallStatsState).where(rollup.CallStatsState.id == 1)).scalar_one()
    kept, state.rules = state.rules, "(out of use)"
    session.commit()
    try:
        assert not rollup.usable(session, RULES)
        return _figures(session, period)
    finally:
        state.rules = kept
        session.commit()


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_rollup_figures_equal_the_calls_after_any_changes(session, seed):
    rnd = random.Random(seed)
    lines, agents = _setup(session)
    week = period_for("week", dt.date(2026, 11, 10), TZ)
    # Calls from the week before to the week after, so FCR and repeat callers look outside.
    start, span = week.start - dt.timedelta(days=3), int(dt.timedelta(days=13).total_seconds())
    calls = [_random_call(rnd, n, lines, agents, start, span) for n in range(300)]
    session.add_all(calls)
    session.flush()
    for call in rnd.sample([c for c in calls if c.answered_at], 30):
        session.add(Ticket(number=f"T{call.id}", type=rnd.choice(list(TicketType)), owner_id=agents[0].id,
                           subject="s", call_linkedid=call.linkedid))
    session.commit()
    rollup.refresh(session, RULES, max_hours=24 * 30)
    session.commit()
    assert rollup.stale_hours(session) == 0
    assert _figures(session, week) == _from_calls(session, week)
    assert _figures(session, week)["totals"]["offered"] > 50

    # Changes after the refresh: new calls, status changes, a ticket's type, a deleted call;
    # then only part of the stale hours refreshed.
    for n in range(300, 340):
        session.add(_random_call(rnd, n, lines, agents, start, span))
    for call in rnd.sample(calls, 40):
        call.status = rnd.choice(STATUSES)
        call.wait_seconds = rnd.choice([1, 30])
    ticket = session.execute(select(Ticket).limit(1)).scalar_one()
    ticket.type = TicketType.COMPLAINT if ticket.type != TicketType.COMPLAINT else TicketType.REPAIR
    session.delete(calls[0])
    session.commit()
    assert rollup.stale_hours(session) > 0
    assert _figures(session, week) == _from_calls(session, week)
    rollup.refresh(session, RULES, max_hours=5)
    session.commit()
    assert _figures(session, week) == _from_calls(session, week)
    rollup.refresh(session, RULES, max_hours=24 * 30)
    session.commit()
    assert rollup.stale_hours(session) == 0
    assert _figures(session, week) == _from_calls(session, week)


def test_a_report_over_refreshed_hours_reads_no_call_rows(session, db_url):
    lines, agents = _setup(session)
    day = period_for("day", dt.date(2026, 11, 10), TZ)
    rnd = random.Random(7)
    session.add_all([_random_call(rnd, n, lines, agents, day.start, 86_400) for n in range(50)])
    session.commit()
    rollup.refresh(session, RULES)
    session.commit()
    statements: list[str] = []
    engine = engine_for(db_url)

    def seen(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", seen)
    try:
        assert kpis.totals(session, day.start, day.end, RULES).offered > 0
        kpis.breakdown(session, day.start, day.end, RULES, "agent")
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert statements and not [s for s in statements if " calls" in s.lower()]


def test_a_change_is_in_the_report_at_once_and_marks_only_its_hour(session):
    lines, agents = _setup(session)
    day = period_for("day", dt.date(2026, 11, 10), TZ)
    call = Call(uniqueid="c1", linkedid="c1", caller_e164="+8613900000009", status=CallStatus.QUEUED,
                started_at=day.start + dt.timedelta(hours=3, minutes=10), queue="vip", line_id=lines[0].id)
    session.add(call)
    session.commit()
    rollup.refresh(session, RULES)
    session.commit()
    assert kpis.totals(session, day.start, day.end, RULES).answered == 0

    call.status, call.answered_at, call.wait_seconds = CallStatus.ANSWERED, call.started_at, 4
    call.answered_by_user_id = agents[0].id
    session.commit()
    marked = session.execute(select(CallStatsStaleHour.hour).distinct()).scalars().all()
    assert marked == [day.start + dt.timedelta(hours=3)]
    assert kpis.totals(session, day.start, day.end, RULES).answered == 1     # before any refresh

    # A column no KPI reads leaves the rollup alone.
    rollup.refresh(session, RULES)
    session.commit()
    call.recording_file = "2026/11/10/c1.wav"
    session.commit()
    assert rollup.stale_hours(session) == 0


def test_a_ticket_marks_the_hour_of_its_call(session):
    _lines, agents = _setup(session)
    began = dt.datetime(2026, 11, 10, 2, 30)
    session.add(Call(uniqueid="c2", linkedid="c2", caller_e164="+8613900000010", status=CallStatus.COMPLETED,
                     started_at=began, queue="vip", answered_at=began, answered_by_user_id=agents[0].id))
    session.commit()
    rollup.refresh(session, RULES)
    session.commit()
    session.add(Ticket(number="T-c2", type=TicketType.REPAIR, owner_id=agents[0].id, subject="s", call_linkedid="c2"))
    session.commit()
    assert session.execute(select(CallStatsStaleHour.hour)).scalars().all() == [dt.datetime(2026, 11, 10, 2)]


def test_changed_rules_put_the_rollup_out_of_use_until_it_is_rebuilt(session):
    _lines, agents = _setup(session)
    day = period_for("day", dt.date(2026, 11, 10), TZ)
    began = day.start + dt.timedelta(hours=5)
    session.add(Call(uniqueid="c3", linkedid="c3", caller_e164="+8613900000011", status=CallStatus.COMPLETED,
                     started_at=began, queue="vip", wait_seconds=25, answered_at=began,
                     answered_by_user_id=agents[0].id, talk_seconds=30))
    session.commit()
    rollup.refresh(session, RULES)
    session.commit()
    assert kpis.totals(session, day.start, day.end, RULES).answered_in_sl == 0
    looser = KpiRules(short_abandon_s=5, service_level_s=30, fcr_days=3, wrapup_s=15, tz=TZ)
    assert not rollup.usable(session, looser)
    assert kpis.totals(session, day.start, day.end, looser).answered_in_sl == 1   # read from the calls
    assert rollup.refresh(session, looser) == 1                                      # rebuilt with the new rules
    session.commit()
    assert rollup.usable(session, looser)
    assert kpis.totals(session, day.start, day.end, looser).answered_in_sl == 1
    assert session.execute(select(CallStatsHourly.hour).distinct()).scalars().all() == [
        day.start + dt.timedelta(hours=5)]


def test_repeat_callers_need_a_period_starting_at_local_midnight(session):
    with pytest.raises(ValueError, match="local midnight"):
        kpis.repeat_callers(session, dt.datetime(2026, 11, 10, 3, 0), dt.datetime(2026, 11, 11, 3, 0), RULES)


def _calls_over_two_days(session):
    lines, agents = _setup(session)
    rnd = random.Random(11)
    session.add_all([_random_call(rnd, n, lines, agents, dt.datetime(2026, 11, 9, 16), 2 * 86_400)
                     for n in range(60)])
    session.commit()
    return session.execute(select(CallStatsStaleHour.hour).distinct()).scalars().all()


def test_the_scheduler_job_refreshes_the_rollup(session, settings):
    from callcenter.scheduler import jobs

    hours = _calls_over_two_days(session)
    assert [job.id for job in jobs.SCHEDULE if job.func.endswith(":call_stats_refresh")] == ["call_stats_refresh"]
    try:
        jobs.configure(settings)
        assert jobs.call_stats_refresh() == len(hours)
        assert jobs.call_stats_refresh() == 0
    finally:
        jobs.configure(None)
    session.expire_all()
    assert rollup.stale_hours(session) == 0
    assert set(session.execute(select(CallStatsHourly.hour).distinct()).scalars()) == set(hours)


def test_the_cli_brings_the_rollup_up_to_date_and_rebuilds_it(session, db_url, monkeypatch):
    from click.testing import CliRunner

    from callcenter.cli import main
    from callcenter.config import get_settings

    hours = _calls_over_two_days(session)
    monkeypatch.setenv("CALLCENTER_DATABASE_URL", db_url)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(main, ["reports", "rollup"])
        assert result.exit_code == 0, result.output
        assert f"rollup up to date: {len(hours)} hour(s) recomputed" in result.output
        result = CliRunner().invoke(main, ["reports", "rollup", "--rebuild"])
        assert result.exit_code == 0, result.output
        assert f"{len(hours)} hour(s) with calls to recompute" in result.output
        monkeypatch.setenv("CALLCENTER_KPI_FCR_DAYS", "45")
        get_settings.cache_clear()
        result = CliRunner().invoke(main, ["reports", "rollup"])
        assert result.exit_code == 1
        assert "kpi_fcr_days 45 is over 31" in result.output
    finally:
        get_settings.cache_clear()
    session.expire_all()
    assert rollup.stale_hours(session) == 0
