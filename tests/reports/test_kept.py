"""The daily complaint summary: kept once per finished local day, caught up after downtime."""

from __future__ import annotations

import datetime as dt

from callcenter.models import KeptReport, Ticket, User
from callcenter.models.tickets import TicketType
from callcenter.services.reports import kept
from callcenter.timeutil import to_utc_naive

TZ = "Asia/Shanghai"


def at(text: str) -> dt.datetime:
    return to_utc_naive(dt.datetime.fromisoformat(text), TZ)


def test_each_finished_day_is_kept_once_and_a_gap_is_caught_up(session, settings):
    owner = User(username="a", password_hash="x", role="agent")
    session.add(owner)
    session.flush()
    session.add(Ticket(number="C1", type=TicketType.COMPLAINT, owner_id=owner.id, subject="漏水", severity="serious",
                       due_at=at("2026-11-10 12:00:00"), created_at=at("2026-11-09 23:30:00")))
    session.commit()

    # 00:05 on the 10th: the 9th and the six days before it are finished.
    first = kept.keep_daily_complaints(session, settings, now=at("2026-11-10 00:05:00"))
    assert first == [dt.date(2026, 11, d) for d in range(3, 10)]
    assert kept.keep_daily_complaints(session, settings, now=at("2026-11-10 09:00:00")) == []

    ninth = next(r for r in kept.kept_daily_complaints(session) if r.day == dt.date(2026, 11, 9))
    assert [(c["severity"], c["total"], c["open_in_time"]) for c in ninth.content["complaints"]] == [("serious", 1, 1)]

    # The scheduler was down from the 10th to the 13th: the 10th, 11th and 12th follow.
    assert kept.keep_daily_complaints(session, settings, now=at("2026-11-13 08:00:00")) == [
        dt.date(2026, 11, 10), dt.date(2026, 11, 11), dt.date(2026, 11, 12)]
    assert session.query(KeptReport).count() == 10

    # A ticket changed later does not change what was kept.
    session.query(Ticket).update({"closed_at": at("2026-11-12 09:00:00")})
    session.commit()
    session.expire_all()
    again = next(r for r in kept.kept_daily_complaints(session) if r.day == dt.date(2026, 11, 9))
    assert again.content["complaints"][0]["open_in_time"] == 1
