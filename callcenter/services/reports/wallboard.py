"""The wallboard: what is happening now, per queue and per agent, with today's figures so
far (from ``kpis``, so the wallboard and the reports never disagree) and a level per
number (ok / amber / red) from the thresholds in the settings."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from callcenter.config import Settings
from callcenter.db import utcnow
from callcenter.models import (
    AgentState,
    AgentStatus,
    Call,
    CallbackStatus,
    CallbackTask,
    CallStatus,
    Queue,
    Role,
    Ticket,
    TicketStatus,
    User,
)
from callcenter.services.people.console import local_day_bounds
from callcenter.services.reports import kpis
from callcenter.services.surveys.report import callback_list

# The console's words for an agent's state (web/static/js/common.js says the same).
STATE_WORDS = {
    AgentStatus.OFFLINE: "离线", AgentStatus.READY: "就绪", AgentStatus.PAUSED: "暂停", AgentStatus.RINGING: "振铃",
    AgentStatus.ON_CALL: "通话中", AgentStatus.WRAP_UP: "整理",
}
# A caller still "waiting" for longer than this is a row the listener lost: not shown.
STALE_WAIT = dt.timedelta(hours=6)


def level_high_is_bad(value: float | None, amber: float, red: float) -> str:
    if value is None:
        return "ok"
    return "red" if value >= red else "amber" if value >= amber else "ok"


def level_low_is_bad(value: float | None, amber: float, red: float) -> str:
    if value is None:
        return "ok"
    return "red" if value < red else "amber" if value < amber else "ok"


def _live_queues(session: Session, now: dt.datetime) -> dict[str, dict[str, Any]]:
    """Callers waiting (in the queue, no agent yet) and ringing, and the longest wait now."""
    rows = session.execute(
        select(Call.queue, Call.status, func.count(), func.min(func.coalesce(Call.queued_at, Call.started_at)))
        .where(Call.status.in_((CallStatus.QUEUED, CallStatus.RINGING)), Call.ended_at.is_(None),
               Call.started_at >= now - STALE_WAIT)
        .group_by(Call.queue, Call.status)
    ).all()
    live: dict[str, dict[str, Any]] = {}
    for queue, status, n, oldest in rows:
        entry = live.setdefault(queue, {"waiting": 0, "ringing": 0, "oldest": None})
        entry["waiting" if status is CallStatus.QUEUED else "ringing"] += n
        if oldest is not None and (entry["oldest"] is None or oldest < entry["oldest"]):
            entry["oldest"] = oldest
    return live


def _queues(session: Session, settings: Settings, now: dt.datetime,
            today: dict[str, kpis.KpiRow]) -> list[dict[str, Any]]:
    live = _live_queues(session, now)
    names = list(session.scalars(select(Queue.name).order_by(Queue.name)))
    names += sorted(n for n in set(today) | set(live) if n and n not in names)
    out = []
    for name in names:
        row = today.get(name) or kpis.KpiRow(key=name, label=name)
        now_entry = live.get(name, {"waiting": 0, "ringing": 0, "oldest": None})
        longest = int((now - now_entry["oldest"]).total_seconds()) if now_entry["oldest"] else 0
        out.append({
            "name": name, "waiting": now_entry["waiting"], "ringing": now_entry["ringing"],
            "longest_wait_s": longest,
            "longest_wait_level": level_high_is_bad(longest, settings.wallboard_wait_amber_s,
                                                    settings.wallboard_wait_red_s),
            "waiting_level": level_high_is_bad(now_entry["waiting"], settings.wallboard_waiting_amber,
                                               settings.wallboard_waiting_red),
            "offered": row.offered, "answered": row.answered, "abandoned": row.abandoned,
            "service_level": row.service_level,
            "service_level_level": level_low_is_bad(row.service_level, settings.wallboard_sl_amber,
                                                    settings.wallboard_sl_red),
        })
    return out


def _agents(session: Session, now: dt.datetime) -> list[dict[str, Any]]:
    rows = session.execute(
        select(User, AgentState).join(AgentState, AgentState.user_id == User.id, isouter=True)
        .where(User.active.is_(True), User.role.in_((Role.AGENT, Role.SUPERVISOR)))
        .order_by(User.username)
    ).all()
    agents = []
    for user, state in rows:
        status = state.status if state is not None else AgentStatus.OFFLINE
        since = state.updated_at if state is not None else None
        agents.append({
            "user_id": user.id, "username": user.username, "name": user.display_name or user.username,
            "interface": (state.interface if state is not None else None) or user.default_interface or "",
            "status": status.value, "state": STATE_WORDS[status],
            "pause_reason": (state.pause_reason or "") if state is not None and status is AgentStatus.PAUSED else "",
            "in_state_s": int((now - since).total_seconds()) if since else None,
            "linkedid": (state.current_linkedid or "") if state is not None else "",
        })
    return agents


def _waiting_callers(session: Session, settings: Settings, now: dt.datetime) -> list[dict[str, Any]]:
    """Every caller waiting in a queue now, longest first (what a supervisor's hand acts on)."""
    calls = session.scalars(
        select(Call).where(Call.status == CallStatus.QUEUED, Call.ended_at.is_(None),
                           Call.started_at >= now - STALE_WAIT)
        .order_by(func.coalesce(Call.queued_at, Call.started_at)).limit(200)
    )
    out = []
    for call in calls:
        since = call.queued_at or call.started_at
        waited = int((now - since).total_seconds())
        out.append({
            "call_id": call.id, "queue": call.queue, "caller_number": call.caller_number,
            "caller_name": call.caller_name, "waited_s": waited,
            "vip": call.priority >= settings.priority_vip, "priority": max(call.priority, call.aged_priority or 0),
            "raised": call.aged_priority is not None,
            "level": level_high_is_bad(waited, settings.wallboard_wait_amber_s, settings.wallboard_wait_red_s),
        })
    return out


def snapshot(session: Session, settings: Settings, now: dt.datetime | None = None) -> dict[str, Any]:
    now = now or utcnow()
    start, end = local_day_bounds(settings, now)
    rules = kpis.KpiRules.from_settings(settings)
    per_queue = kpis.breakdown(session, start, end, rules, "queue")
    queues = _queues(session, settings, now, {row.key: row for row in per_queue})
    agents = _agents(session, now)
    by_state: dict[str, int] = {word: 0 for word in STATE_WORDS.values()}
    for agent in agents:
        by_state[agent["state"]] += 1
    # Every call of the day is in one queue row (a call without a queue too): the day's
    # total is their sum, not a second scan.
    total = kpis.KpiRow(key=None, label="合计")
    for row in per_queue:
        total.add(row)
    overdue = session.scalar(select(func.count()).select_from(Ticket).where(
        Ticket.status != TicketStatus.CLOSED, Ticket.due_at.is_not(None), Ticket.due_at < now)) or 0
    callbacks_due = session.scalar(select(func.count()).select_from(CallbackTask).where(
        CallbackTask.status == CallbackStatus.OPEN, CallbackTask.due_at.is_not(None),
        CallbackTask.due_at <= now)) or 0
    return {
        "at": now.isoformat() + "Z",
        "queues": queues,
        "agents": agents,
        "waiting_callers": _waiting_callers(session, settings, now),
        "raise_priority": settings.priority_raised,
        "agents_by_state": list(by_state.items()),      # a list: JSON would sort an object's keys
        "today": {
            "offered": total.offered, "answered": total.answered, "abandoned": total.abandoned,
            "service_level": total.service_level,
            "service_level_level": level_low_is_bad(total.service_level, settings.wallboard_sl_amber,
                                                    settings.wallboard_sl_red),
            "service_level_s": settings.kpi_service_level_s,
        },
        "overdue_tickets": overdue,
        "overdue_level": "red" if overdue else "ok",
        "callbacks_due": callbacks_due,
        "callbacks_level": level_high_is_bad(callbacks_due, 1, settings.wallboard_callbacks_red),
        # 回访 the scheduler could not complete, left to people (the survey callback list).
        "survey_callbacks": len(callback_list(session)),
    }
