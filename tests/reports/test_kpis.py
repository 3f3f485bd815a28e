"""KPIs on a hand-built call history where every number is known (Asia/Shanghai, no DST).

The day under test is local 2026-11-10 = UTC [2026-11-09 16:00, 2026-11-10 16:00).
"""

from __future__ import annotations

import datetime as dt
import itertools

import pytest

from callcenter.models import Call, CallAgentLeg, CallStatus, Line, Queue, Ticket, User
from callcenter.models.lines import LineKind, QueueKind
from callcenter.models.tickets import TicketStatus, TicketType
from callcenter.services.reports import kpis, rollup
from callcenter.services.setup.periods import period_for
from callcenter.timeutil import to_utc_naive

TZ = "Asia/Shanghai"
RULES = kpis.KpiRules(short_abandon_s=5, service_level_s=20, fcr_days=3, wrapup_s=15, priority_vip=10)
DAY = period_for("day", dt.date(2026, 11, 10), TZ)
_ids = itertools.count(1)


def local(text: str) -> dt.datetime:
    return to_utc_naive(dt.datetime.fromisoformat(text), TZ)


def _user(session, name: str) -> User:
    user = User(username=name, display_name=name.upper(), password_hash="x", role="agent")
    session.add(user)
    session.flush()
    return user


def _call(session, start: str, number: str, status: CallStatus, *, line=None, agent=None, wait=None, talk=None,
          priority=0, queue="general_q") -> Call:
    n = next(_ids)
    started = local(start)
    answered = status in (CallStatus.ANSWERED, CallStatus.COMPLETED)
    call = Call(uniqueid=f"1762.{n}", linkedid=f"1762.{n}", caller_e164=number, caller_number=number,
                status=status, started_at=started, queue=queue if status not in (
                    CallStatus.HUNG_UP, CallStatus.AFTER_HOURS) else "",
                line_id=line.id if line else None, priority=priority, wait_seconds=wait, talk_seconds=talk,
                answered_by_user_id=agent.id if agent else None,
                answered_at=started + dt.timedelta(seconds=wait or 0) if answered else None,
                abandoned=status is CallStatus.ABANDONED)
    session.add(call)
    session.flush()
    return call


@pytest.fixture(params=["from calls", "from the rollup"])
def history(request, session):
    """The history; every test on it runs twice: with nothing rolled up (the figures come
    from the calls) and after the rollup was refreshed (they come from call_stats_hourly)."""
    built = _build_history(session)
    if request.param == "from the rollup":
        rollup.refresh(session, RULES)
        session.commit()
        assert rollup.stale_hours(session) == 0
        assert rollup.usable(session, RULES)
    return built


def _build_history(session):
    vip_q, gen_q = Queue(name="vip", kind=QueueKind.VIP), Queue(name="general_q", kind=QueueKind.GENERAL)
    session.add_all([vip_q, gen_q])
    session.flush()
    vip = Line(number="4008002000", name="", kind=LineKind.VIP, queue_id=vip_q.id)
    ordinary = Line(number="4008001000", name="", kind=LineKind.ORDINARY, queue_id=gen_q.id)
    session.add_all([vip, ordinary])
    session.flush()
    a, b, c = _user(session, "agenta"), _user(session, "agentb"), _user(session, "agentc")
    X, Y, Z, W = "+8613800000001", "+8613800000002", "+8613800000003", "+8613800000004"
    calls = {
        # VIP caller, answered in 10 s (within service level).
        1: _call(session, "2026-11-10 09:00:00", X, CallStatus.COMPLETED, line=vip, agent=a, wait=10, talk=100,
                 priority=10, queue="vip"),
        # Answered after 30 s: outside service level.
        2: _call(session, "2026-11-10 09:10:00", Y, CallStatus.COMPLETED, line=ordinary, agent=a, wait=30,
                 talk=200),
        # Abandoned after 2 s: a short abandon.
        3: _call(session, "2026-11-10 09:20:00", "+8613800000005", CallStatus.ABANDONED, line=ordinary, wait=2),
        # Queue timeout after 60 s: an abandon. Caller X again: X's first call was not resolved.
        4: _call(session, "2026-11-10 10:00:00", X, CallStatus.ABANDONED, line=ordinary, wait=60),
        # Transferred from agent A to agent B: one answered call, two legs.
        5: _call(session, "2026-11-10 10:30:00", Z, CallStatus.COMPLETED, line=ordinary, agent=b, wait=5, talk=50),
        # Rings at 23:59:30 and ends after midnight: belongs to the 10th; answered at exactly 20 s.
        6: _call(session, "2026-11-10 23:59:30", W, CallStatus.COMPLETED, line=ordinary, agent=b, wait=20,
                 talk=600),
        # Z calls again after midnight (within 3 days): call 5 not resolved at first contact.
        7: _call(session, "2026-11-11 00:00:30", Z, CallStatus.COMPLETED, line=ordinary, agent=a, wait=3, talk=40),
        # The day before: outside the period.
        8: _call(session, "2026-11-09 23:59:59", Y, CallStatus.ABANDONED, line=ordinary, wait=40),
        # Y calls again 4 days later: outside the FCR window.
        9: _call(session, "2026-11-14 09:10:00", Y, CallStatus.COMPLETED, line=ordinary, agent=a, wait=3, talk=40),
        # Hung up in the menu and after hours: never offered to a queue.
        10: _call(session, "2026-11-10 11:00:00", "+8613800000006", CallStatus.HUNG_UP, line=ordinary),
        11: _call(session, "2026-11-10 22:00:00", "+8613800000007", CallStatus.AFTER_HOURS, line=ordinary),
        # Still waiting: offered, neither answered nor abandoned.
        12: _call(session, "2026-11-10 15:00:00", "+8613800000008", CallStatus.QUEUED, line=ordinary),
    }
    session.add_all([
        CallAgentLeg(call_id=calls[5].id, dest_uniqueid="leg-a", interface="PJSIP/1001", outcome="connected"),
        CallAgentLeg(call_id=calls[5].id, dest_uniqueid="leg-b", interface="PJSIP/1002", outcome="connected"),
    ])
    for n, kind in ((1, TicketType.COMPLAINT), (5, TicketType.REPAIR)):
        session.add(Ticket(number=f"T{n}", type=kind, owner_id=a.id, subject="s", call_linkedid=calls[n].linkedid))
    session.commit()
    return {"calls": calls, "agents": (a, b, c)}


def test_totals_of_the_day(session, history):
    row = kpis.totals(session, DAY.start, DAY.end, RULES)
    assert (row.offered, row.answered, row.abandoned, row.short_abandoned) == (7, 4, 1, 1)
    assert row.answered_in_sl == 3                      # 10 s, 5 s and exactly 20 s
    assert row.service_level == pytest.approx(3 / 5)    # answered + abandoned; short abandon and waiting out
    assert row.abandon_rate == pytest.approx(1 / 5)
    assert row.asa_s == pytest.approx((10 + 30 + 5 + 20) / 4)
    assert row.aht_s == pytest.approx((100 + 200 + 50 + 600 + 4 * 15) / 4)
    assert row.longest_wait_s == 60


def test_short_abandon_threshold_moves_the_two_second_abandon(session, history):
    strict = kpis.KpiRules(short_abandon_s=0, service_level_s=20, fcr_days=3, wrapup_s=15)
    row = kpis.totals(session, DAY.start, DAY.end, strict)
    assert (row.abandoned, row.short_abandoned) == (2, 0)
    assert row.service_level == pytest.approx(3 / 6)


def test_rows_add_up_to_the_total_for_every_dimension(session, history):
    total = kpis.totals(session, DAY.start, DAY.end, RULES)
    for by in kpis.DIMENSIONS:
        rows = kpis.breakdown(session, DAY.start, DAY.end, RULES, by)
        summed = kpis.KpiRow(key=None, label="")
        for row in rows:
            summed.add(row)
        assert (summed.offered, summed.answered, summed.abandoned, summed.short_abandoned, summed.answered_in_sl) \
            == (total.offered, total.answered, total.abandoned, total.short_abandoned, total.answered_in_sl), by


def test_per_agent_includes_an_agent_with_no_calls(session, history):
    a, b, c = history["agents"]
    rows = {r.key: r for r in kpis.breakdown(session, DAY.start, DAY.end, RULES, "agent")}
    assert (rows[a.id].answered, rows[b.id].answered) == (2, 2)
    assert rows[b.id].aht_s == pytest.approx((50 + 600 + 2 * 15) / 2)
    assert (rows[c.id].offered, rows[c.id].answered, rows[c.id].aht_s) == (0, 0, None)
    assert rows[None].offered == 3 and rows[None].answered == 0    # the unanswered: no agent


def test_per_local_hour_and_midnight(session, history):
    rows = {r.key: r for r in kpis.breakdown(session, DAY.start, DAY.end, RULES, "hour")}
    assert sorted(rows) == [9, 10, 11, 15, 22, 23]
    assert (rows[9].offered, rows[9].short_abandoned) == (3, 1)
    assert (rows[10].offered, rows[10].abandoned, rows[10].answered) == (2, 1, 1)
    assert rows[23].answered == 1 and rows[23].label == "23:00–23:59"
    assert rows[11].offered == 0 and rows[22].offered == 0     # menu hang-up and after hours


def test_per_line_tier_queue_and_ticket_type(session, history):
    lines = {r.label: r for r in kpis.breakdown(session, DAY.start, DAY.end, RULES, "line")}
    assert lines["VIP客户专线 4008002000"].offered == 1
    assert lines["普通客户专线 4008001000"].offered == 6
    tiers = kpis.breakdown(session, DAY.start, DAY.end, RULES, "tier")
    assert [(t.key, t.offered, t.longest_wait_s) for t in tiers] == [("vip", 1, 10), ("ordinary", 6, 60)]
    queues = {r.key: r.offered for r in kpis.breakdown(session, DAY.start, DAY.end, RULES, "queue")}
    assert queues == {"vip": 1, "general_q": 6, "": 0}
    types = {r.key: r.offered for r in kpis.breakdown(session, DAY.start, DAY.end, RULES, "type")}
    assert types == {"complaint": 1, "repair": 1, None: 5}


def test_first_contact_resolution_and_repeat_callers(session, history):
    fcr = kpis.first_contact_resolution(session, DAY.start, DAY.end, RULES)
    # Calls 1 (X rang again at 10:00) and 5 (Z rang again after midnight) are not resolved;
    # 2 (Y's next call is 4 days later) and 6 (W never rang again) are.
    assert (fcr.answered, fcr.resolved) == (4, 2)
    repeat = kpis.repeat_callers(session, DAY.start, DAY.end)
    assert (repeat.numbers, repeat.calls) == (1, 2)


def test_a_week_and_a_month_in_local_time():
    week = period_for("week", dt.date(2026, 11, 10), TZ)
    assert (week.first_day, week.end_day) == (dt.date(2026, 11, 9), dt.date(2026, 11, 16))
    assert week.start == dt.datetime(2026, 11, 8, 16, 0)
    month = period_for("month", dt.date(2026, 12, 31), TZ)
    assert (month.first_day, month.end_day) == (dt.date(2026, 12, 1), dt.date(2027, 1, 1))
    assert month.end == dt.datetime(2026, 12, 31, 16, 0)
    with pytest.raises(ValueError, match="unknown report period"):
        period_for("year", dt.date(2026, 1, 1), TZ)


def test_week_totals_include_the_days_around(session, history):
    week = period_for("week", dt.date(2026, 11, 10), TZ)
    assert kpis.totals(session, week.start, week.end, RULES).offered == 10   # 7 + calls 7, 8, 9


def test_complaints_by_severity_with_deadline_compliance(session, history):
    a = history["agents"][0]
    now = local("2026-11-10 18:00:00")
    specs = [
        ("serious", "service", "2026-11-10 12:00:00", "2026-11-10 11:00:00"),   # closed on time
        ("ordinary", "service", "2026-11-10 12:00:00", "2026-11-10 13:00:00"),  # closed late
        ("ordinary", "service", "2026-11-10 12:00:00", None),                   # open, overdue
        ("ordinary", "service", "2026-11-11 12:00:00", None),                   # open, within
    ]
    for i, (severity, category, due, closed) in enumerate(specs):
        session.add(Ticket(number=f"C{i}", type=TicketType.COMPLAINT, owner_id=a.id, subject="s",
                           severity=severity, fields={"category": category}, due_at=local(due),
                           status=TicketStatus.CLOSED if closed else TicketStatus.OPEN,
                           closed_at=local(closed) if closed else None, created_at=local("2026-11-10 09:30:00")))
    session.commit()
    rows = {(r.severity, r.category): r for r in kpis.complaints(session, DAY.start, DAY.end, now)}
    serious, ordinary = rows[("serious", "service")], rows[("ordinary", "service")]
    assert (serious.total, serious.closed_on_time, serious.compliance) == (1, 1, 1.0)
    assert (ordinary.total, ordinary.closed_late, ordinary.open_overdue, ordinary.open_in_time) == (3, 1, 1, 1)
    assert ordinary.compliance == 0.0
    assert set(rows) == {("serious", "service"), ("ordinary", "service")}   # the fixture's are of today


def test_unknown_dimension_is_a_clear_error(session):
    with pytest.raises(ValueError, match="unknown report dimension"):
        kpis.breakdown(session, DAY.start, DAY.end, RULES, "colour")
