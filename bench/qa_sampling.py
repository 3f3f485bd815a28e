"""QA sampling benchmark: draw a month's stratified sample from 1,000,000 calls.

    python bench/qa_sampling.py [--calls N] [--agents N] [--pg URL | --no-pg] [--rounds N]

The calls table gets N answered, recorded calls in November 2026 (site time), spread over
the agents, both lines and three queues; 3% have a ticket (a third of them complaints),
0.5% a QA flag, some are very short or long, a tenth of the agents are new. Then, in
the same run and on the same database:

  floor  one bare SQL scan of the same rows: SELECT the month's answered, recorded calls
         (id, agent, talk time, queue, line) and fetch them all — what any draw must
         at least read;
  draw   callcenter.services.qa.draws.compute: the real candidate query (line kind,
         ticket type, QA flags, reviewed calls excluded) and the stratified, weighted
         draw of every agent's quota (5; 10 for new agents).

Each is timed best of --rounds (interleaved). Targets: draw <= 1.5x floor and < 1 s.
SQLite in a temporary file; PostgreSQL in a private database created in the server
named by --pg (default the test server) and dropped at the end.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import sys
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import create_engine, insert, text
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from callcenter import migrate
from callcenter.config import Settings
from callcenter.db import engine_for, session_factory, session_scope, utcnow
from callcenter.models import Line, LineKind, Queue, QueueKind, Role, Ticket, TicketType, User
from callcenter.services.qa import draws
from callcenter.services.qa.sampling import PlanRules

MONTH = dt.date(2026, 11, 1)
START_UTC = dt.datetime(2026, 10, 31, 16, 0)   # 2026-11-01 00:00 Asia/Shanghai
SPAN_S = 30 * 86400
CALL_COLUMNS = ("id", "uniqueid", "linkedid", "channel", "line_id", "dialled_number", "caller_number",
                "caller_e164", "caller_name", "ivr_path", "category", "queue", "priority", "route_reason",
                "screen_pop_key", "status", "started_at", "answered_by_interface", "answered_by_user_id",
                "wait_seconds", "talk_seconds", "hangup_side", "hangup_cause", "abandoned", "recording_file",
                "recording_caller_file", "recording_agent_file")


def call_rows(n: int, agents: list[int], lines: list[int]):
    rng = random.Random(1)
    queues = ("vip", "general_q", "repair_q")
    for i in range(1, n + 1):
        talk = rng.choice((8, 15, 45)) if rng.random() < 0.05 else (
            rng.randint(900, 2400) if rng.random() < 0.03 else rng.randint(60, 600))
        started = START_UTC + dt.timedelta(seconds=rng.randrange(SPAN_S))
        rec = f"calls/2026/11/{started.day:02d}/{i}.wav"
        yield (i, f"u{i}", f"u{i}", "", rng.choice(lines), "", "13800138000", "+8613800138000", "", "[]",
               "", rng.choice(queues), 0, "", "", "completed", started, "", rng.choice(agents),
               rng.randint(0, 60), talk, "", "", False, rec, rec[:-4] + "-caller.wav", rec[:-4] + "-agent.wav")


def seed(url: str, n_calls: int, n_agents: int) -> None:
    engine = engine_for(url)
    now = utcnow()
    with session_scope(url) as s:
        for i in range(n_agents + 2):
            created = dt.datetime(2026, 10, 20) if i < n_agents // 10 else dt.datetime(2025, 1, 1)
            s.add(User(id=i + 1, username=f"user{i}", display_name=f"user{i}", password_hash="x",
                       role=Role.QA if i >= n_agents else Role.AGENT, created_at=created))
        s.add_all([Queue(id=1, name="vip", kind=QueueKind.VIP), Queue(id=2, name="general_q", kind=QueueKind.GENERAL)])
        s.flush()
        s.add_all([Line(id=1, number="4008002000", name="VIP", kind=LineKind.VIP, queue_id=1),
                   Line(id=2, number="4008001000", name="普通", kind=LineKind.ORDINARY, queue_id=2)])
    agents = list(range(1, n_agents + 1))
    rows = call_rows(n_calls, agents, [1, 2])
    if engine.dialect.name == "postgresql":
        raw = engine.raw_connection()
        try:
            with raw.cursor() as cur, cur.copy(f"COPY calls ({', '.join(CALL_COLUMNS)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            raw.commit()
        finally:
            raw.close()
    else:
        placeholders = ", ".join("?" for _ in CALL_COLUMNS)
        raw = engine.raw_connection()
        try:
            cur = raw.cursor()
            batch = []
            for row in rows:
                batch.append(tuple(r.isoformat(" ") if isinstance(r, dt.datetime) else r for r in row))
                if len(batch) == 50_000:
                    cur.executemany(f"INSERT INTO calls ({', '.join(CALL_COLUMNS)}) VALUES ({placeholders})", batch)
                    batch = []
            if batch:
                cur.executemany(f"INSERT INTO calls ({', '.join(CALL_COLUMNS)}) VALUES ({placeholders})", batch)
            raw.commit()
        finally:
            raw.close()
    rng = random.Random(2)
    with engine.begin() as conn:
        picked = rng.sample(range(1, n_calls + 1), n_calls * 3 // 100)
        conn.execute(insert(Ticket), [{"number": f"GD{i}", "type": TicketType.COMPLAINT if i % 3 == 0
                                       else TicketType.REPAIR, "owner_id": 1, "subject": "s",
                                       "call_linkedid": f"u{c}", "created_at": now, "updated_at": now}
                                      for i, c in enumerate(picked)])
        flagged = rng.sample(range(1, n_calls + 1), n_calls // 200)
        conn.execute(text("INSERT INTO qa_flags (call_id, reason, weight, detail, created_at) VALUES "
                          "(:c, 'survey_dissatisfied', 1.0, '', :n)"), [{"c": c, "n": now} for c in flagged])
    with engine.begin() as conn:
        conn.execute(text("ANALYZE"))


def floor_scan(url: str, settings: Settings) -> int:
    since, until = draws.utc_range(settings, MONTH, dt.date(2026, 12, 1))
    with engine_for(url).connect() as conn:
        rows = conn.execute(text(
            "SELECT id, answered_by_user_id, talk_seconds, queue, line_id FROM calls "
            "WHERE started_at >= :a AND started_at < :b AND answered_by_user_id IS NOT NULL "
            "AND recording_file != ''"), {"a": since, "b": until}).all()
    return len(rows)


def the_draw(url: str, settings: Settings, as_of: dt.datetime) -> int:
    with session_factory(url)() as s:
        picks = draws.compute(s, settings, rules=PlanRules(), start=MONTH, end=dt.date(2026, 12, 1), seed=20261101,
                              as_of=as_of, filters={})
    return len(picks)


def best(fn, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def run(label: str, url: str, args) -> None:
    migrate.upgrade(url)
    t0 = time.perf_counter()
    seed(url, args.calls, args.agents)
    print(f"[{label}] seeded {args.calls:,} calls, {args.agents} agents in {time.perf_counter() - t0:.1f} s")
    settings = Settings(database_url=url)
    as_of = utcnow()
    scanned, drawn = floor_scan(url, settings), the_draw(url, settings, as_of)   # warm the caches
    floor = draw = float("inf")
    for _ in range(args.rounds):
        floor = min(floor, best(lambda: floor_scan(url, settings), 1))
        draw = min(draw, best(lambda: the_draw(url, settings, as_of), 1))
    verdict = "ok" if draw <= 1.5 * floor and draw < 1.0 else "MISSED"
    print(f"[{label}] floor  bare scan of {scanned:,} rows      {floor * 1e3:8.1f} ms")
    print(f"[{label}] draw   {drawn:,} calls for {args.agents} agents  {draw * 1e3:8.1f} ms  "
          f"({draw / floor:.2f}x floor; target <= 1.5x and < 1000 ms: {verdict})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--agents", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--no-pg", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        run("sqlite", f"sqlite:///{Path(folder) / 'bench.db'}", args)
    if args.no_pg:
        return
    admin = create_engine(args.pg, isolation_level="AUTOCOMMIT")
    name = f"cc_bench_qa_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(args.pg).set(database=name).render_as_string(hide_password=False)
    try:
        run("postgresql", url, args)
    finally:
        engine_for(url).dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    main()
