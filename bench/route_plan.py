"""Routing service cost per call: plan_route + decide + record_route on a realistic database.

    python bench/route_plan.py [--calls N] [--postgres URL]

The database (SQLite file, built once under bench/results/, or a PostgreSQL URL seeded
in place) holds 100,000 customers (5% sharing a household landline, 20% VIP/member),
200,000 earlier calls over 30 days, 2,000 open complaints and the example lines. Calls
are routed one after another in this process, each in two units of work as the
FastAGI handler does for a line with an IVR flow (plan, then record), and then as
it does for a line without one: ``route_and_record``, one transaction on a Connection
kept open (the hot path). Printed per scenario: CPU and wall time per call, p50/p99
wall, and the ratio to a baseline measured in the same run: two units of work doing
one primary-key read and one single-row insert. Then: a 4-thread run (the server's DB pool
shares the GIL and SQLite's single writer), the configuration reload after an admin
change, and phone-number parsing cold vs cached.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import sqlite3
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "bench" / "results"
CUSTOMERS = 100_000
HISTORY_CALLS = 200_000
OPEN_COMPLAINTS = 2_000
ORDINARY_LINE, VIP_LINE = "4008001000", "4008002000"


def mobile(i: int) -> str:
    return f"139{i:08d}"


def landline(i: int) -> str:
    return f"010{60000000 + i:08d}"


# --- the database ---------------------------------------------------------------------------

def schema_hash() -> str:
    digest = hashlib.sha256()
    for path in sorted((ROOT / "callcenter" / "migrations" / "versions").glob("*.py")):
        digest.update(path.read_bytes())
    digest.update(f"{CUSTOMERS}:{HISTORY_CALLS}:{OPEN_COMPLAINTS}:v1".encode())
    return digest.hexdigest()[:12]


def seed(url: str) -> None:
    """Fill a migrated, empty database (any engine) through SQLAlchemy Core."""
    import datetime as dt

    from sqlalchemy import insert

    from callcenter.db import session_scope
    from callcenter.models import Call, Customer, CustomerPhone, Ticket, User
    from callcenter.services.setup import defaults, hours

    rng = random.Random(7)
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    tiers = ["vip"] * 5 + ["member"] * 15 + ["ordinary"] * 80
    with session_scope(url) as session:
        defaults.setup_defaults(session)
        hours.set_hours(session, None, range(7), hours.parse_intervals("00:00-24:00"))
        session.execute(insert(User), [dict(username="bench", password_hash="x", role="agent",
                                             display_name="bench", created_at=now, updated_at=now)])
    for start in range(1, CUSTOMERS + 1, 10_000):
        ids = range(start, min(start + 10_000, CUSTOMERS + 1))
        with session_scope(url) as session:
            session.execute(insert(Customer), [
                dict(id=i, name=f"客户{i}", tier=tiers[i % 100], important=False, area="", building="",
                     unit="", room="", address="", notes="", external_ref=None, created_at=now, updated_at=now)
                for i in ids])
            phones = [dict(customer_id=i, e164="+86" + mobile(i), raw=mobile(i), label="") for i in ids]
            # every 20th customer shares the landline of the household before it
            phones += [dict(customer_id=i, e164="+86" + landline(i - i % 2)[1:], raw=landline(i - i % 2),
                            label="家") for i in ids if i % 20 in (0, 1)]
            session.execute(insert(CustomerPhone), phones)
    for start in range(0, HISTORY_CALLS, 20_000):
        with session_scope(url) as session:
            rows = []
            for n in range(start, start + 20_000):
                i = rng.randint(1, CUSTOMERS)
                at = now - dt.timedelta(minutes=rng.randint(1, 30 * 24 * 60))
                rows.append(dict(uniqueid=f"h.{n}", linkedid=f"h.{n}", channel="PJSIP/trunk", line_id=None,
                                 dialled_number=ORDINARY_LINE, caller_number=mobile(i),
                                 caller_e164="+86" + mobile(i), caller_name="", customer_id=i, ivr_path=[],
                                 category="", queue="general_q", priority=0, route_reason="ordinary",
                                 screen_pop_key=f"k{n}", status="completed", started_at=at, routed_at=at,
                                 answered_by_interface="", hangup_side="", hangup_cause="", abandoned=False,
                                 recording_file=""))
            session.execute(insert(Call), rows)
    with session_scope(url) as session:
        session.execute(insert(Ticket), [
            dict(number=f"GD-B{n:06d}", type="complaint", status="open", customer_id=rng.randint(1, CUSTOMERS),
                 owner_id=1, subject="bench", description="", contact_phone="", fields={}, severity="",
                 urgency="", invalid=False, department="", escalation_level=0, resolution="",
                 created_at=now, updated_at=now)
            for n in range(OPEN_COMPLAINTS)])


def sqlite_database() -> str:
    from callcenter import migrate
    from callcenter.db import engine_for

    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"route_plan_{schema_hash()}.db"
    if not path.exists():
        building = path.with_suffix(".building")
        building.unlink(missing_ok=True)
        url = f"sqlite:///{building}"
        started = time.perf_counter()
        migrate.upgrade(url)
        seed(url)
        engine_for(url).dispose()
        con = sqlite3.connect(building)
        con.execute("ANALYZE")
        con.execute("PRAGMA journal_mode=DELETE")
        con.close()
        building.rename(path)
        print(f"seeded in {time.perf_counter() - started:.0f} s -> {path}")
    work = RESULTS / "route_plan_work.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{work}{suffix}").unlink(missing_ok=True)
    work.write_bytes(path.read_bytes())
    return f"sqlite:///{work}"


# --- measuring -----------------------------------------------------------------------------------

def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def measure(name: str, calls: int, one_call, baseline: float | None = None) -> float:
    for i in range(50):                        # warm caches and compiled statements
        one_call(-1 - i)
    walls, cpu0 = [], time.process_time()
    for i in range(calls):
        start = time.perf_counter()
        one_call(i)
        walls.append(time.perf_counter() - start)
    cpu = (time.process_time() - cpu0) / calls
    ratio = f"{cpu / baseline:5.1f}x" if baseline else "  1.0x"
    print(f"  {name:38} cpu {cpu * 1e6:7.0f} µs  wall p50 {pct(walls, .5) * 1e3:5.2f} ms"
          f"  p99 {pct(walls, .99) * 1e3:5.2f} ms  {ratio}")
    return cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2_000)
    parser.add_argument("--postgres", default=None, help="seed and use this (empty, migrated) database")
    args = parser.parse_args()

    from sqlalchemy import Column, Integer, MetaData, String, Table, insert, select

    from callcenter import migrate
    from callcenter.config import Settings
    from callcenter.db import engine_for, make_engine, session_scope
    from callcenter.models import Customer
    from callcenter.services.calls import routing
    from callcenter.services.people import phones
    from callcenter.services.setup import lines, routing_config

    if args.postgres:
        url = args.postgres
        migrate.upgrade(url)
        seed(url)
        with engine_for(url).connect() as conn:       # fresh tables have no planner statistics
            conn.exec_driver_sql("ANALYZE")
            conn.commit()
    else:
        url = sqlite_database()
    settings = Settings(database_url=url)
    scratch = Table("bench_floor", MetaData(), Column("id", Integer, primary_key=True), Column("v", String(64)))
    scratch.create(engine_for(url), checkfirst=True)
    rng = random.Random(1)
    run_id = f"{time.time():.0f}"

    def floor(i: int) -> None:
        with session_scope(url) as session:
            session.connection().execute(select(Customer.id).where(Customer.id == 1 + i % CUSTOMERS)).first()
        with session_scope(url) as session:
            session.connection().execute(insert(scratch).values(v=f"{run_id}.{i}"))

    def routed(dialled: str, caller) -> callable:
        def one(i: int) -> None:
            uid = f"{run_id}.{dialled}.{caller.__name__}.{i}"
            request = routing.RouteRequest(uniqueid=uid, linkedid=uid, channel="PJSIP/trunk-1", dialled=dialled,
                                           caller_number=caller(), caller_name="Test Caller")
            with session_scope(url) as session:
                plan = routing.plan_route(session, settings, request)
            decision = routing.decide(plan, settings)
            with session_scope(url) as session:
                routing.record_route(session, plan, decision)
        return one

    def known_customer() -> str:
        return mobile(rng.randint(1, CUSTOMERS))

    def household() -> str:
        return landline(rng.randrange(0, CUSTOMERS, 20))

    def new_caller() -> str:
        return f"138{rng.randint(0, 99_999_999):08d}"

    def anonymous() -> str:
        return "anonymous"

    # The FastAGI hot path: one transaction on a connection the server keeps open.
    hot_engine = make_engine(url, pool_size=1)
    hot = hot_engine.connect()

    def one_transaction(dialled: str, caller) -> callable:
        def one(i: int) -> None:
            uid = f"{run_id}.hot.{dialled}.{caller.__name__}.{i}"
            request = routing.RouteRequest(uniqueid=uid, linkedid=uid, channel="PJSIP/trunk-1", dialled=dialled,
                                           caller_number=caller(), caller_name="Test Caller")
            with hot.begin():
                _plan, decision = routing.route_and_record(hot, settings, request)
            assert decision is not None and decision.call_id
        return one

    print(f"database: {engine_for(url).url.render_as_string(hide_password=True)}; {args.calls} calls a scenario")
    base = measure("baseline: PK read + 1-row insert", args.calls, floor)
    print(" two units of work (plan_route in a Session, then record_route in another):")
    measure("ordinary line, known customer", args.calls, routed(ORDINARY_LINE, known_customer), base)
    measure("VIP line, known customer", args.calls, routed(VIP_LINE, known_customer), base)
    measure("household landline (2 customers)", args.calls, routed(ORDINARY_LINE, household), base)
    measure("new caller (no customer)", args.calls, routed(ORDINARY_LINE, new_caller), base)
    measure("anonymous caller", args.calls, routed(ORDINARY_LINE, anonymous), base)
    measure("unknown hotline number", args.calls, routed("4008009999", known_customer), base)
    print(" one transaction, route_and_record on a kept Connection (FastAGI, a line without IVR):")
    measure("VIP line, known customer", args.calls, one_transaction(VIP_LINE, known_customer), base)
    measure("VIP line, household landline", args.calls, one_transaction(VIP_LINE, household), base)
    measure("VIP line, new caller (no customer)", args.calls, one_transaction(VIP_LINE, new_caller), base)
    measure("VIP line, anonymous caller", args.calls, one_transaction(VIP_LINE, anonymous), base)
    measure("unknown hotline number", args.calls, one_transaction("4008009999", known_customer), base)
    hot.close()
    hot_engine.dispose()

    # the same with 4 threads: throughput the FastAGI DB pool can get from this process
    one = routed(ORDINARY_LINE, known_customer)
    counter = iter(range(10**9))
    lock = threading.Lock()

    def next_call(_):
        with lock:
            i = next(counter)
        one(10**6 + i)

    started = time.perf_counter()
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(next_call, range(args.calls)))
    elapsed = time.perf_counter() - started
    print(f"  4 threads: {args.calls / elapsed:,.0f} routed calls/s")

    # an admin change: the next call reloads the configuration
    def reload(i: int) -> None:
        with session_scope(url) as session:
            lines.update_line(session, ORDINARY_LINE, name=f"普通客户专线 {i}")
        routed(ORDINARY_LINE, known_customer)(2 * 10**6 + i)

    measure("admin change + next call (reload)", max(50, args.calls // 20), reload, base)
    with session_scope(url) as session:
        start = time.process_time()
        for _ in range(200):
            routing_config.load_config(session)
        print(f"  configuration load alone: {(time.process_time() - start) / 200 * 1e6:.0f} µs")

    numbers = [new_caller() for _ in range(5_000)]
    phones._normalize.cache_clear()
    start = time.process_time()
    for number in numbers:
        phones.normalize(number)
    cold = (time.process_time() - start) / len(numbers)
    start = time.process_time()
    for number in numbers:
        phones.normalize(number)
    warm = (time.process_time() - start) / len(numbers)
    print(f"  phone normalise: {cold * 1e6:.0f} µs new number, {warm * 1e6:.1f} µs cached")
    scratch.drop(engine_for(url))
    engine_for(url).dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
