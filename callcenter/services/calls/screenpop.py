"""The screen-pop: everything an agent needs on screen while the phone rings.

``build_pop`` turns an AMI AgentCalled fact (linkedid, caller ID, interface) into one
JSON-serialisable dict read from the database: the caller, the customer record (tier,
address as building-unit-room), the line dialled, the IVR choices route_call stored on
the calls row, open tickets, and the last calls and tickets with their outcome. An
unknown caller yields ``customer: None`` and a ``new_customer`` prefill instead.

Nothing here renders HTML. Caller names come from the phone network and are
attacker-controlled; the payload carries them as plain strings and the browser puts
them into the page with ``textContent`` only.

Numbers are masked for roles outside ``settings.unmasked_roles``, and every customer
record shown leaves an audit entry in the caller's unit of work.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from callcenter.config import Settings
from callcenter.db import utcnow
from callcenter.labels import CATEGORIES, LINE_KINDS, label
from callcenter.models import AgentState, Call, CallAgentLeg, CallStatus
from callcenter.services.calls import popbatch, popwhy
from callcenter.services.calls.popbatch import PopRequest
from callcenter.services.people import audit, records
from callcenter.services.people.masking import phone_for

# A leg older than this is not "the call ringing now", whatever its row says.
ACTIVE_CALL_WINDOW = dt.timedelta(hours=2)


def call_for_linkedid(session: Session, linkedid: str) -> Call | None:
    """The calls row route_call wrote for this call (the first one for the linkedid)."""
    if not linkedid:
        return None
    return session.scalar(select(Call).options(joinedload(Call.line)).where(Call.linkedid == linkedid)
                          .order_by(Call.id).limit(1))


def build_pop(session: Session, settings: Settings, *, linkedid: str, role: str, call_id: int | None = None,
              user_id: int | None = None, caller_number: str = "", caller_name: str = "",
              interface: str = "", queue: str = "", audit_now: bool = True) -> dict[str, Any]:
    """The pop for one ringing call, as ``role`` may see it.

    ``call_id`` (what the AMI listener publishes) names the calls row; without it the
    row is found by ``linkedid``. The caller's number is the one route_call normalised
    and stored on the row, and the customer the one it found: neither is worked out
    again here, except for a call whose row has no customer (the caller may have been
    registered since, from another pop).

    Audited when it shows a customer: in the same unit of work, or - with
    ``audit_now=False`` - by the caller through ``record_pop_view`` right after the pop
    went out (the console stream does that so the agent does not wait for a write).
    """
    request = PopRequest(linkedid=linkedid, call_id=call_id, caller_number=caller_number, caller_name=caller_name,
                         interface=interface, queue=queue)
    [pop] = build_pops(session, settings, [request], role=role)
    if audit_now:
        record_pop_view(session, user_id, pop)
    return pop


def build_pops(session: Session, settings: Settings, requests: list[PopRequest], *, role: str) -> list[dict[str, Any]]:
    """The pops of many calls ringing at once, in a fixed number of queries (see
    ``popbatch``); not audited (``record_pop_view`` per pop shown)."""
    data = popbatch.preload(session, settings, requests)
    words: dict[tuple[str, tuple[str, ...]], list[str]] = {}   # calls of a burst mostly took the same path
    return [_assemble(settings, data, i, r, role, words) for i, r in enumerate(requests)]


def _ivr_steps(settings: Settings, words: dict[tuple[str, tuple[str, ...]], list[str]], flow: str,
               path: list[str]) -> list[str]:
    key = (flow, tuple(str(p) for p in path))
    if key not in words:
        words[key] = popwhy.ivr_words(settings, flow, path)
    return list(words[key])


def _assemble(settings: Settings, data: popbatch.Preloaded, i: int, r: PopRequest, role: str,
              words: dict[tuple[str, tuple[str, ...]], list[str]]) -> dict[str, Any]:
    call, e164, matches = data.calls[i], data.e164[i], data.matches[i]
    number = r.caller_number or (call.caller_number if call else "")
    name = r.caller_name or (call.caller_name if call else "")
    customer = matches[0] if matches else None
    line = call.line if call else None
    kind_label = label(LINE_KINDS, line.kind, "") if line else ""
    pop: dict[str, Any] = {
        # The pop's one key, from route_call (CC_POP_KEY) through the listener to the
        # browser; a call nobody recorded is known by its linkedid alone.
        "pop_key": (call.screen_pop_key if call else "") or r.linkedid,
        "linkedid": r.linkedid,
        "call_id": call.id if call else None,
        "interface": r.interface,
        "queue": r.queue or (call.queue if call else ""),
        "caller": {"number": phone_for(settings, role, number), "name": name},
        "line": {
            "name": line.name if line else "",
            "number": line.number if line else (call.dialled_number if call else ""),
            "kind": line.kind.value if line else "",
            # Not repeated when the line's own name already says it (普通客户专线).
            "kind_label": "" if line and kind_label in line.name else kind_label,
        },
        "ivr": {
            "path": list(call.ivr_path or []) if call else [],
            "category": call.category if call else "",
            "category_label": label(CATEGORIES, call.category) if call else "",
        },
        "route_reason": call.route_reason if call else "",
        # The IVR path in words, from the line's flow definition (按3 投诉 → …).
        "ivr_steps": _ivr_steps(settings, words, line.ivr_flow if line else "",
                                list(call.ivr_path or []) if call else []),
        "customer": records.customer_view(settings, role, customer) if customer else None,
        # A household landline can belong to several customers: offer the others.
        "other_customers": [{"id": c.id, "name": c.name} for c in matches[1:]],
        "new_customer": None if customer else {"number": phone_for(settings, role, number), "name": ""},
    }
    cid = customer.id if customer else None
    pop["open_tickets"] = [records.ticket_view(settings, t) for t in data.open_tickets.get(cid, [])] if cid else []
    pop["last_tickets"] = [records.ticket_view(settings, t) for t in data.recent_tickets.get(cid, [])] if cid else []
    pop["last_calls"] = [records.call_view(settings, role, c, data.agent_names)
                         for c in popbatch.last_calls(data, customer, e164, r.linkedid)]
    pop["badges"] = popwhy.badges_from(settings, call, customer, earlier=popbatch.earlier_calls(data, e164, call),
                                       complaint=data.complaints.get(cid) if cid else None)
    # An unknown caller's card says whether the number called before (and when).
    pop["seen_before"] = len(pop["last_calls"]) if customer is None else 0
    return pop


def record_pop_view(session: Session, user_id: int | None, pop: dict[str, Any]) -> None:
    """The audit entry for a pop that showed a customer record (保密)."""
    if pop.get("customer"):
        audit.record(session, user_id=user_id, action=audit.SCREEN_POP, object_type="customer",
                     object_id=pop["customer"]["id"], detail=f"linkedid={pop['linkedid']}")


def record_pop_views(session: Session, seen: list[tuple[int | None, dict[str, Any]]]) -> None:
    """``record_pop_view`` for many (user, pop) at once, in one statement."""
    audit.record_many(session, [
        {"user_id": user_id, "action": audit.SCREEN_POP, "object_type": "customer",
         "object_id": pop["customer"]["id"], "detail": f"linkedid={pop['linkedid']}"}
        for user_id, pop in seen if pop.get("customer")])


def active_call_for_interface(session: Session, interface: str) -> dict[str, Any] | None:
    """The call ringing or connected at ``interface`` right now, as an agent_called-like
    fact, so a console that (re)connects shows the pop it may have missed."""
    if not interface:
        return None
    since = utcnow() - ACTIVE_CALL_WINDOW
    row = session.execute(
        select(CallAgentLeg, Call).join(Call, CallAgentLeg.call_id == Call.id)
        .where(CallAgentLeg.interface == interface, CallAgentLeg.called_at >= since,
               CallAgentLeg.outcome.in_(("", "connected")),
               Call.status.in_((CallStatus.QUEUED, CallStatus.RINGING, CallStatus.ANSWERED)))
        .order_by(CallAgentLeg.called_at.desc(), CallAgentLeg.id.desc()).limit(1)
    ).first()
    if row is None:
        state = session.scalar(select(AgentState).where(AgentState.interface == interface))
        if state is None or not state.current_linkedid:
            return None
        call = call_for_linkedid(session, state.current_linkedid)
        if call is None or call.status not in (CallStatus.QUEUED, CallStatus.RINGING, CallStatus.ANSWERED):
            return None
        return {"type": "agent_called", "interface": interface, "linkedid": call.linkedid,
                "call_id": call.id, "pop_key": call.screen_pop_key,
                "uniqueid": call.uniqueid, "queue": call.queue, "caller_number": call.caller_number,
                "caller_name": call.caller_name, "member_name": ""}
    leg, call = row
    return {"type": "agent_called", "interface": interface, "linkedid": call.linkedid,
            "call_id": call.id, "pop_key": call.screen_pop_key,
            "uniqueid": leg.dest_uniqueid, "queue": leg.queue or call.queue,
            "caller_number": call.caller_number, "caller_name": call.caller_name,
            "member_name": leg.member_name}
