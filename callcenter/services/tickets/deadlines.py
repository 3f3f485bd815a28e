"""Ticket deadlines from the business rules (REQUIREMENTS.md "Complaints", "Repairs").

Two deadlines per ticket, both naive UTC:

``due_at``            the earliest commitment the service desk owes the customer. When
                      several rules apply (a complaint is both "not urgent" and "within
                      our own remit") the strictest wins: missing any of them is a
                      missed commitment, and the escalation sweep watches this instant.
``department_due_at`` what another party owes us: the department's written response
                      to a complaint passed on, or the repair crew on site.

Rules (numbers from ``Settings``; ``DeadlineRules.from_settings``):

=====================  ==========================================  =========================
ticket                 rule                                        default
=====================  ==========================================  =========================
complaint, urgent      reply (serious or not)                      2 h, round the clock
complaint, not urgent  reply                                       2 working days
complaint, own remit   handled the same day                        end of the working day
complaint, passed on   handled                                     3 calendar days
complaint, passed on   department's written response (dept. due)   8 h after it was passed
complaint, invalid     reasoned reply (replaces all the above)     1 working day
repair                 repair plan                                 2 calendar days
repair                 crew on site (dept. due)                    the agreed appointment,
                                                                   else 8 h
consultation, order    handled: own remit / passed on              same day / 3 days
suggestion             acknowledged with an answer                 2 working days
=====================  ==========================================  =========================

Working days come from the business calendar (``services.setup.calendar``: national holidays
off, 调休 weekends on, local overrides); "same day" is the closing time of the working
day (the next working day's closing time when the ticket arrives after hours or on a
day off). Hours are plain elapsed hours: urgent work does not wait for Monday.

A rule's clock starts when the customer asked (``Ticket.created_at``, or the reopening
instant for a reopened ticket): reclassifying a complaint does not give the desk more
time. The department's clock starts when the ticket is passed to it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from sqlalchemy.orm import Session

from callcenter.config import Settings
from callcenter.models import Ticket, TicketType
from callcenter.services.setup import calendar


@dataclasses.dataclass(frozen=True)
class DeadlineRules:
    """The numbers of the rules above. Their one home is ``Settings`` (``deadline_<field>``,
    with the rulebook's values as defaults): a rule set is always built from settings."""

    urgent_hours: float
    non_urgent_working_days: int
    own_remit_same_day: bool
    other_department_days: int
    department_response_hours: float
    invalid_complaint_working_days: int
    repair_onsite_hours: float
    repair_plan_days: int
    suggestion_working_days: int

    @classmethod
    def from_settings(cls, settings: Settings) -> DeadlineRules:
        """Every field is the setting ``deadline_<field>``."""
        return cls(**{field.name: getattr(settings, f"deadline_{field.name}")
                      for field in dataclasses.fields(cls)})


# Shown in the ticket's history (期限规则) as it was when the deadline was set.
RULE_TEXT = {
    "complaint_invalid": "无效投诉：{invalid_complaint_working_days} 个工作日内说明理由答复",
    "complaint_urgent": "紧急投诉：{urgent_hours:g} 小时内答复",
    "complaint_not_urgent": "非紧急投诉：{non_urgent_working_days} 个工作日内答复",
    "own_remit_same_day": "客服中心职责范围内：当个工作日内处理",
    "other_department": "转交其他部门：{other_department_days} 天内处理",
    "repair_plan": "报修：{repair_plan_days} 天内给出维修方案",
    "suggestion": "建议：{suggestion_working_days} 个工作日内答复",
    "department_response": "责任部门 {department_response_hours:g} 小时内书面回复",
    "crew_on_site": "维修人员 {repair_onsite_hours:g} 小时内到场",
    "appointment": "维修人员按约定时间到场",
}


@dataclasses.dataclass(frozen=True)
class Deadline:
    at: dt.datetime
    rule: str                       # a RULE_TEXT key

    def describe(self, rules: DeadlineRules) -> str:
        return RULE_TEXT[self.rule].format(**dataclasses.asdict(rules))


def _candidates(session: Session, settings: Settings, rules: DeadlineRules, ticket: Ticket,
                start: dt.datetime) -> list[Deadline]:
    kind = TicketType(ticket.type)
    out: list[Deadline] = []

    def remit_rule() -> None:
        if ticket.department:
            out.append(Deadline(start + dt.timedelta(days=rules.other_department_days), "other_department"))
        elif rules.own_remit_same_day:
            out.append(Deadline(calendar.end_of_working_day(session, settings, start), "own_remit_same_day"))

    if kind is TicketType.COMPLAINT:
        if ticket.invalid:
            return [Deadline(calendar.add_working_days(session, settings, start,
                                                       rules.invalid_complaint_working_days),
                             "complaint_invalid")]
        if ticket.urgency == "urgent":
            out.append(Deadline(start + dt.timedelta(hours=rules.urgent_hours), "complaint_urgent"))
        elif ticket.urgency == "not_urgent":
            out.append(Deadline(calendar.add_working_days(session, settings, start,
                                                          rules.non_urgent_working_days),
                                "complaint_not_urgent"))
        remit_rule()
    elif kind is TicketType.REPAIR:
        out.append(Deadline(start + dt.timedelta(days=rules.repair_plan_days), "repair_plan"))
    elif kind is TicketType.SUGGESTION:
        out.append(Deadline(calendar.add_working_days(session, settings, start,
                                                      rules.suggestion_working_days), "suggestion"))
    else:  # consultation, order/return
        remit_rule()
    return out


def due(session: Session, settings: Settings, ticket: Ticket, start: dt.datetime) -> Deadline | None:
    """The earliest commitment for ``ticket`` if its clock started at ``start``."""
    rules = DeadlineRules.from_settings(settings)
    candidates = _candidates(session, settings, rules, ticket, start)
    # Ties go to the first rule listed: the urgency rule names the deadline the customer hears.
    return min(candidates, key=lambda d: d.at) if candidates else None


def department_due(settings: Settings, ticket: Ticket, passed_at: dt.datetime) -> Deadline | None:
    """What the department or crew owes, counted from ``passed_at`` (creation for repairs)."""
    rules = DeadlineRules.from_settings(settings)
    kind = TicketType(ticket.type)
    if kind is TicketType.REPAIR:
        if ticket.appointment_at is not None:
            return Deadline(ticket.appointment_at, "appointment")
        return Deadline(passed_at + dt.timedelta(hours=rules.repair_onsite_hours), "crew_on_site")
    if kind is TicketType.COMPLAINT and ticket.department and not ticket.invalid:
        return Deadline(passed_at + dt.timedelta(hours=rules.department_response_hours), "department_response")
    return None


def next_period_end(session: Session, settings: Settings, ticket: Ticket, previous: dt.datetime) -> dt.datetime:
    """End of the overdue period that starts at ``previous`` (the deadline just missed).

    The escalation sweep gives each level one more period of the ticket's own rule:
    an urgent complaint 2 h, a not-urgent one 2 working days, a same-day one the next
    working day's closing time. Always strictly later than ``previous``."""
    for start in (previous, previous + dt.timedelta(seconds=1)):
        # "Same day" evaluated at the closing instant may be that instant itself; one
        # second later it is the next working day's closing time.
        deadline = due(session, settings, ticket, start)
        if deadline is not None and deadline.at > previous:
            return deadline.at
    fallback = (ticket.due_at or previous) - ticket.created_at
    return previous + max(fallback, dt.timedelta(hours=1))


def describe(settings: Settings, deadline: Deadline | None) -> str:
    return deadline.describe(DeadlineRules.from_settings(settings)) if deadline else ""
