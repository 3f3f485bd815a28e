"""Tickets benchmark: creation through the service, the escalation sweep, the overdue list.

    python bench/ticket_sweep.py [--open 20000] [--overdue 1000] [--create 300] [--pg URL]

A fresh SQLite database (and, with --pg, a private PostgreSQL database) is migrated and
seeded with ``--open`` open complaints inserted in bulk, ``--overdue`` of them past their
escalation instant. Figures printed per database:

  create     create_ticket + commit, one at a time (work-order number, deadlines, history)
  idle sweep the sweep with nothing overdue: what every tick (escalation_sweep_s) costs
  sweep      one sweep escalating every overdue ticket (history + notifications), committed
  overdue    the panel's overdue list (first page)
  baseline   SELECT count(*) FROM tickets, the floor every figure is compared with
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import create_engine, insert, select, text
from sqlalchemy.engine import make_url

from callcenter import migrate
from callcenter.config import Settings
from callcenter.db import session_factory, utcnow
from callcenter.models import Role, Ticket, TicketStatus, TicketType, User
from callcenter.services.tickets import escalation, notifications, tickets


def timed(fn, repeat: int = 1) -> float:
    """Median seconds of ``repeat`` runs."""
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def seed(settings: Settings, open_count: int, overdue: int) -> int:
    factory = session_factory(settings.database_url)
    with factory() as s:
        sup = User(username="sup", role=Role.SUPERVISOR, password_hash="x", display_name="主管")
        s.add(sup)
        s.flush()
        agent = User(username="agent", role=Role.AGENT, password_hash="x", manager_id=sup.id)
        s.add(agent)
        s.flush()
        now = utcnow()
        rows = []
        for i in range(open_count):
            late = i < overdue
            due = now - dt.timedelta(minutes=30) if late else now + dt.timedelta(days=2)
            rows.append(dict(number=f"GD20000101-{i:06d}", type=TicketType.COMPLAINT, status=TicketStatus.OPEN,
                             owner_id=agent.id, assignee_id=agent.id, subject="噪音", description="",
                             contact_phone="13800138000", fields={"complainant": "张三", "channel": "phone",
                                                                  "target": "保洁"},
                             severity="ordinary", urgency="urgent", department="工程部", invalid=False,
                             call_linkedid="", resolution="", escalation_level=0,
                             created_at=due - dt.timedelta(hours=2), updated_at=now, due_at=due,
                             escalation_due_at=due))
        for start in range(0, len(rows), 5000):
            s.execute(insert(Ticket), rows[start:start + 5000])
        s.commit()
        return agent.id


def run(label: str, url: str, args) -> None:
    settings = Settings(database_url=url)
    migrate.upgrade(url)
    agent_id = seed(settings, args.open, args.overdue)
    factory = session_factory(url)

    def count():
        with factory() as s:
            s.scalar(text("SELECT count(*) FROM tickets"))

    def create_one():
        with factory() as s:
            tickets.create_ticket(s, settings, actor=s.get(User, agent_id), type="consultation", subject="咨询",
                                  fields={"topic": "停车"})
            s.commit()

    def idle_sweep():
        with factory() as s:
            escalation.sweep(s, settings, now=utcnow() - dt.timedelta(days=1))
            s.rollback()

    escalated = []

    def sweep():
        with factory() as s:
            escalated.extend(escalation.sweep(s, settings))
            s.commit()
            notifications.publish_outbox(s, None)

    def overdue_list():
        with factory() as s:
            tickets.list_tickets(s, scope="overdue", user=s.get(User, agent_id), limit=50)

    baseline = timed(count, 21)
    create_s = timed(create_one, args.create)
    idle = timed(idle_sweep, 21)
    full = timed(sweep)
    listing = timed(overdue_list, 21)
    print(f"[{label}] {args.open} open tickets, {args.overdue} overdue")
    print(f"  baseline  count(*)              {baseline * 1e3:8.2f} ms")
    print(f"  create    one ticket + commit   {create_s * 1e3:8.2f} ms  ({1 / create_s:6.0f}/s, "
          f"{create_s / baseline:6.1f}x baseline)")
    print(f"  idle sweep nothing overdue      {idle * 1e3:8.2f} ms  ({idle / baseline:6.1f}x baseline)")
    print(f"  sweep     {len(escalated):5d} escalations      {full * 1e3:8.2f} ms  "
          f"({full / max(len(escalated), 1) * 1e3:.2f} ms per ticket)")
    print(f"  overdue   list, first page      {listing * 1e3:8.2f} ms  ({listing / baseline:6.1f}x baseline)")
    with factory() as s:
        left = s.scalar(select(Ticket.id).where(Ticket.escalation_level == 0, Ticket.escalation_due_at <= utcnow()))
    assert left is None, "every overdue ticket was escalated"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--open", type=int, default=20000)
    parser.add_argument("--overdue", type=int, default=1000)
    parser.add_argument("--create", type=int, default=300)
    parser.add_argument("--pg", help="PostgreSQL server URL (a private database is created and dropped)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        run("sqlite", f"sqlite:///{Path(folder) / 'bench.db'}", args)
    if args.pg:
        admin = create_engine(args.pg, isolation_level="AUTOCOMMIT")
        name = f"cc_bench_{uuid.uuid4().hex[:8]}"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            run("postgresql", make_url(args.pg).set(database=name).render_as_string(hide_password=False), args)
        finally:
            from callcenter.db import engine_for

            engine_for(make_url(args.pg).set(database=name).render_as_string(hide_password=False)).dispose()
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


if __name__ == "__main__":
    main()
