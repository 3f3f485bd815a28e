"""Work-order numbers GD<local YYYYMMDD>-<NNNN>: per local day, unique under concurrency."""

from __future__ import annotations

import threading

from sqlalchemy import select

from callcenter.db import session_factory
from callcenter.models import Ticket, User
from callcenter.services.tickets import tickets as tickets_service
from callcenter.services.tickets.tickets import create_ticket

from .helpers import local


def consultation(session, settings, actor, now):
    return create_ticket(session, settings, actor=actor, type="consultation", subject="咨询",
                         fields={"topic": "停车"}, now=now)


def test_numbers_count_per_local_day(session, settings, people):
    agent = people["agent1"]
    late = local(2026, 9, 15, 23, 30)          # 15:30 UTC
    after_midnight = local(2026, 9, 16, 0, 10)  # still 09-15 in UTC
    assert consultation(session, settings, agent, late).number == "GD20260915-0001"
    assert consultation(session, settings, agent, late).number == "GD20260915-0002"
    assert consultation(session, settings, agent, after_midnight).number == "GD20260916-0001"


def test_numbers_keep_counting_past_9999(session, settings, people):
    agent = people["agent1"]
    first = consultation(session, settings, agent, local(2026, 9, 15, 10, 0))
    first.number = "GD20260915-9999"
    session.flush()
    assert consultation(session, settings, agent, local(2026, 9, 15, 11, 0)).number == "GD20260915-10000"
    assert consultation(session, settings, agent, local(2026, 9, 15, 11, 0)).number == "GD20260915-10001"


def test_concurrent_creation_gives_unique_consecutive_numbers(db_url, settings, people, session):
    agent_id = people["agent1"].id
    session.commit()
    threads, per_thread = 6, 5
    barrier = threading.Barrier(threads)
    errors: list[BaseException] = []
    factory = session_factory(db_url)

    def work() -> None:
        try:
            barrier.wait()
            for _ in range(per_thread):
                with factory() as s:
                    consultation(s, settings, s.get(User, agent_id), local(2026, 9, 15, 10, 0))
                    s.commit()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert errors == []
    numbers = sorted(session.scalars(select(Ticket.number)))
    assert numbers == [f"GD20260915-{n:04d}" for n in range(1, threads * per_thread + 1)]


def test_a_number_taken_meanwhile_is_retried(session, settings, people, monkeypatch):
    """Another writer (one that skips the lock) took the number between the read and
    the write: the unique index refuses it and the next number is used."""
    agent = people["agent1"]
    first = consultation(session, settings, agent, local(2026, 9, 15, 10, 0))
    real_next = tickets_service._next_number
    calls = []

    def stale_then_real(s, prefix):
        calls.append(prefix)
        return first.number if len(calls) == 1 else real_next(s, prefix)

    monkeypatch.setattr(tickets_service, "_next_number", stale_then_real)
    second = consultation(session, settings, agent, local(2026, 9, 15, 10, 5))
    assert len(calls) == 2
    assert (first.number, second.number) == ("GD20260915-0001", "GD20260915-0002")
    assert session.get(Ticket, second.id).history[0].changes["number"] == [None, "GD20260915-0002"]
