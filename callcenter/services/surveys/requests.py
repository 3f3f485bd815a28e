"""Which follow-up calls are owed: a plan for each request the ticket service writes,
member customers' tickets (100%), series for construction / handover / walk-in, and the
contact rules (do not call, preferred time).

The ticket service (a lower domain) writes a ``SurveyRequest`` when a complaint or a
repair closes and sends ``survey_requested``; ``install()`` connects the receivers here
that give it a plan, a due time, a deadline and a first attempt time. It is called when
this package is imported (the web panel, the scheduler and the AGI server import it)."""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import select
from sqlalchemy.orm import Session

from callcenter.db import utcnow
from callcenter.models import SurveyContact, SurveyPlan, SurveyRequest, SurveyStatus, Ticket, Tier
from callcenter.services.people.phones import normalize
from callcenter.services.surveys.plans import PlanError, ensure_default_plans, get_plan, plan_for_ticket, series_offsets
from callcenter.services.tickets import signals

log = logging.getLogger(__name__)

MEMBER_TIERS = (Tier.MEMBER, Tier.VIP)
NO_PLAN = "no_plan"


def _anchor(plan: SurveyPlan, ticket: Ticket, now: dt.datetime) -> dt.datetime:
    """closed: the closing; leak_test: the repair's completed_at (完成时间 — for a leak,
    when the water test 闭水试验 passed)."""
    if plan.anchor == "leak_test" and ticket.completed_at is not None:
        return ticket.completed_at
    return ticket.closed_at or now


def apply_plan(session: Session, survey: SurveyRequest, ticket: Ticket, *, now: dt.datetime | None = None) -> None:
    """Give a new request its plan, due time, deadline and first attempt time; more than
    one offset in the plan adds the later calls as requests of their own."""
    now = now or utcnow()
    ensure_default_plans(session)
    plan = plan_for_ticket(session, ticket)
    if plan is None:
        survey.status, survey.outcome, survey.next_attempt_at = SurveyStatus.CANCELLED, NO_PLAN, None
        session.flush()
        return
    anchor = _anchor(plan, ticket, now)
    offsets = series_offsets(plan, None) or [0.0]
    for step, offset in enumerate(offsets):
        target = survey if step == 0 else SurveyRequest(
            ticket_id=ticket.id, customer_id=survey.customer_id, number=survey.number,
            status=SurveyStatus.PENDING, created_at=now)
        _schedule(target, plan, step, anchor + dt.timedelta(days=offset))
        session.add(target)
    session.flush()


def _schedule(survey: SurveyRequest, plan: SurveyPlan, step: int, starts: dt.datetime) -> None:
    """Dialling starts at ``starts``; ``due_at`` (the ticket service's meaning: done by)
    and ``deadline_at`` are ``deadline_days`` later."""
    survey.plan_id = plan.id
    survey.step = step
    survey.due_at = survey.deadline_at = starts + dt.timedelta(days=plan.deadline_days)
    survey.next_attempt_at = starts
    survey.attempts = 0
    survey.outcome = ""


def _contact_number(ticket: Ticket) -> str:
    number = ticket.contact_phone
    if not number and ticket.customer is not None and ticket.customer.phones:
        number = ticket.customer.phones[0].e164
    return number


def _on_survey_requested(ticket: Ticket, *, session: Session, survey: SurveyRequest, **_) -> None:
    apply_plan(session, survey, ticket)


def _on_ticket_closed(ticket: Ticket, *, session: Session, survey: SurveyRequest | None, **_) -> None:
    """Member customers: every ticket is followed up (100%), not only complaints and repairs."""
    if survey is not None or ticket.customer is None or ticket.customer.tier not in MEMBER_TIERS:
        return
    now = ticket.closed_at or utcnow()
    extra = SurveyRequest(ticket_id=ticket.id, customer_id=ticket.customer_id, number=_contact_number(ticket),
                          due_at=now, status=SurveyStatus.PENDING, created_at=now)
    session.add(extra)
    session.flush()
    apply_plan(session, extra, ticket, now=now)


_installed = False


def install() -> None:
    """Connect the receivers (once per process)."""
    global _installed
    if _installed:
        return
    signals.survey_requested.connect(_on_survey_requested, weak=False)
    signals.ticket_closed.connect(_on_ticket_closed, weak=False)
    _installed = True


def schedule_series(session: Session, ticket: Ticket, plan_key: str, start: dt.datetime,
                    end: dt.datetime | None = None, *, now: dt.datetime | None = None) -> list[SurveyRequest]:
    """Calls of a series for ``ticket``'s customer: construction (``start``..``end``),
    pre-handover (``start`` = the handover day), walk-in (``start`` = the visit). Calls
    whose time has passed are left out. PlanError for an unknown plan or bad dates."""
    now = now or utcnow()
    ensure_default_plans(session)
    plan = get_plan(session, plan_key)
    if plan.anchor not in ("construction", "handover", "walk_in"):
        raise PlanError(f"plan {plan_key} follows closed tickets; it has no series to schedule")
    if plan.anchor == "construction" and end is None:
        raise PlanError("a construction series needs the end of construction")
    length = (end - start).total_seconds() / 86400 if end is not None else None
    number = _contact_number(ticket)
    if not number:
        raise PlanError(f"ticket {ticket.number} has no phone number to call")
    created = []
    for step, offset in enumerate(series_offsets(plan, length if plan.anchor == "construction" else None)):
        starts = start + dt.timedelta(days=offset)
        if starts + dt.timedelta(days=plan.deadline_days) < now:
            continue
        survey = SurveyRequest(ticket_id=ticket.id, customer_id=ticket.customer_id, number=number,
                               status=SurveyStatus.PENDING, created_at=now, due_at=starts)
        _schedule(survey, plan, step, max(starts, now))
        session.add(survey)
        created.append(survey)
    session.flush()
    return created


# --- contact rules ------------------------------------------------------------------------

def contact_key(number: str, region: str = "CN") -> str:
    """The form numbers are compared in (E.164 when it parses, else the digits as given)."""
    return normalize(number, region) or number.strip()


def set_contact(session: Session, number: str, *, do_not_call: bool | None = None,
                preferred: tuple[dt.time, dt.time] | None | bool = False, note: str | None = None,
                region: str = "CN") -> SurveyContact:
    """Put a number on (or off) the do-not-call list, or set its preferred time
    (``preferred=None`` clears it). ValueError for an empty number or a backwards time."""
    key = contact_key(number or "", region)
    if not key:
        raise ValueError("a phone number is needed")
    contact = session.scalars(select(SurveyContact).where(SurveyContact.number == key)).first()
    if contact is None:
        contact = SurveyContact(number=key, do_not_call=False, note="")
        session.add(contact)
    if do_not_call is not None:
        contact.do_not_call = do_not_call
    if preferred is None:
        contact.preferred_from = contact.preferred_to = None
    elif preferred is not False:
        start, end = preferred
        if end <= start:
            raise ValueError("the preferred time must end after it starts")
        contact.preferred_from, contact.preferred_to = start, end
    if note is not None:
        contact.note = note
    contact.updated_at = utcnow()
    session.flush()
    return contact


def contacts(session: Session, numbers: list[str], region: str = "CN") -> dict[str, SurveyContact]:
    """Contact rules by the numbers as given."""
    keys = {number: contact_key(number, region) for number in numbers}
    rows = {c.number: c for c in session.scalars(
        select(SurveyContact).where(SurveyContact.number.in_(set(keys.values()))))} if keys else {}
    return {number: rows[key] for number, key in keys.items() if key in rows}


def list_contacts(session: Session) -> list[SurveyContact]:
    return list(session.scalars(select(SurveyContact).order_by(SurveyContact.number)))
