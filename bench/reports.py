"""Reports benchmark: each report over a month of calls, next to a bare scan of the same rows.

    python bench/reports.py [--calls 1000000] [--pg URL] [--repeat 3]

A fresh SQLite database (and, with --pg, a private PostgreSQL database) is migrated and
seeded with ``--calls`` calls over November 2026 (two lines, three queues, 40 agents,
one ticket per 20 calls, 30% repeat callers). Figures printed per database, each the
median of ``--repeat`` runs, with its ratio to the floor:

  floor      SELECT count(*), sum(wait), sum(talk) FROM calls WHERE started_at in the month:
             one bare scan of the rows every report reads
  totals     kpis.totals for the month
  by <dim>   kpis.breakdown per line, queue, agent, hour, ticket type, tier
  fcr        first-contact resolution (a look-ahead per answered call)
  repeat     repeat callers
  page       the whole month report as the page builds it (totals + one breakdown + fcr +
             repeat + complaints)
Reports read the hourly rollup (services/reports/rollup.py) for the hours it holds and
the calls for the rest; the run builds the rollup first (timed), then changes the month's
first two calls so the reports also read a changed hour from the calls, as they do all day.
It also prints what the rollup's triggers add to a call's writes (insert + three
updates, as a call's life makes them) against the same writes without them.
Targets: every report <= 1.5x the floor and under 1 s.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import create_engine, insert, text, update
from sqlalchemy.engine import make_url

from callcenter import migrate
from callcenter.config import Settings
from callcenter.db import session_factory
from callcenter.models import Call, CallStatus, Line, Queue, Role, Ticket, TicketType, User
from callcenter.models.lines import LineKind, QueueKind
from callcenter.services.reports import kpis, rollup
from callcenter.services.reports import report as reports
from callcenter.services.setup.periods import period_for

TZ = "Asia/Shanghai"
MONTH = dt.date(2026, 11, 15)


def timed(fn, repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def seed(url: str, calls: int) -> None:
    rnd = random.Random(20261106)
    factory = session_factory(url)
    period = period_for("month", MONTH, TZ)
    span = (period.end - period.start).total_seconds()
    with factory() as s:
        vq, gq, dq = (Queue(name="vip", kind=QueueKind.VIP), Queue(name="general_q", kind=QueueKind.GENERAL),
                      Queue(name="duty", kind=QueueKind.DUTY))
        s.add_all([vq, gq, dq])
        s.flush()
        vip = Line(number="4008002000", kind=LineKind.VIP, queue_id=vq.id)
        ordinary = Line(number="4008001000", kind=LineKind.ORDINARY, queue_id=gq.id)
        s.add_all([vip, ordinary])
        s.flush()
        agents = [User(username=f"agent{1000 + i}", role=Role.AGENT, password_hash="x") for i in range(40)]
        s.add_all(agents)
        s.flush()
        agent_ids, line_ids = [a.id for a in agents], (vip.id, ordinary.id)
        s.commit()
        repeaters = [f"+86139{n:08d}" for n in range(calls // 20)]
        batch, tickets = [], []
        # Calls are written as they arrive: in the order they start.
        starts = sorted(period.start + dt.timedelta(seconds=rnd.random() * span) for _ in range(calls))
        for n in range(calls):
            start = starts[n]
            is_vip = rnd.random() < 0.2
            r = rnd.random()
            status = (CallStatus.COMPLETED if r < 0.82 else CallStatus.ABANDONED if r < 0.95
                      else CallStatus.HUNG_UP if r < 0.98 else CallStatus.AFTER_HOURS)
            answered = status is CallStatus.COMPLETED
            wait = int(rnd.expovariate(1 / 18))
            number = rnd.choice(repeaters) if rnd.random() < 0.3 else f"+86138{n:08d}"
            uid = f"b{n}"
            batch.append(dict(
                uniqueid=uid, linkedid=uid, caller_e164=number, caller_number=number, status=status,
                started_at=start, queue=("vip" if is_vip else "general_q") if status not in (
                    CallStatus.HUNG_UP, CallStatus.AFTER_HOURS) else "",
                line_id=line_ids[0] if is_vip else line_ids[1], priority=10 if is_vip else 0,
                wait_seconds=wait, talk_seconds=rnd.randint(30, 900) if answered else None,
                answered_at=start + dt.timedelta(seconds=wait) if answered else None,
                answered_by_user_id=rnd.choice(agent_ids) if answered else None,
                abandoned=status is CallStatus.ABANDONED, channel="", dialled_number="", caller_name="",
                ivr_path=[], category="", route_reason="", screen_pop_key="", answered_by_interface="",
                hangup_side="", hangup_cause="", recording_file="",
            ))
            if answered and n % 20 == 0:
                kind = rnd.choice(list(TicketType))
                tickets.append(dict(number=f"GD-{n}", type=kind, status="closed", owner_id=agent_ids[0],
                                    subject="s", call_linkedid=uid, created_at=start, updated_at=start,
                                    severity="ordinary" if kind is TicketType.COMPLAINT else "",
                                    due_at=start + dt.timedelta(days=1),
                                    closed_at=start + dt.timedelta(hours=rnd.randint(1, 40))))
            if len(batch) >= 20000:
                _insert(s, Call, batch)
                batch.clear()
        if batch:
            _insert(s, Call, batch)
        for i in range(0, len(tickets), 20000):
            s.execute(insert(Ticket), tickets[i:i + 20000])
        s.commit()
        s.execute(text("ANALYZE"))
        s.commit()


def _insert(session, model, rows: list[dict]) -> None:
    """Bulk rows: COPY on PostgreSQL (a million rows in seconds), executemany elsewhere."""
    if session.get_bind().dialect.name != "postgresql":
        session.execute(insert(model), rows)
        return
    columns = list(rows[0])
    table = model.__table__
    raw = session.connection().connection.driver_connection
    with raw.cursor() as cursor, cursor.copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row([_pg_value(row[c]) for c in columns])


def _pg_value(value):
    if hasattr(value, "value"):          # an enum member: its stored string
        return value.value
    if isinstance(value, list):          # JSON columns
        return "[]"
    return value


def run(url: str, calls: int, repeat: int) -> None:
    name = make_url(url).get_backend_name()
    started = time.perf_counter()
    migrate.upgrade(url)
    seed(url, calls)
    print(f"\n{name}: {calls:,} calls seeded in {time.perf_counter() - started:.0f} s")
    settings = Settings(database_url=url, timezone=TZ)
    rules = kpis.KpiRules.from_settings(settings)
    period = period_for("month", MONTH, TZ)
    factory = session_factory(url)
    started = time.perf_counter()
    hours = 0
    with factory() as s:
        rollup.rebuild(s, rules)
        s.commit()
        while count := rollup.refresh(s, rules):
            s.commit()
            hours += count
    print(f"  rollup built: {hours} hours in {time.perf_counter() - started:.1f} s")
    with create_engine(url, isolation_level="AUTOCOMMIT").connect() as c:
        # What autovacuum does in the working day: the seed's million trigger marks were
        # deleted by the build, and the rollup is new.
        c.execute(text("VACUUM ANALYZE" if name == "postgresql" else "ANALYZE"))
    with factory() as s:
        # Calls changed since the last refresh: the reports read their hour from the calls.
        for uid in ("b1", "b2"):
            s.execute(text("UPDATE calls SET talk_seconds = coalesce(talk_seconds, 0) + 1 WHERE uniqueid = :u"),
                      {"u": uid})
        s.commit()
        print(f"  stale hours while reporting: {rollup.stale_hours(s)}")
        floor_sql = text("SELECT count(*), sum(coalesce(wait_seconds, 0)), sum(coalesce(talk_seconds, 0)) "
                         "FROM calls WHERE started_at >= :s AND started_at < :e")

        def floor():
            s.execute(floor_sql, {"s": period.start, "e": period.end}).one()

        base = timed(floor, repeat)
        print(f"  {'floor (bare scan)':<22}{base * 1000:9.1f} ms")
        cases = [("totals", lambda: kpis.totals(s, period.start, period.end, rules))]
        cases += [(f"by {dim}", lambda dim=dim: kpis.breakdown(s, period.start, period.end, rules, dim))
                  for dim in kpis.DIMENSIONS]
        cases += [("fcr", lambda: kpis.first_contact_resolution(s, period.start, period.end, rules)),
                  ("repeat", lambda: kpis.repeat_callers(s, period.start, period.end)),
                  ("page (month, by line)", lambda: reports.build(s, settings, "month", MONTH, "line"))]
        for label, fn in cases:
            seconds = timed(fn, repeat)
            ratio = seconds / base
            verdict = "ok" if ratio <= 1.5 and seconds < 1.0 else "MISSED"
            print(f"  {label:<22}{seconds * 1000:9.1f} ms  {ratio:5.2f}x floor  {verdict}")
    write_cost(url, factory)


def write_cost(url: str, factory, calls: int = 2000) -> None:
    """A call's writes (insert, then status/answer/end updates) with the rollup's triggers,
    then the same writes with the triggers dropped (this database is thrown away after)."""
    def one_round(tag: str) -> float:
        start = time.perf_counter()
        with factory() as s:
            for n in range(calls):
                uid = f"w{tag}{n}"
                at = dt.datetime(2026, 11, 20, 3, 0) + dt.timedelta(seconds=n)
                number = f"+86139{n % 500:08d}"       # some of them repeat callers
                # Each its own transaction, as the AGI server and the AMI listener write them.
                s.execute(insert(Call).values(uniqueid=uid, linkedid=uid, caller_e164=number, status=CallStatus.ROUTING,
                                              started_at=at))
                s.commit()
                s.execute(update(Call).where(Call.uniqueid == uid).values(status=CallStatus.QUEUED, queue="vip"))
                s.commit()
                s.execute(update(Call).where(Call.uniqueid == uid).values(status=CallStatus.ANSWERED, answered_at=at,
                                                                          wait_seconds=3))
                s.commit()
                s.execute(update(Call).where(Call.uniqueid == uid).values(status=CallStatus.COMPLETED, talk_seconds=60))
                s.commit()
        return (time.perf_counter() - start) / calls
    with_triggers = one_round("t")
    with factory() as s:
        if s.get_bind().dialect.name == "postgresql":
            s.execute(text("DROP TRIGGER call_stats_calls ON calls"))
        else:
            for name in ("call_stats_calls_insert", "call_stats_calls_update", "call_stats_calls_moved",
                         "call_stats_calls_neighbours"):
                s.execute(text(f"DROP TRIGGER {name}"))
        s.commit()
    without = one_round("n")
    print(f"  call writes (insert + 3 updates, each committed): {with_triggers * 1000:.2f} ms with the rollup "
          f"triggers, {without * 1000:.2f} ms without ({with_triggers / without:.2f}x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--pg", help="PostgreSQL server URL (a private database is created and dropped)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run(f"sqlite:///{Path(tmp) / 'bench.db'}", args.calls, args.repeat)
    if args.pg:
        db = f"bench_reports_{uuid.uuid4().hex[:8]}"
        admin = create_engine(args.pg, isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.execute(text(f'CREATE DATABASE "{db}"'))
        try:
            run(make_url(args.pg).set(database=db).render_as_string(hide_password=False), args.calls, args.repeat)
        finally:
            with admin.connect() as c:
                c.execute(text(f'DROP DATABASE "{db}" WITH (FORCE)'))


if __name__ == "__main__":
    main()
