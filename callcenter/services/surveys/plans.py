"""Survey plans (回访计划) as data: the rulebook's defaults, which an admin edits.

REQUIREMENTS "Follow-up calls": repairs 2 days after closing, leaks 3 days after the
leak test, other tickets within 3 days; decoration sites 4–5 calls across the
construction period (at least weekly) about quality, staff, the supervisor (监理) and the
designer (设计师); pre-handover greetings T-30/T-15/T-3; walk-in follow-ups
+0/+3/+5/+7/+15; member customers: every ticket (100%).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from callcenter.models import SurveyPlan, Ticket

ANCHORS = ("closed", "leak_test", "construction", "handover", "walk_in")
SATISFACTION_QUESTION = {"key": "q_service", "label": "服务满意度", "scale": 3}
CONSTRUCTION_QUESTIONS = [
    {"key": "q_quality", "label": "施工质量", "scale": 3},
    {"key": "q_staff", "label": "员工服务", "scale": 3},
    {"key": "q_supervisor", "label": "监理", "scale": 3},
    {"key": "q_designer", "label": "设计师", "scale": 3},
]

# key, name, priority, anchor, ticket types, tiers, match words, offsets, deadline days,
# extra fields. Lower priority wins when several plans match a closed ticket.
DEFAULT_PLANS: list[dict[str, Any]] = [
    {"key": "leak", "name": "漏水维修回访（闭水试验后3天）", "priority": 10, "anchor": "leak_test",
         "ticket_types": ["repair"], "match_words": ["漏水", "渗水", "漏", "闭水"], "offsets_days": [3], "deadline_days": 1},
    {"key": "repair", "name": "维修回访（2天内）", "priority": 20, "anchor": "closed",
         "ticket_types": ["repair"], "offsets_days": [1], "deadline_days": 1},
    {"key": "member", "name": "会员客户回访（100%）", "priority": 30, "anchor": "closed",
         "tiers": ["member", "vip"], "offsets_days": [0], "deadline_days": 3},
    {"key": "general", "name": "一般回访（3天内）", "priority": 40, "anchor": "closed",
         "offsets_days": [0], "deadline_days": 3},
    {"key": "construction", "name": "施工期回访（4–5次，每周至少1次）", "priority": 200, "anchor": "construction",
         "offsets_days": [], "deadline_days": 2, "series_min_calls": 4, "series_max_gap_days": 7,
         "flow": "survey_construction", "questions": CONSTRUCTION_QUESTIONS},
    {"key": "handover", "name": "交房前问候（T-30/T-15/T-3）", "priority": 210, "anchor": "handover",
         "offsets_days": [-30, -15, -3], "deadline_days": 2},
    {"key": "walk_in", "name": "到访客户回访（+0/+3/+5/+7/+15）", "priority": 220, "anchor": "walk_in",
         "offsets_days": [0, 3, 5, 7, 15], "deadline_days": 1},
]


class PlanError(ValueError):
    pass


def ensure_default_plans(session: Session) -> list[str]:
    """Create the rulebook's plans that are missing (never changes an edited plan)."""
    have = set(session.scalars(select(SurveyPlan.key)))
    created = []
    for spec in DEFAULT_PLANS:
        if spec["key"] in have:
            continue
        data = {"tiers": [], "ticket_types": [], "match_words": [], "flow": "survey",
                "questions": [SATISFACTION_QUESTION], **spec}
        session.add(SurveyPlan(**data))
        created.append(spec["key"])
    session.flush()
    return created


def list_plans(session: Session) -> list[SurveyPlan]:
    return list(session.scalars(select(SurveyPlan).order_by(SurveyPlan.priority, SurveyPlan.id)))


def get_plan(session: Session, key: str) -> SurveyPlan:
    plan = session.scalars(select(SurveyPlan).where(SurveyPlan.key == key)).first()
    if plan is None:
        raise PlanError(f"no survey plan {key!r} (plans: {', '.join(p.key for p in list_plans(session))})")
    return plan


def update_plan(session: Session, key: str, **changes: Any) -> SurveyPlan:
    """Change a plan; bad values raise PlanError and change nothing."""
    plan = get_plan(session, key)
    clean: dict[str, Any] = {}
    for name, value in changes.items():
        if name in ("offsets_days",):
            clean[name] = [float(v) for v in _numbers(value, name)]
        elif name in ("max_attempts", "retry_minutes", "priority"):
            number = int(value)
            if number < (1 if name == "max_attempts" else 0):
                raise PlanError(f"{name} must be at least {1 if name == 'max_attempts' else 0}")
            clean[name] = number
        elif name == "deadline_days":
            number = float(value)
            if number < 0:
                raise PlanError("deadline_days must not be negative")
            clean[name] = number
        elif name in ("active",):
            clean[name] = bool(value)
        elif name in ("name",):
            if not str(value).strip():
                raise PlanError("a plan needs a name")
            clean[name] = str(value).strip()
        else:
            raise PlanError(f"{name} cannot be edited here")
    for name, value in clean.items():
        setattr(plan, name, value)
    session.flush()
    return plan


def _numbers(value: Any, name: str) -> list[float]:
    if isinstance(value, str):
        value = [part for part in value.replace("，", ",").split(",") if part.strip()]
    try:
        numbers = [float(v) for v in value]
    except (TypeError, ValueError):
        raise PlanError(f"{name}: a list of day numbers such as 0,3,5,7,15") from None
    if not numbers or any(math.isnan(n) or abs(n) > 366 for n in numbers):
        raise PlanError(f"{name}: between one and several day numbers within a year")
    return numbers


def _ticket_text(ticket: Ticket) -> str:
    fields = " ".join(str(v) for v in (ticket.fields or {}).values())
    return f"{ticket.subject} {ticket.description} {fields}"


def plan_for_ticket(session: Session, ticket: Ticket, plans: Iterable[SurveyPlan] | None = None) -> SurveyPlan | None:
    """The first active plan anchored on a ticket (closed / leak test) whose ticket types,
    customer tiers and words match; None: this ticket gets no follow-up call."""
    tier = ticket.customer.tier.value if ticket.customer is not None else ""
    text = _ticket_text(ticket)
    for plan in plans if plans is not None else list_plans(session):
        if not plan.active or plan.anchor not in ("closed", "leak_test"):
            continue
        if plan.ticket_types and ticket.type.value not in plan.ticket_types:
            continue
        if plan.tiers and tier not in plan.tiers:
            continue
        if plan.match_words and not any(word in text for word in plan.match_words):
            continue
        if plan.anchor == "leak_test" and ticket.completed_at is None:
            continue      # no leak test recorded yet: an ordinary repair
        return plan
    return None


def series_offsets(plan: SurveyPlan, length_days: float | None) -> list[float]:
    """The days of a plan's series. A construction series spreads at least
    ``series_min_calls`` calls from start to end, never more than ``series_max_gap_days``
    apart (4–5 calls, weekly on a long site)."""
    if plan.series_min_calls and length_days is not None:
        if length_days <= 0:
            raise PlanError("a construction series needs an end after its start")
        gap = plan.series_max_gap_days or length_days
        count = max(plan.series_min_calls, math.ceil(length_days / gap) + 1)
        step = length_days / (count - 1)
        return [round(i * step, 3) for i in range(count)]
    return list(plan.offsets_days)
