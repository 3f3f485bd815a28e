"""The agent console: choose the phone, go ready / pause / back from wrap-up, and the
event stream that pushes the screen-pop.

The stream subscribes to the bus and keeps only what concerns this agent's interface
(or answers to this agent's own requests). An ``agent_called`` becomes a ``pop`` event
built from the database by ``services.calls.screenpop``; a second AgentCalled for the
same call (a re-ring, a transfer back) sends ``ring`` instead of a second pop. A pop is
known by one key from route_call to the browser: the call's pop key (``CC_POP_KEY``,
``calls.screen_pop_key``), which the listener's events carry.
"""

from __future__ import annotations

import collections
import logging
import time
from collections.abc import Iterator
from typing import Any

from flask import Blueprint, jsonify, render_template, request
from flask_login import current_user

from callcenter.bus.core import BusUnavailable, Event
from callcenter.services.calls import screenpop
from callcenter.services.calls.popbatch import PopRequest
from callcenter.services.people import console, users
from callcenter.web import sse
from callcenter.web.auth import session_deadline
from callcenter.web.context import Panel, panel, unit_of_work
from callcenter.web.login import session_version
from callcenter.web.roles import CALL_HANDLERS, roles_required

log = logging.getLogger(__name__)

bp = Blueprint("agent", __name__)

# Pops remembered per stream so a re-ring of the same call does not pop twice.
POPPED_MEMORY = 64
# The AMI listener's first sight of an AgentCalled (before it is recorded): pops early.
RING_TOPIC = "agent.ring"
# Call events the console marks on the pop (as the AMI listener names them).
CALL_EVENTS = ("agent_connect", "agent_complete", "ring_no_answer", "caller_abandon")


def _input() -> dict[str, Any]:
    data = request.get_json(silent=True)
    return data if isinstance(data, dict) else request.form.to_dict()


@bp.route("/agent/", endpoint="console")
@roles_required(*CALL_HANDLERS)
def console_page():
    with unit_of_work() as s:
        state = console.agent_state(s, current_user.id)
        queues = console.queue_names(s)
        state_json = console.state_dict(state, current_user.default_interface)
    return render_template("agent/console.html", state=state_json, queues=queues,
                           pause_reasons=console.PAUSE_REASONS, wrapup_s=int(panel().settings.ami_wrapup_s))


@bp.route("/api/agent/state", methods=["GET"])
@roles_required(*CALL_HANDLERS)
def state():
    with unit_of_work() as s:
        return jsonify(console.state_dict(console.agent_state(s, current_user.id), current_user.default_interface))


@bp.route("/api/agent/interface", methods=["POST"])
@roles_required(*CALL_HANDLERS)
def set_interface():
    interface = str(_input().get("interface", ""))
    try:
        with unit_of_work() as s:
            user = users.get_user(s, current_user.id)
            state_json = console.state_dict(console.sit_at(s, user, interface))
    except console.ConsoleError as exc:
        return jsonify(error=str(exc)), 409 if "in use" in str(exc) else 400
    return jsonify(state_json)


@bp.route("/api/agent/action", methods=["POST"])
@roles_required(*CALL_HANDLERS)
def action():
    """Ready / pause (with a reason) / join or leave a queue: published for the AMI
    owner; the outcome comes back on the event stream (action_result, member_state)."""
    data = _input()
    try:
        with unit_of_work() as s:
            user = users.get_user(s, current_user.id)
            message = console.action_request(console.state_for(s, user), str(data.get("action", "")),
                                             reason=str(data.get("reason", "")), queue=str(data.get("queue", "")))
    except console.ConsoleError as exc:
        return jsonify(error=str(exc)), 400
    try:
        panel().bus.publish("ami.action", message)
    except BusUnavailable as exc:
        log.error("console action not sent: %s", exc)
        return jsonify(error="事件总线不可用 (event bus unavailable)"), 503
    return jsonify(request_id=message["request_id"], action=message["action"]), 202


@bp.route("/api/agent/events")
@sse.event_stream
@roles_required(*CALL_HANDLERS)
def events():
    p = panel()
    token = p.streams.acquire(current_user.id, "agent")
    if token is None:
        return jsonify(error="too many open consoles on this server; retrying"), 503, {"Retry-After": "5"}
    with unit_of_work() as s:
        state = console.agent_state(s, current_user.id)
        interface = state.interface if state is not None else None
        state_json = console.state_dict(state, current_user.default_interface)
    subscription = p.bus.subscribe("agent", "notify", RING_TOPIC, accept=mine(current_user.id, interface))
    stream = AgentStream(p, user_id=current_user.id, role=current_user.role, interface=interface,
                         deadline=session_deadline(), session_version=session_version())
    return sse.stream_response(p, subscription=subscription, token=token,
                               opening=stream.opening(state_json, request.headers.get("Last-Event-ID")),
                               handle=stream.handle, still_valid=stream.still_valid)


def mine(user_id: int, interface: str | None):
    """The bus filter of one console: its phone's events, answers to its requests, its
    notifications. Evaluated in the publishing thread, so other agents' calls never wake
    this stream's thread."""
    def accept(topic: str, payload: dict[str, Any]) -> bool:
        if topic == "notify":
            return payload.get("user_id") == user_id
        return console.concerns(payload, user_id=user_id, interface=interface)
    return accept


def pop_key(payload: dict[str, Any]) -> str:
    """The pop a call event belongs to: the key route_call gave the call (carried by the
    listener's events), or the linkedid for a call nobody recorded."""
    return str(payload.get("pop_key") or payload.get("linkedid") or "")


class AgentStream:
    """What one agent's console receives."""

    def __init__(self, p: Panel, *, user_id: int, role: str, interface: str | None, deadline: float,
                 session_version: int | None = None) -> None:
        self.p = p
        self.session_version = session_version
        self.user_id = user_id
        self.role = role
        self.interface = interface
        self.deadline = deadline
        self.last_seq = 0
        self.popped: collections.OrderedDict[str, None] = collections.OrderedDict()
        # Rings (DestUniqueid) already popped early: their recorded agent_called is not a re-ring.
        self.early: collections.OrderedDict[str, None] = collections.OrderedDict()

    def opening(self, state_json: dict[str, Any], last_event_id: str | None) -> Iterator[str]:
        yield sse.format_event(state_json, event="state")
        previous = sse.parse_event_id(last_event_id)
        missed = None
        if previous is not None:
            missed = self.p.bus.replay(("agent", "notify"), previous[0], previous[1])
        if missed:
            for event in missed:
                yield from self.handle(event)
        if missed is None or not any(e.payload.get("type") == "agent_called" for e in missed):
            # A fresh console, or one whose gap we cannot replay: ask the database
            # whether a call is ringing or connected at this phone right now.
            yield from self._recover_current_call()

    def _recover_current_call(self) -> Iterator[str]:
        if not self.interface:
            return
        with self.p.unit_of_work() as s:
            current = screenpop.active_call_for_interface(s, self.interface)
        if current is not None:
            yield from self._pop(current, event_id=None)

    def still_valid(self) -> bool:
        if time.time() > self.deadline:
            return False
        with self.p.unit_of_work() as s:
            return users.is_active(s, self.user_id, self.session_version)

    def handle(self, event: Event) -> Iterator[str]:
        if event.seq and event.seq <= self.last_seq:
            return  # already sent from the replay
        self.last_seq = max(self.last_seq, event.seq)
        eid = sse.event_id(self.p.bus.epoch, event.seq) if event.seq else None
        payload = event.payload
        if event.topic == "notify":
            if payload.get("user_id") == self.user_id:
                yield sse.format_event({"message": str(payload.get("message", ""))}, event="notify", id=eid)
            return
        if not console.concerns(payload, user_id=self.user_id, interface=self.interface):
            return
        kind = payload.get("type")
        if event.topic == RING_TOPIC:
            yield from self._early_pop(payload)
            return
        if kind == "agent_called":
            if payload.get("dest_uniqueid") and payload["dest_uniqueid"] in self.early:
                self.early.pop(payload["dest_uniqueid"])   # already popped when the phone began to ring
                return
            yield from self._pop(payload, event_id=eid)
        elif kind == "action_result":
            ok = payload.get("ok", payload.get("success"))
            answer = {"request_id": payload.get("request_id"), "action": payload.get("action"),
                      "ok": bool(ok), "message": str(payload.get("message") or "")}
            if payload.get("op"):       # a call control: which one, on which pop
                answer.update(op=payload.get("op"), pop_key=str(payload.get("pop_key") or ""),
                              target=str(payload.get("target") or ""))
            yield sse.format_event(answer, event="action", id=eid)
        elif kind in CALL_EVENTS:
            yield sse.format_event({"type": kind, "pop_key": pop_key(payload),
                                    "linkedid": str(payload.get("linkedid", ""))}, event="call", id=eid)
        elif kind == "member_state" and payload.get("status"):
            # The listener's member_state carries the state it has just committed.
            yield sse.format_event(console.state_from_event(payload), event="state")

    def _early_pop(self, payload: dict[str, Any]) -> Iterator[str]:
        """The pop from the AMI listener's first sight of AgentCalled, before the ring is
        recorded: the pop reads the calls row route_call wrote long before, not the ring.
        A call without such a row waits for the recorded ``agent_called``."""
        dest = str(payload.get("dest_uniqueid") or "")
        linkedid = str(payload.get("linkedid") or "")
        if not dest or not linkedid:
            return
        try:
            pop = self.p.pops.build(self.p, PopRequest(
                linkedid=linkedid, interface=str(payload.get("interface") or ""),
                queue=str(payload.get("queue") or "")), self.role)
        except Exception:
            log.exception("early screen-pop for %s failed", linkedid)
            return
        if pop.get("call_id") is None:
            return
        self.early[dest] = None
        while len(self.early) > POPPED_MEMORY:
            self.early.popitem(last=False)
        key = str(pop["pop_key"])
        if key in self.popped:
            self.popped.move_to_end(key)
            yield sse.format_event({"pop_key": key, "linkedid": linkedid}, event="ring")
            return
        self.popped[key] = None
        while len(self.popped) > POPPED_MEMORY:
            self.popped.popitem(last=False)
        pop["transfer_from"] = ""
        try:
            yield sse.format_event(pop, event="pop")
        finally:
            self._audit(pop)

    def _pop(self, payload: dict[str, Any], event_id: str | None) -> Iterator[str]:
        linkedid = str(payload.get("linkedid") or "")
        key = pop_key(payload)
        if not key:
            return
        if key in self.popped:
            self.popped.move_to_end(key)
            yield sse.format_event({"pop_key": key, "linkedid": linkedid}, event="ring", id=event_id)
            return
        self.popped[key] = None
        while len(self.popped) > POPPED_MEMORY:
            self.popped.popitem(last=False)
        call_id = payload.get("call_id")
        try:
            pop = self.p.pops.build(self.p, PopRequest(
                linkedid=linkedid, call_id=call_id if isinstance(call_id, int) else None,
                caller_number=str(payload.get("caller_number") or ""),
                caller_name=str(payload.get("caller_name") or ""),
                interface=str(payload.get("interface") or ""), queue=str(payload.get("queue") or "")), self.role)
            pop["pop_key"] = key             # the key the browser and later events use
            pop["transfer_from"] = str(payload.get("transfer_from") or "")
        except Exception:  # the phone rings anyway: show at least the caller ID
            log.exception("screen-pop for %s failed; sending the caller ID only", linkedid)
            pop = {"pop_key": key, "linkedid": linkedid, "degraded": True,
                   "caller": {"number": "", "name": str(payload.get("caller_name") or "")},
                   "customer": None, "new_customer": None, "open_tickets": [], "last_calls": [],
                   "last_tickets": [], "other_customers": [], "line": {}, "ivr": {}}
        try:
            yield sse.format_event(pop, event="pop", id=event_id)
        finally:
            # Audited right after it went out (the agent does not wait for a database
            # write), and also when the stream is closed at that very moment.
            self._audit(pop)

    def _audit(self, pop: dict[str, Any]) -> None:
        # Written by the pop builder with the other pops of the moment (logged loudly
        # there if it cannot be written).
        self.p.pops.audit(self.p, self.user_id, pop)
