"""Survey dispatch benchmark: 10,000 due follow-up calls against the AMI emulator.

    python bench/survey_dispatch.py [--surveys 10000] [--per-minute 6000] [--concurrent 200]
                                    [--lines 150] [--call-s 0.3] [--pg URL]

A fresh SQLite database (or, with --pg, a private PostgreSQL database) holds ``--surveys``
due survey requests (distinct numbers, each with an all-day preferred time). The real
scheduler runs them: APScheduler with the SQLAlchemy job store calls the dispatch job
every ``survey_dispatch_s``; the survey dialer originates each claimed attempt at its
planned time over one AMI connection to the emulator (in this process). The emulator
answers a quarter of the numbers busy, a quarter not at all (ring timeout 5 s), a
quarter with an unknown endpoint and a quarter answered; an answered call "talks" for
``--call-s`` seconds and is then completed as the survey route would complete it.

Figures:
  caps        the most survey calls open at once (DB and dialer view) vs the cap
              min(concurrent, lines); the most Originates in any 60 s vs --per-minute
  pacing      Originate sent minus planned start: p50 / p99 / max
  memory      the process's peak RSS (scheduler + dialer + emulator together)
  cpu         process CPU per dispatched survey, and the baseline: the same number of
              Originates sent straight from one AMI client to the same emulator
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import datetime as dt
import resource
import statistics
import tempfile
import threading
import time
import uuid
from pathlib import Path

from sqlalchemy import create_engine, func, insert, select, text
from sqlalchemy.engine import make_url

from callcenter import migrate
from callcenter.ami.client import AMIClient
from callcenter.ami.survey_dialer import SurveyDialer
from callcenter.config import Settings
from callcenter.db import session_scope, utcnow
from callcenter.models import (
    Role,
    SurveyAttempt,
    SurveyContact,
    SurveyRequest,
    SurveyStatus,
    Ticket,
    TicketStatus,
    TicketType,
    User,
)
from callcenter.scheduler import jobs
from callcenter.services.surveys import answers
from callcenter.simulation.ami.state import ANSWER, BUSY, NOANSWER
from callcenter.simulation.ami.thread import EmulatorThread

SECRET = "bench-secret"


def number(i: int) -> str:
    return f"139{i:08d}"


def behaviour(i: int) -> str | None:
    return (ANSWER, BUSY, NOANSWER, None)[i % 4]


def seed(settings: Settings, count: int) -> None:
    now = utcnow()
    with session_scope(settings.database_url) as s:
        owner = User(username="owner", role=Role.AGENT, password_hash="x", display_name="小王")
        s.add(owner)
        s.flush()
        tickets = [{"number": f"GD20000101-{t:06d}", "type": TicketType.COMPLAINT, "status": TicketStatus.CLOSED,
                    "owner_id": owner.id, "subject": "bench", "contact_phone": "", "fields": {},
                    "closed_at": now, "created_at": now, "updated_at": now} for t in range(count // 100 + 1)]
        s.execute(insert(Ticket), tickets)
        first = s.scalar(select(func.min(Ticket.id)))
        s.execute(insert(SurveyRequest), [
            {"ticket_id": first + i // 100, "number": number(i), "due_at": now + dt.timedelta(days=3),
             "deadline_at": now + dt.timedelta(days=3), "next_attempt_at": now - dt.timedelta(minutes=1),
             "status": SurveyStatus.PENDING, "created_at": now, "attempts": 0, "step": 0, "outcome": "",
             "satisfaction": ""} for i in range(count)])
        s.execute(insert(SurveyContact), [
            {"number": f"+86{number(i)}", "do_not_call": False, "preferred_from": dt.time(0),
             "preferred_to": dt.time(23, 59, 59), "note": "", "updated_at": now} for i in range(count)])


class Talker(threading.Thread):
    """Completes answered calls after ``call_s``, as the survey route would (key 1)."""

    def __init__(self, settings: Settings, call_s: float) -> None:
        super().__init__(daemon=True)
        self.settings, self.call_s, self.stop = settings, call_s, threading.Event()
        self.max_open = 0

    def run(self) -> None:
        while not self.stop.wait(0.05):
            with session_scope(self.settings.database_url) as s:
                self.max_open = max(self.max_open, s.scalar(
                    select(func.count(SurveyAttempt.id)).where(SurveyAttempt.outcome == "")) or 0)
                done_before = utcnow() - dt.timedelta(seconds=self.call_s)
                for attempt_id in s.scalars(select(SurveyAttempt.id).where(
                        SurveyAttempt.outcome == "", SurveyAttempt.answered_at <= done_before)):
                    answers.record_result(s, self.settings, attempt_id, path=["q_service", "key:1"],
                                          completed=True, now=utcnow())


def run_scheduler(settings: Settings, emulator: EmulatorThread, count: int, call_s: float) -> dict:
    dialer = SurveyDialer(settings).start()
    assert dialer.wait_connected(10)
    talker = Talker(settings, call_s)
    talker.start()
    scheduler = jobs.make_scheduler(settings, dialer=dialer, persistent=True)
    cpu0, wall0 = time.process_time(), time.monotonic()
    scheduler.start()
    try:
        while True:
            with session_scope(settings.database_url) as s:
                left = s.scalar(select(func.count(SurveyRequest.id)).where(SurveyRequest.attempts == 0))
            if left == 0 and len(dialer.sent) >= count:
                break
            time.sleep(0.5)
        wall, cpu = time.monotonic() - wall0, time.process_time() - cpu0
    finally:
        scheduler.shutdown(wait=True)
        jobs.configure(None)
        time.sleep(6)          # the no-answer calls ring out
        talker.stop.set()
        talker.join()
        dialer.stop()
    with session_scope(settings.database_url) as s:
        planned = dict(s.execute(select(SurveyAttempt.id, SurveyAttempt.planned_at)).all())
    errors = sorted(dialer.sent[i] - planned[i].replace(tzinfo=dt.UTC).timestamp() for i in dialer.sent)
    sends = sorted(dialer.sent.values())
    per_minute = max(bisect.bisect_right(sends, t + 60) - k for k, t in enumerate(sends))
    return {"wall": wall, "cpu": cpu, "errors": errors, "per_minute": per_minute,
            "max_open_db": talker.max_open, "max_in_flight": dialer.max_in_flight, "sent": len(sends)}


def baseline(emulator: EmulatorThread, count: int) -> float:
    """CPU of the same Originates sent straight from one AMI client (no scheduler, no DB)."""
    async def main() -> float:
        client = AMIClient(emulator.host, emulator.port, "callcenter", SECRET)
        task = asyncio.ensure_future(client.run())
        await client.wait_connected(10)
        cpu0 = time.process_time()
        sem = asyncio.Semaphore(60)

        async def one(i: int) -> None:
            async with sem:
                await client.originate(f"PJSIP/9{number(i)}", context="survey", exten="s", priority=1,
                                       timeout_ms=5000, variables={"CC_SURVEY_ID": str(i)})
        await asyncio.gather(*(one(i) for i in range(count)))
        cpu = time.process_time() - cpu0
        await client.close()
        task.cancel()
        return cpu
    return asyncio.run(main())


def database(pg: str | None, tmp: Path) -> str:
    if not pg:
        return f"sqlite:///{tmp / 'bench.db'}"
    name = f"cc_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(pg, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    return make_url(pg).set(database=name).render_as_string(hide_password=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--surveys", type=int, default=10_000)
    parser.add_argument("--per-minute", type=int, default=6000)
    parser.add_argument("--concurrent", type=int, default=200)
    parser.add_argument("--lines", type=int, default=150)
    parser.add_argument("--call-s", type=float, default=0.3)
    parser.add_argument("--pg", default=None)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="survey-bench-"))
    url = database(args.pg, tmp)
    migrate.upgrade(url)
    emulator = EmulatorThread(secret=SECRET, boot_delay_s=0.0, originate_ring_s=0.05).start()
    emulator.emulator.endpoints = {f"PJSIP/{number(i)}": b for i in range(args.surveys)
                                   if (b := behaviour(i)) is not None}
    emulator.emulator.endpoints.update({f"PJSIP/9{number(i)}": BUSY for i in range(args.surveys)})
    settings = Settings(database_url=url, ami_host=emulator.host, ami_port=emulator.port, ami_secret=SECRET,
                        survey_dial="PJSIP/{number}", survey_ring_timeout_s=5, survey_calls_per_minute=args.per_minute,
                        survey_max_concurrent=args.concurrent, survey_agent_lines=args.lines,
                        survey_dispatch_s=0.5, survey_attempt_stale_s=600, journal_dir=tmp / "journal")
    seed(settings, args.surveys)
    result = run_scheduler(settings, emulator, args.surveys, args.call_s)
    base_cpu = baseline(emulator, args.surveys)
    emulator.stop()
    errors = result["errors"]
    cap = min(args.concurrent, args.lines)
    print(f"database   {make_url(url).get_backend_name()}, {args.surveys} due surveys, "
          f"cap {cap} open calls, {args.per_minute}/min")
    print(f"dispatched {result['sent']} in {result['wall']:.1f} s "
          f"({result['sent'] / result['wall']:.0f}/s; the cap allows {args.per_minute / 60:.0f}/s)")
    print(f"caps       open calls max {result['max_open_db']} (DB) / {result['max_in_flight']} ringing (dialer)"
          f" <= {cap}; Originates in any 60 s max {result['per_minute']} <= {args.per_minute}")
    print(f"pacing     sent - planned: p50 {statistics.median(errors) * 1000:.1f} ms, "
          f"p99 {errors[int(len(errors) * 0.99) - 1] * 1000:.1f} ms, max {errors[-1] * 1000:.1f} ms")
    print(f"memory     peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB "
          f"(scheduler, dialer and emulator in one process)")
    print(f"cpu        {result['cpu'] / result['sent'] * 1000:.2f} ms per survey (all of it); baseline "
          f"{base_cpu / args.surveys * 1000:.2f} ms per bare Originate → dispatch "
          f"{(result['cpu'] - base_cpu) / result['sent'] * 1000:.2f} ms per survey")
    ok = result["max_open_db"] <= cap and result["per_minute"] <= args.per_minute and \
        errors[int(len(errors) * 0.99) - 1] <= 1.0
    print("verdict    " + ("caps held, pacing p99 <= 1 s" if ok else "TARGET MISSED"))


if __name__ == "__main__":
    main()
