"""route_call: which queue, at which priority, and why.

The AGI handler drives it in three steps so the caller-facing IVR sits in the middle
and every database step has a time budget:

    plan = plan_route(session, settings, request)        # read-only: line, customer, hours
    ivr  = await run_flow(...) if plan.ivr_flow else None  # caller interaction (no DB)
    decision = decide(plan, settings, ivr)               # pure
    record_route(session, plan, decision, ivr)           # one write: the calls row

A line without an IVR flow needs nothing from the caller between the plan and the
write, so ``route_and_record`` does all three in one unit of work (one round trip to
the database thread, one commit): the FastAGI hot path. The database functions take
a Session or a Connection; the hot path uses a Connection and prebuilt statements.

``fallback_decision`` needs no database: the server uses it when anything fails.

Rules, strongest first (``decide``):

| situation                                   | action      | queue              | priority | reason            |
|---------------------------------------------|-------------|--------------------|----------|-------------------|
| dialled number is no active line            | queue       | default_queue      | by caller| unknown_line      |
| IVR: caller chose to leave a message        | after_hours | line queue         | by caller| ivr_voicemail     |
| IVR: caller asked to be called back         | after_hours | line queue         | by caller| ivr_callback      |
| closed, duty queue staffed now              | queue       | line's duty queue  | by caller| duty              |
| closed on a holiday, nobody on duty         | after_hours | line queue         | by caller| holiday           |
| closed otherwise, nobody on duty            | after_hours | line queue         | by caller| after_hours       |
| VIP line                                    | queue       | vip_queue          | vip      | vip_line          |
| VIP customer                                | queue       | vip_queue          | vip      | vip_customer      |
| member customer                             | queue       | vip_queue          | vip      | member_customer   |
| open complaint for any customer of the number | queue     | IVR queue or line's| raised   | open_complaint    |
| earlier call(s) from the number in the window | queue     | IVR queue or line's| raised   | repeat_caller     |
| anything else                               | queue       | IVR queue or line's| normal   | ordinary          |

"by caller" = the priority the VIP/complaint/repeat rows would give (vip, raised or
normal), so a VIP still jumps the duty queue.
"""

from __future__ import annotations

import datetime as dt
import enum
import functools
import itertools
import logging
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import Connection, Integer, bindparam, case, exists, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from callcenter.config import Settings
from callcenter.db import DriverStatement, utcnow
from callcenter.models import (
    Call,
    CallStatus,
    Customer,
    CustomerPhone,
    Ticket,
    TicketStatus,
    TicketType,
    Tier,
)
from callcenter.services.calls.recording_names import side_files
from callcenter.services.people import phones
from callcenter.services.setup import calendar, routing_config

log = logging.getLogger(__name__)


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
    IVR_CALLBACK = "ivr_callback"    # caller asked to be called back in the IVR


@dataclass(frozen=True)
class RouteRequest:
    uniqueid: str
    linkedid: str
    channel: str
    dialled: str              # the hotline number (agi_extension, else agi_dnid)
    caller_number: str        # raw caller ID number (attacker-controlled)
    caller_name: str          # raw caller ID name (attacker-controlled)
    now: dt.datetime | None = None   # naive UTC; None = utcnow()
    recording_file: str = ""         # where MixMonitor will write (the dialplan names it)


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
    # Every customer the number belongs to (household landline), best tier first;
    # the screen-pop shows them all.
    customer_ids: list[int] = field(default_factory=list)
    # The call's one key from the dialplan to the agent's browser: the one a row of this
    # channel already has (an AGI retried), else a new unguessable one.
    pop_key: str = ""


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



TIER_RANK = {Tier.VIP: 0, Tier.MEMBER: 1, Tier.ORDINARY: 2}
# Statuses a (re)routing may overwrite: later ones belong to the AMI listener.
ROUTING_STATUSES = (CallStatus.ROUTING, CallStatus.ROUTED, CallStatus.AFTER_HOURS)
CATEGORY_RE = re.compile(r"^[a-z_]{0,16}$")


def plan_route(session: Session | Connection, settings: Settings, request: RouteRequest) -> RoutePlan:
    """Everything the decision needs, in two indexed queries (one for an anonymous
    caller); lines, queues, hours, overrides and duty shifts come from the cached
    configuration."""
    now = request.now or utcnow()
    e164 = phones.normalize(request.caller_number, settings.phone_region)
    conn = _connection(session)
    customers: list = []            # (id, name, tier, open_complaint) rows
    repeat_caller = open_complaint = False
    if e164:
        enough = max(1, settings.repeat_min_calls)
        token, earlier, pop_key = _CALLER_HISTORY.first(conn, {
            "e164": e164, "since": now - dt.timedelta(hours=settings.repeat_window_hours), "now": now,
            "uniqueid": request.uniqueid, "linkedid": request.linkedid or request.uniqueid, "enough": enough,
        })
        repeat_caller = earlier >= enough
        customers = _CUSTOMERS.rows(conn, {"e164": e164})
        if len(customers) > 1:
            customers.sort(key=lambda c: (TIER_RANK[Tier(c[2])], c[0]))
        open_complaint = any(c[3] for c in customers)
    else:
        token, pop_key = _TOKEN.first(conn, {"uniqueid": request.uniqueid})
    config = routing_config.current_config(conn, token or "")
    best = customers[0] if customers else None

    line = config.line_for_number(request.dialled)
    if line is None:
        is_open, closed_reason, duty_queue, ivr_flow = True, "", None, ""
    else:
        is_open, closed_reason = calendar.state_at(config, settings, now, line.id)
        duty_queue = None
        if not is_open and line.duty_queue_id is not None \
                and routing_config.duty_staffed(conn, line.duty_queue_id, now, config):
            duty_queue = line.duty_queue
        ivr_flow = line.ivr_flow if (is_open or duty_queue) else ""

    return RoutePlan(
        request=request, now=now,
        line_id=line.id if line else None,
        line_kind=line.kind if line else None,
        line_queue=(line.queue if line and line.queue else settings.default_queue),
        customer_id=best[0] if best else None,
        customer_name=best[1] if best else "",
        tier=Tier(best[2]).value if best else None,
        caller_e164=e164,
        repeat_caller=repeat_caller,
        open_complaint=open_complaint,
        is_open=is_open,
        closed_reason=closed_reason,
        duty_queue=duty_queue,
        ivr_flow=ivr_flow,
        customer_ids=[c[0] for c in customers],
        pop_key=pop_key or new_pop_key(),
    )


def route_and_record(session: Session | Connection, settings: Settings, request: RouteRequest,
                     decided: Callable[[RoutePlan, RouteDecision], bool] | None = None,
                     ) -> tuple[RoutePlan, RouteDecision | None]:
    """plan_route, then — when the line runs no IVR flow — decide and record_route in
    the same unit of work. Returns (plan, recorded decision), or (plan, None) when the
    caller must first go through the plan's IVR flow (then decide and record_route
    follow as usual).

    ``decided(plan, decision)`` is called before the write, so a caller whose write
    fails or overruns its budget still holds the decision and can route the call
    without a call id, as with a separate record_route. When it returns False the
    caller has given up on this call (it was routed by its fallback): nothing is written.
    """
    plan = plan_route(session, settings, request)
    if plan.ivr_flow:
        return plan, None
    decision = decide(plan, settings, None)
    if decided is not None and not decided(plan, decision):
        return plan, None
    return plan, record_route(session, plan, decision, None)


def _connection(bind: Session | Connection) -> Connection:
    if isinstance(bind, Session):
        bind.flush()  # pending configuration changes of this session move the token
        return bind.connection()
    return bind


# Statements are built once per process: constructing SQLAlchemy expressions costs more
# than running these indexed queries. Values go in as bound parameters. On the hot path
# they run as DriverStatements (callcenter.db): compiled once per dialect, executed on
# the driver's cursor (SQLAlchemy's execution machinery cost more than the queries).

def _caller_history_statement():
    """(config token, earlier calls from the number — counted up to :enough —) in one
    round trip."""
    earlier = (
        select(Call.id)
        .where(Call.caller_e164 == bindparam("e164"), Call.started_at >= bindparam("since"),
               Call.started_at <= bindparam("now"),
               # this call itself (an AGI retry, a transfer back to the hotline) is no repeat
               Call.uniqueid != bindparam("uniqueid"), Call.linkedid != bindparam("linkedid"))
        .limit(bindparam("enough", type_=Integer))
        .subquery()
    )
    return select(routing_config.config_token_query(),
                  select(func.count()).select_from(earlier).scalar_subquery(),
                  _existing_pop_key())


def _customers_statement():
    """Every customer of the number with whether they have an open complaint. The
    complaint check is correlated per customer, so it always walks the customer_id index
    (a join driven from tickets would scan all open complaints)."""
    open_complaint = exists(
        select(Ticket.id).where(Ticket.customer_id == Customer.id, Ticket.type == TicketType.COMPLAINT,
                                Ticket.status != TicketStatus.CLOSED)
    ).label("open_complaint")
    return (select(Customer.id, Customer.name, Customer.tier, open_complaint)
            .join(CustomerPhone, CustomerPhone.customer_id == Customer.id)
            .where(CustomerPhone.e164 == bindparam("e164")))


def _token_statement():
    return select(routing_config.config_token_query(), _existing_pop_key())


def _existing_pop_key():
    """The pop key a row of this channel already has (a retried AGI keeps it)."""
    return select(Call.screen_pop_key).where(Call.uniqueid == bindparam("uniqueid")).limit(1).scalar_subquery()


def new_pop_key() -> str:
    return secrets.token_urlsafe(24)


_CALLER_HISTORY = DriverStatement(_caller_history_statement)
_CUSTOMERS = DriverStatement(_customers_statement)
_TOKEN = DriverStatement(_token_statement)


def decide(plan: RoutePlan, settings: Settings, ivr: IvrOutcome | None = None) -> RouteDecision:
    """The routing rules (table in the module docstring). Pure: no I/O."""
    priority, priority_reason = _priority(plan, settings)
    category = _category(ivr.category) if ivr else ""

    def route(action: RouteAction, queue: str, reason: RouteReason, prio: int = priority) -> RouteDecision:
        return RouteDecision(action=action, queue=queue, priority=prio, reason=reason.value,
                             customer_id=plan.customer_id, tier=plan.tier, line_kind=plan.line_kind,
                             category=category)

    if plan.line_id is None:
        return route(RouteAction.QUEUE, settings.default_queue, RouteReason.UNKNOWN_LINE)
    if ivr is not None and ivr.action == "voicemail":
        return route(RouteAction.AFTER_HOURS, plan.line_queue, RouteReason.IVR_VOICEMAIL)
    if ivr is not None and ivr.action == "callback":
        return route(RouteAction.AFTER_HOURS, plan.line_queue, RouteReason.IVR_CALLBACK)
    if not plan.is_open:
        if plan.duty_queue:
            return route(RouteAction.QUEUE, plan.duty_queue, RouteReason.DUTY)
        closed = RouteReason.HOLIDAY if plan.closed_reason == RouteReason.HOLIDAY.value \
            else RouteReason.AFTER_HOURS
        return route(RouteAction.AFTER_HOURS, plan.line_queue, closed)
    if priority_reason in (RouteReason.VIP_LINE, RouteReason.VIP_CUSTOMER, RouteReason.MEMBER_CUSTOMER):
        return route(RouteAction.QUEUE, settings.vip_queue, priority_reason)
    queue = ivr.queue if ivr is not None and ivr.queue else plan.line_queue
    return route(RouteAction.QUEUE, queue, priority_reason)


def _priority(plan: RoutePlan, settings: Settings) -> tuple[int, RouteReason]:
    if plan.line_kind == "vip":
        return settings.priority_vip, RouteReason.VIP_LINE
    if plan.tier == Tier.VIP.value:
        return settings.priority_vip, RouteReason.VIP_CUSTOMER
    if plan.tier == Tier.MEMBER.value:
        return settings.priority_vip, RouteReason.MEMBER_CUSTOMER
    if plan.open_complaint:
        return settings.priority_raised, RouteReason.OPEN_COMPLAINT
    if plan.repeat_caller:
        return settings.priority_raised, RouteReason.REPEAT_CALLER
    return settings.priority_normal, RouteReason.ORDINARY


def _category(value: str) -> str:
    # The category becomes a channel variable and a report key: ASCII ids only.
    value = (value or "").strip().lower()
    return value if CATEGORY_RE.match(value) else ""


_ROUTE_OVERWRITES = ("linkedid", "channel", "line_id", "dialled_number", "caller_number", "caller_e164",
                     "caller_name", "customer_id", "ivr_path", "category", "queue", "priority",
                     "route_reason", "routed_at")
_HANGUP_OVERWRITES = ("ended_at", "hangup_side")


@dataclass(frozen=True)
class CallRecord:
    """One write of a calls row: decided on the route's path, applied in order behind it
    (``callcenter.agi.recorder``), possibly after waiting in a journal file, so it holds
    plain values only. Applying a record twice leaves the row as applying it once."""

    values: dict[str, Any]
    overwrite: tuple[str, ...]
    kind = "call"

    def apply(self, session: Session | Connection, settings: Settings | None = None) -> None:
        _upsert_call(session, self.values, overwrite=self.overwrite)

    def to_json(self) -> dict[str, Any]:
        values = {key: (value.isoformat() if isinstance(value, dt.datetime) else
                        value.value if isinstance(value, enum.Enum) else value)
                  for key, value in self.values.items()}
        return {"values": values, "overwrite": list(self.overwrite)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CallRecord:
        values = dict(data["values"])
        for key in _DATETIME_COLUMNS & set(values):
            if values[key] is not None:
                values[key] = dt.datetime.fromisoformat(values[key])
        if "status" in values:
            values["status"] = CallStatus(values["status"])
        return cls(values=values, overwrite=tuple(data["overwrite"]))


_DATETIME_COLUMNS = frozenset({"started_at", "routed_at", "ended_at"})


def route_record(plan: RoutePlan, decision: RouteDecision, ivr: IvrOutcome | None = None) -> CallRecord:
    """The calls row of a decision (its pop key: the decision's, else the plan's).

    One row per uniqueid: a retried AGI for the same channel updates it (and keeps the
    pop key already handed out). The callback task of an after-hours call is opened by
    the after_hours route (callcenter.services.calls.after_hours), which knows whether
    the caller left a message."""
    status = CallStatus.AFTER_HOURS if decision.action is RouteAction.AFTER_HOURS else CallStatus.ROUTED
    values = _call_values(plan, ivr)
    values.update(
        queue=_clip(decision.queue, 64), priority=decision.priority, route_reason=decision.reason,
        category=decision.category, status=status, routed_at=_stamp(plan),
        screen_pop_key=decision.pop_key or plan.pop_key or new_pop_key(),
    )
    return CallRecord(values, _ROUTE_OVERWRITES)


def hangup_record(plan: RoutePlan, ivr: IvrOutcome | None = None, side: str = "caller") -> CallRecord:
    """The caller hung up during routing/IVR: a consistent calls row (status hung_up).

    ``side`` is "ivr" when the flow itself ended the call. A row already written by a
    route record keeps its decision; only the status, the end and the path change."""
    values = _call_values(plan, ivr)
    values.update(status=CallStatus.HUNG_UP, ended_at=_stamp(plan), hangup_side=side[:16])
    if ivr is not None:
        values["category"] = _category(ivr.category)
    keeps_path = ivr is None or not ivr.path
    return CallRecord(values, _HANGUP_OVERWRITES if keeps_path else _HANGUP_OVERWRITES + ("ivr_path", "category"))


def write_call_records(session: Session | Connection, records: list[CallRecord]) -> None:
    """Apply records in order in the caller's transaction: each run of records of the
    same shape (a burst of routes) in one executemany, which costs a write a fraction of
    a statement of its own."""
    conn = _connection(session)
    dialect = conn.dialect.name
    if dialect not in ("sqlite", "postgresql"):
        for record in records:
            record.apply(session)
        return
    for (overwrite, keys), run in itertools.groupby(records, key=lambda r: (r.overwrite, tuple(r.values))):
        params = [{**_INSERT_DEFAULTS, **record.values} for record in run]
        _upsert(dialect, overwrite, "screen_pop_key" in keys, returning=False).many(conn, params)


def record_route(session: Session | Connection, plan: RoutePlan, decision: RouteDecision,
                 ivr: IvrOutcome | None = None) -> RouteDecision:
    """Write the calls row now; returns the decision with call_id and pop_key filled."""
    record = route_record(plan, decision, ivr)
    call_id, pop_key = _upsert_call(session, record.values, overwrite=record.overwrite)
    return replace(decision, call_id=call_id, pop_key=pop_key)


def record_hangup(session: Session | Connection, plan: RoutePlan, ivr: IvrOutcome | None = None,
                  side: str = "caller") -> None:
    """Write ``hangup_record`` now."""
    record = hangup_record(plan, ivr, side)
    _upsert_call(session, record.values, overwrite=record.overwrite)


def _call_values(plan: RoutePlan, ivr: IvrOutcome | None) -> dict:
    request = plan.request
    return dict(
        uniqueid=_clip(request.uniqueid, 64),
        linkedid=_clip(request.linkedid or request.uniqueid, 64),
        channel=_clip(request.channel, 128),
        line_id=plan.line_id,
        dialled_number=_clip(request.dialled, 32),
        # Caller ID is attacker-controlled: stored verbatim as data, only cut to the
        # column size and cleaned of what a database cannot hold (NUL, lone surrogates).
        caller_number=_clip(request.caller_number, 64),
        caller_e164=plan.caller_e164,
        caller_name=_clip(request.caller_name, 128),
        customer_id=plan.customer_id,
        ivr_path=[_clip(str(step), 64) for step in (ivr.path if ivr else [])][:100],
        started_at=plan.now,
        recording_file=_clip(request.recording_file, 255),
        **_side_files(request.recording_file),
    )


def _side_files(recording_file: str | None) -> dict:
    """MixMonitor's caller-only and agent-only files, named after the mixed one."""
    caller, agent = side_files(_clip(recording_file, 255))
    return {"recording_caller_file": _clip(caller, 255), "recording_agent_file": _clip(agent, 255)}


def _upsert_call(session: Session | Connection, values: dict, overwrite: tuple[str, ...]) -> tuple[int, str]:
    conn = _connection(session)
    dialect = conn.dialect.name
    if dialect not in ("sqlite", "postgresql"):
        orm = session if isinstance(session, Session) else Session(bind=conn)
        return _upsert_call_portable(orm, values, overwrite)
    params = {**_INSERT_DEFAULTS, **values}
    call_id, pop_key = _upsert(dialect, overwrite, "screen_pop_key" in values, returning=True).first(conn, params)
    return call_id, pop_key


# Core inserts skip the ORM's Python-side defaults for columns we do not name.
_INSERT_DEFAULTS = dict(category="", queue="", priority=0, route_reason="", screen_pop_key="",
                        answered_by_interface="", hangup_side="", hangup_cause="", abandoned=False,
                        recording_file="", recording_caller_file="", recording_agent_file="")


@functools.cache
def _upsert(dialect: str, overwrite: tuple[str, ...], keep_pop_key: bool, returning: bool) -> DriverStatement:
    return DriverStatement(functools.partial(_upsert_statement, dialect, overwrite, keep_pop_key, returning))


def _upsert_statement(dialect: str, overwrite: tuple[str, ...], keep_pop_key: bool, returning: bool):
    """INSERT ... ON CONFLICT (uniqueid) DO UPDATE ... [RETURNING id, screen_pop_key]."""
    table = Call.__table__
    insert = (sqlite.insert if dialect == "sqlite" else postgresql.insert)(table)
    excluded = insert.excluded
    set_ = {name: excluded[name] for name in overwrite}
    set_["status"] = case((table.c.status.in_(ROUTING_STATUSES), excluded.status), else_=table.c.status)
    # a recording name already stored is never blanked by a retry that lacks it
    for name in ("recording_file", "recording_caller_file", "recording_agent_file"):
        set_[name] = case((excluded[name] != "", excluded[name]), else_=table.c[name])
    if keep_pop_key:
        set_["screen_pop_key"] = case((table.c.screen_pop_key == "", excluded.screen_pop_key),
                                      else_=table.c.screen_pop_key)
    upsert = insert.on_conflict_do_update(index_elements=[table.c.uniqueid], set_=set_)
    return upsert.returning(table.c.id, table.c.screen_pop_key) if returning else upsert


def _upsert_call_portable(session: Session, values: dict, overwrite: list[str]) -> tuple[int, str]:
    call = session.scalar(select(Call).where(Call.uniqueid == values["uniqueid"]))
    if call is None:
        call = Call(**values)
        session.add(call)
    else:
        for name in overwrite:
            setattr(call, name, values[name])
        if call.status in ROUTING_STATUSES:
            call.status = values["status"]
        if not call.screen_pop_key:
            call.screen_pop_key = values.get("screen_pop_key", "")
        for name in ("recording_file", "recording_caller_file", "recording_agent_file"):
            if values.get(name):
                setattr(call, name, values[name])
    session.flush()
    return call.id, call.screen_pop_key


def _stamp(plan: RoutePlan) -> dt.datetime:
    # A request that names its own clock (tests, replays) gets consistent timestamps.
    return plan.now if plan.request.now is not None else utcnow()


def _clip(text: str | None, limit: int) -> str:
    text = (text or "").replace("\x00", "")
    text = text.encode("utf-8", "replace").decode("utf-8")
    return text[:limit]


def fallback_decision(settings: Settings, dialled: str = "") -> RouteDecision:
    """The safe default when anything fails: the general queue, normal priority.

    Needs no database. When this process has routed calls before, the cached
    configuration still knows the dialled line: its queue (the VIP queue at VIP
    priority for the VIP line) is kept, as the dialplan's own defaults do.
    """
    line = None
    try:
        config = routing_config.cached_config(settings.database_url)
        line = config.line_for_number(dialled) if config is not None and dialled else None
    except Exception:  # noqa: BLE001 - the fallback itself must never fail
        log.debug("no cached configuration for the fallback route", exc_info=True)
    if line is not None and line.kind == "vip":
        queue, priority = settings.vip_queue, settings.priority_vip
    else:
        queue = (line.queue if line is not None and line.queue else settings.default_queue)
        priority = settings.priority_normal
    return RouteDecision(
        action=RouteAction.QUEUE,
        queue=queue,
        priority=priority,
        reason=RouteReason.FALLBACK.value,
        line_kind=line.kind if line is not None else None,
    )
