"""三级负责制: overdue tickets climb receiving agent (0) → supervisor (1) → deputy
general manager (2), one level per overdue period, until closed.

Behaviour
- A ticket escalates when ``escalation_due_at`` has passed. At creation that instant is
  the ticket's ``due_at``; each escalation adds one more period of the ticket's own
  deadline rule, counted from the deadline just missed (``deadlines.next_period_end``):
  an urgent complaint due at 10:00 reaches the supervisor at 10:00 and the deputy
  general manager at 12:00. ``due_at`` itself never moves, so reports still see the
  original commitment. At level 2 there is nobody higher: ``escalation_due_at`` is
  cleared and the ticket stays in the panel's overdue list until closed.
- A sweep that runs late (scheduler down for a day) raises a ticket one level per
  run, not all at once: each level gets its own notifications.
- Serious complaints and complaints from important customers (重要业户) go straight to
  level 2 when created (or when a complaint is reclassified as serious).
- Each escalation writes a TicketHistory row and a Notification for the owner, the
  assignee and the people of every level reached: the owner's ``manager`` chain
  (users.manager_id; level 1 = the manager, level 2 = the manager's manager), or,
  where the chain has no active user, every active supervisor (level 1) / admin
  (level 2, supervisors when there is no admin).

Concurrency: the level change is a conditional ``UPDATE ... WHERE escalation_level =
<level read>``, so a second sweep over the same ticket — the same process running it
twice, or two scheduler processes by mistake — changes nothing and notifies nobody.
APScheduler 3 has no cross-process lock: run exactly one scheduler process per
database; the conditional update only keeps a mistake from double-escalating.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session, selectinload
from sqlalchemy.orm.attributes import set_committed_value

from callcenter.config import Settings
from callcenter.db import utcnow
from callcenter.labels import ESCALATION_LEVELS
from callcenter.models import Role, Ticket, TicketHistory, TicketStatus, User
from callcenter.services.tickets import deadlines, notifications
from callcenter.services.tickets.signals import ticket_escalated
from callcenter.timeutil import to_local

log = logging.getLogger(__name__)

TOP_LEVEL = 2


@dataclasses.dataclass(frozen=True)
class Overdue:
    """A ticket the sweep found overdue, as read (the update re-checks the level)."""
    ticket_id: int
    level: int
    escalation_due_at: dt.datetime


def find_overdue(session: Session, now: dt.datetime, limit: int = 200,
                 after: tuple[dt.datetime, int] | None = None) -> list[Overdue]:
    """Open tickets past their escalation instant, earliest first (the index on
    escalation_due_at serves it); ``after`` = (escalation_due_at, id) of the last one
    of the previous page."""
    query = (select(Ticket.id, Ticket.escalation_level, Ticket.escalation_due_at)
             .where(Ticket.status != TicketStatus.CLOSED, Ticket.escalation_due_at.is_not(None),
                    Ticket.escalation_due_at <= now, Ticket.escalation_level < TOP_LEVEL))
    if after is not None:
        query = query.where(or_(Ticket.escalation_due_at > after[0],
                                and_(Ticket.escalation_due_at == after[0], Ticket.id > after[1])))
    rows = session.execute(query.order_by(Ticket.escalation_due_at, Ticket.id).limit(limit)).all()
    return [Overdue(r.id, r.escalation_level, r.escalation_due_at) for r in rows]


def _active(user: User | None) -> User | None:
    return user if user is not None and user.active else None


def level_recipients(session: Session, ticket: Ticket, level: int,
                     by_role: dict[Role, list[int]] | None = None) -> list[int]:
    """Who answers for ``ticket`` at ``level`` (1 or 2): the owner's manager chain, else by
    role. ``by_role`` caches the role lookups for the length of one sweep."""
    chain = [ticket.owner.manager]
    chain.append(chain[0].manager if chain[0] is not None else None)
    person = _active(chain[level - 1]) if 1 <= level <= TOP_LEVEL else None
    if person is not None:
        return [person.id]
    by_role = {} if by_role is None else by_role
    for role in ([Role.SUPERVISOR] if level == 1 else [Role.ADMIN, Role.SUPERVISOR]):
        if role not in by_role:
            by_role[role] = list(session.scalars(select(User.id).where(User.role == role, User.active.is_(True))
                                                 .order_by(User.id)))
        if by_role[role]:
            return by_role[role]
    return []


def _recipients(session: Session, ticket: Ticket, old_level: int, new_level: int,
                by_role: dict[Role, list[int]] | None) -> list[int]:
    ids = [ticket.owner_id]
    if ticket.assignee_id:
        ids.append(ticket.assignee_id)
    for level in range(old_level + 1, new_level + 1):
        ids.extend(level_recipients(session, ticket, level, by_role))
    return list(dict.fromkeys(ids))


def _message(ticket: Ticket, new_level: int, reason: str) -> str:
    return f"工单 {ticket.number} 已升级至 {ESCALATION_LEVELS[new_level]}：{reason}"


def _apply(session: Session, settings: Settings, ticket: Ticket, old_level: int, new_level: int,
           reason: str, now: dt.datetime, actor: User | None,
           expected_due: dt.datetime | None = None, by_role: dict[Role, list[int]] | None = None) -> bool:
    """Raise ``ticket`` from ``old_level`` to ``new_level`` if nobody did it first."""
    old_due = ticket.escalation_due_at
    if new_level >= TOP_LEVEL:
        new_due = None
    else:
        new_due = deadlines.next_period_end(session, settings, ticket, expected_due or old_due or now)
    conditions = [Ticket.id == ticket.id, Ticket.escalation_level == old_level,
                  Ticket.status != TicketStatus.CLOSED]
    result = session.execute(
        update(Ticket).where(*conditions)
        .values(escalation_level=new_level, escalated_at=now, escalation_due_at=new_due),
        execution_options={"synchronize_session": False},
    )
    if result.rowcount != 1:
        return False
    # The row changed as written; keep the loaded object in step without reloading it.
    for name, value in (("escalation_level", new_level), ("escalated_at", now), ("escalation_due_at", new_due)):
        set_committed_value(ticket, name, value)
    changes = {"escalation_level": [old_level, new_level],
               "escalation_due_at": [_iso(old_due), _iso(new_due)], "reason": reason}
    session.add(TicketHistory(ticket_id=ticket.id, user_id=actor.id if actor else None, at=now,
                              action="escalated", changes=changes))
    notifications.notify(session, _recipients(session, ticket, old_level, new_level, by_role),
                         _message(ticket, new_level, reason), ticket=ticket, kind="ticket_escalated", now=now)
    ticket_escalated.send(ticket, session=session, old_level=old_level, new_level=new_level, reason=reason)
    return True


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


def escalate_one(session: Session, settings: Settings, overdue: Overdue, now: dt.datetime,
                 by_role: dict[Role, list[int]] | None = None) -> bool:
    """One level up for a ticket ``find_overdue`` returned; False when someone else
    already moved it (or it was closed) since it was read."""
    ticket = session.get(Ticket, overdue.ticket_id)
    return ticket is not None and _step(session, settings, ticket, overdue, now, by_role)


def _step(session: Session, settings: Settings, ticket: Ticket, overdue: Overdue, now: dt.datetime,
          by_role: dict[Role, list[int]] | None) -> bool:
    since = to_local(overdue.escalation_due_at, settings.timezone)
    reason = f"逾期 overdue since {since:%Y-%m-%d %H:%M}"
    return _apply(session, settings, ticket, overdue.level, overdue.level + 1, reason, now, None,
                  expected_due=overdue.escalation_due_at, by_role=by_role)


def escalate_to_top(session: Session, settings: Settings, ticket: Ticket, reason: str, *,
                    actor: User | None, now: dt.datetime | None = None) -> bool:
    """Straight to the manager (serious complaint, important customer)."""
    if ticket.escalation_level >= TOP_LEVEL:
        return False
    return _apply(session, settings, ticket, ticket.escalation_level, TOP_LEVEL, reason,
                  now or utcnow(), actor)


def sweep(session: Session, settings: Settings, now: dt.datetime | None = None, batch: int = 200) -> list[int]:
    """Escalate every overdue ticket one level. Returns the ids escalated. The caller
    commits and then publishes the notifications (``notifications.publish_outbox``).

    Tickets are visited once each, earliest first: one that is still overdue after its
    step (a sweep that ran very late) takes its next step on the next run."""
    now = now or utcnow()
    escalated: list[int] = []
    by_role: dict[Role, list[int]] = {}
    visited: set[int] = set()
    after: tuple[dt.datetime, int] | None = None
    while found := find_overdue(session, now, limit=batch, after=after):
        after = (found[-1].escalation_due_at, found[-1].ticket_id)
        # A ticket escalated on an earlier page may show up again with its new, still
        # past instant (a very late sweep): it waits for the next run.
        found = [o for o in found if o.ticket_id not in visited]
        visited.update(o.ticket_id for o in found)
        # One query for the tickets and their owners' manager chains, not three per ticket.
        loaded = {t.id: t for t in session.scalars(
            select(Ticket).where(Ticket.id.in_([o.ticket_id for o in found]))
            .options(selectinload(Ticket.owner).selectinload(User.manager).selectinload(User.manager)))}
        for overdue in found:
            ticket = loaded.get(overdue.ticket_id)
            if ticket is not None and _step(session, settings, ticket, overdue, now, by_role):
                escalated.append(overdue.ticket_id)
    if escalated:
        log.info("escalated %d overdue ticket(s)", len(escalated))
    return escalated
