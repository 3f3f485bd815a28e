"""The agent and supervisor consoles: where an agent sits, what state the phone system
reports for them, the queue requests the console sends, and the live queue overview.

The web panel never talks to Asterisk itself. A console request becomes an
``ami.action`` message on the event bus (``action_request``); the AMI listener executes
it and answers with ``agent`` events (``action_result``, ``member_state``). The listener
is also the one writer of ``AgentState.status`` (``services.people.agents``); the panel writes
only where the agent sits (``sit_at``/``leave``) and reads the rest.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from callcenter.config import Settings
from callcenter.db import utcnow
from callcenter.models import AgentState, AgentStatus, Call, CallStatus, Queue, Role, User
from callcenter.services.people import agents
from callcenter.services.setup.periods import period_for
from callcenter.timeutil import to_local

# PJSIP/1001, SIP/agent-7, Local/1001@agents: technology/resource, nothing that could
# smuggle a second header into the AMI request.
INTERFACE_RE = re.compile(r"^[A-Za-z][A-Za-z0-9]{1,15}/[A-Za-z0-9_.@\-]{1,63}$")
QUEUE_RE = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
PAUSE_REASONS = ("小休", "用餐", "培训", "会议", "回访", "其他")
MAX_REASON = 40
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class ConsoleError(ValueError):
    """A console request that cannot be carried out; the message is shown to the agent."""


def validate_interface(interface: str) -> str:
    interface = (interface or "").strip()
    if not INTERFACE_RE.match(interface):
        raise ConsoleError(f"{interface[:80]!r} is not a phone interface such as PJSIP/1001")
    return interface


def validate_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ConsoleError("a pause needs a reason")
    # app_queue keeps reasons in an 80-byte buffer.
    if len(reason) > MAX_REASON or len(reason.encode()) > 79 or _CONTROL.search(reason):
        raise ConsoleError(f"a pause reason is at most {MAX_REASON} printable characters")
    return reason


def state_for(session: Session, user: User) -> AgentState:
    return agents.ensure_state(session, user.id, user.default_interface)


def state_dict(state: AgentState | None, default_interface: str | None = None) -> dict[str, Any]:
    if state is None:
        return {"interface": default_interface or "", "status": AgentStatus.OFFLINE.value,
                "pause_reason": "", "queues": [], "current_linkedid": ""}
    return {
        "interface": state.interface or default_interface or "",
        "status": state.status.value,
        "pause_reason": state.pause_reason or "",
        "queues": [q for q in state.queues.split(",") if q],
        "current_linkedid": state.current_linkedid or "",
    }


def state_from_event(event: dict[str, Any]) -> dict[str, Any]:
    """The console's state from a listener ``member_state`` message (no database read)."""
    paused = bool(event.get("paused"))
    queues = event.get("queues")
    return {
        "interface": str(event.get("interface") or ""),
        "status": str(event.get("status") or AgentStatus.OFFLINE.value),
        "pause_reason": str(event.get("reason") or "") if paused else "",
        "queues": [str(q) for q in queues] if isinstance(queues, list) else [],
        "current_linkedid": str(event.get("linkedid") or ""),
    }


def sit_at(session: Session, user: User, interface: str) -> AgentState:
    """The agent says which phone they sit at; refused while another signed-in agent
    holds that interface (two consoles would pop for one phone)."""
    interface = validate_interface(interface)
    holder = session.scalar(
        select(AgentState).where(AgentState.interface == interface, AgentState.user_id != user.id)
    )
    if holder is not None and holder.status is not AgentStatus.OFFLINE:
        raise ConsoleError(f"{interface} is in use by another agent")
    if holder is not None:
        holder.interface = None
    state = state_for(session, user)
    if state.interface != interface:
        state.interface = interface
        state.current_linkedid = None
    if state.status is AgentStatus.OFFLINE:
        # Sitting down does not add anyone to a queue: the agent chooses "ready".
        state.status = AgentStatus.PAUSED
        state.pause_reason = "未就绪"
    return state


def leave(session: Session, user_id: int) -> AgentState | None:
    """Sign-out: the agent is offline and the interface is free for someone else."""
    state = session.get(AgentState, user_id)
    if state is not None:
        state.status = AgentStatus.OFFLINE
        state.pause_reason = None
        state.current_linkedid = None
    return state


def new_request_id(user_id: int) -> str:
    # The user id prefix lets the console stream recognise answers to its own requests.
    return f"u{user_id}-{uuid.uuid4().hex[:12]}"


def action_request(state: AgentState, action: str, *, reason: str = "", queue: str = "") -> dict[str, Any]:
    """The ``ami.action`` message for a console button (ready, pause, join/leave a queue)."""
    if not state.interface:
        raise ConsoleError("choose the phone interface you sit at first")
    base = {"interface": state.interface, "request_id": new_request_id(state.user_id),
            "user_id": state.user_id}
    # queue None = every queue the member is in (a pause covers the whole desk).
    if action == "ready":
        # Also ends wrap-up: Asterisk answers with QueueMemberPause Paused: 0.
        return {"action": "QueuePause", "paused": False, "reason": None, "queue": queue or None, **base}
    if action == "pause":
        return {"action": "QueuePause", "paused": True, "reason": validate_reason(reason),
                "queue": queue or None, **base}
    if action in ("join", "leave"):
        if not queue or not QUEUE_RE.match(queue):
            raise ConsoleError("name the queue to join or leave")
        if action == "leave":
            return {"action": "QueueRemove", "queue": queue, **base}
        return {"action": "QueueAdd", "queue": queue, "paused": False, **base}
    raise ConsoleError(f"unknown console action {action!r}")


def concerns(event: dict[str, Any], *, user_id: int, interface: str | None) -> bool:
    """Is this ``agent`` event about this agent's phone or an answer to their request?"""
    if interface and event.get("interface") == interface:
        return True
    if event.get("user_id") == user_id:
        return True
    request_id = str(event.get("request_id") or "")
    return request_id.startswith(f"u{user_id}-")


# --- supervisor and QA read models -----------------------------------------------------
def local_day_bounds(settings: Settings, now: dt.datetime | None = None) -> tuple[dt.datetime, dt.datetime]:
    """Today in the site's time zone, as naive UTC [start, end)."""
    today = period_for("day", to_local(now or utcnow(), settings.timezone).date(), settings.timezone)
    return today.start, today.end


def queue_overview(session: Session, settings: Settings, now: dt.datetime | None = None) -> dict[str, Any]:
    """Per queue: calls waiting and ringing now, answered and abandoned today; agents."""
    start, end = local_day_bounds(settings, now)
    counts: dict[str, dict[str, int]] = {}
    for name in session.scalars(select(Queue.name).order_by(Queue.name)):
        counts[name] = {"waiting": 0, "ringing": 0, "answered": 0, "abandoned": 0, "total": 0}
    rows = session.execute(
        select(Call.queue, Call.status, func.count()).where(Call.started_at >= start, Call.started_at < end)
        .group_by(Call.queue, Call.status)
    ).all()
    for queue, status, n in rows:
        if not queue:
            continue
        bucket = counts.setdefault(queue, {"waiting": 0, "ringing": 0, "answered": 0, "abandoned": 0, "total": 0})
        bucket["total"] += n
        if status is CallStatus.QUEUED:
            bucket["waiting"] += n
        elif status is CallStatus.RINGING:
            bucket["ringing"] += n
        elif status in (CallStatus.ANSWERED, CallStatus.COMPLETED):
            bucket["answered"] += n
        elif status is CallStatus.ABANDONED:
            bucket["abandoned"] += n
    agents = session.execute(
        select(User, AgentState).join(AgentState, AgentState.user_id == User.id, isouter=True)
        .where(User.active.is_(True), User.role.in_((Role.AGENT, Role.SUPERVISOR)))
        .order_by(User.username)
    ).all()
    return {
        "queues": [{"name": name, **c} for name, c in sorted(counts.items())],
        "agents": [
            {"user_id": user.id, "username": user.username, "display_name": user.display_name,
             **state_dict(state, None)}
            for user, state in agents
        ],
    }


def recorded_calls(session: Session, settings: Settings, now: dt.datetime | None = None,
                   limit: int = 500) -> list[Call]:
    """Today's calls that have a recording (the QA inspector's list)."""
    start, end = local_day_bounds(settings, now)
    return list(session.scalars(
        select(Call).where(Call.started_at >= start, Call.started_at < end, Call.recording_file != "")
        .order_by(Call.started_at.desc()).limit(limit)
    ))


# --- what the agent console reads ---------------------------------------------------------
def agent_state(session: Session, user_id: int) -> AgentState | None:
    """The agent's stored console state (None before they first sat at a phone)."""
    return session.get(AgentState, user_id)


def queue_names(session: Session) -> list[str]:
    """Every configured queue, by name (the console's join/leave choices)."""
    return list(session.scalars(select(Queue.name).order_by(Queue.name)))
