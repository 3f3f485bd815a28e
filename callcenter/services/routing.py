"""route_call: which queue, at which priority, and why.  (CONTRACT — bodies to be written.)

The AGI handler drives it in three steps so the caller-facing IVR sits in the middle
and every database step has a time budget:

    plan = plan_route(session, settings, request)        # read-only: line, customer, hours
    ivr  = await run_flow(...) if plan.ivr_flow else None  # caller interaction (no DB)
    decision = decide(plan, settings, ivr)               # pure
    record_route(session, plan, decision, ivr)           # one write: the calls row

``fallback_decision`` needs no database: the server uses it when anything fails.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from callcenter.agi import variables as V
from callcenter.config import Settings


class RouteAction(str, enum.Enum):
    QUEUE = "queue"              # Queue(${CC_QUEUE}) with ${QUEUE_PRIO}
    AFTER_HOURS = "after_hours"  # closed and nobody on duty: voicemail / callback request


class RouteReason(str, enum.Enum):
    VIP_LINE = "vip_line"
    VIP_CUSTOMER = "vip_customer"
    MEMBER_CUSTOMER = "member_customer"
    OPEN_COMPLAINT = "open_complaint"
    REPEAT_CALLER = "repeat_caller"
    ORDINARY = "ordinary"
    DUTY = "duty"                # outside hours / holiday, duty queue staffed
    AFTER_HOURS = "after_hours"  # outside business hours, nobody on duty
    HOLIDAY = "holiday"          # national or local holiday, nobody on duty
    UNKNOWN_LINE = "unknown_line"
    FALLBACK = "fallback"        # something failed; the safe default route
    IVR_VOICEMAIL = "ivr_voicemail"  # caller chose to leave a message in the IVR


@dataclass(frozen=True)
class RouteRequest:
    uniqueid: str
    linkedid: str
    channel: str
    dialled: str              # the hotline number (agi_extension, else agi_dnid)
    caller_number: str        # raw caller ID number (attacker-controlled)
    caller_name: str          # raw caller ID name (attacker-controlled)
    now: dt.datetime | None = None   # naive UTC; None = utcnow()


@dataclass
class RoutePlan:
    request: RouteRequest
    now: dt.datetime
    line_id: int | None
    line_kind: str | None      # "vip" | "ordinary" | None (unknown number)
    line_queue: str            # the line's own queue (or settings.default_queue)
    customer_id: int | None
    customer_name: str
    tier: str | None           # "vip" | "member" | "ordinary" | None (unknown caller)
    caller_e164: str
    repeat_caller: bool
    open_complaint: bool
    is_open: bool              # within business hours on a working day (调休 counts)
    closed_reason: str         # "" | "after_hours" | "holiday"
    duty_queue: str | None     # staffed duty queue when closed, else None
    ivr_flow: str              # flow to run ("" = none); only when open or on duty


@dataclass
class IvrOutcome:
    """What the IVR handler reports back (see callcenter.ivr)."""

    path: list[str] = field(default_factory=list)   # node ids / keys taken, in order
    action: str = "queue"      # "queue" | "voicemail" | "callback" | "hangup"
    category: str = ""         # consultation|complaint|repair|suggestion|order|human
    queue: str | None = None   # a queue the flow names explicitly, if any


@dataclass(frozen=True)
class RouteDecision:
    action: RouteAction
    queue: str
    priority: int
    reason: str
    customer_id: int | None = None
    tier: str | None = None
    line_kind: str | None = None
    category: str = ""
    pop_key: str = ""
    call_id: int | None = None

    def channel_variables(self) -> dict[str, str]:
        return {
            V.ROUTE: self.action.value,
            V.QUEUE: self.queue,
            V.QUEUE_PRIO: str(self.priority),
            V.ROUTE_REASON: self.reason,
            V.CUSTOMER_ID: "" if self.customer_id is None else str(self.customer_id),
            V.POP_KEY: self.pop_key,
            V.CATEGORY: self.category,
            V.CALL_ID: "" if self.call_id is None else str(self.call_id),
            V.TIER: self.tier or "unknown",
            V.LINE_KIND: self.line_kind or "unknown",
        }


def plan_route(session: Session, settings: Settings, request: RouteRequest) -> RoutePlan:
    raise NotImplementedError


def decide(plan: RoutePlan, settings: Settings, ivr: IvrOutcome | None = None) -> RouteDecision:
    raise NotImplementedError


def record_route(session: Session, plan: RoutePlan, decision: RouteDecision,
                 ivr: IvrOutcome | None = None) -> RouteDecision:
    """Write the calls row; returns the decision with call_id and pop_key filled."""
    raise NotImplementedError


def record_hangup(session: Session, plan: RoutePlan, ivr: IvrOutcome | None = None) -> None:
    """The caller hung up during routing/IVR: keep a consistent calls row (status hung_up)."""
    raise NotImplementedError


def fallback_decision(settings: Settings, dialled: str = "") -> RouteDecision:
    """The safe default when anything fails: the general queue, normal priority."""
    return RouteDecision(
        action=RouteAction.QUEUE,
        queue=settings.default_queue,
        priority=settings.priority_normal,
        reason=RouteReason.FALLBACK.value,
    )
