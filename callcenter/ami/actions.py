"""Panel requests (bus topic ``ami.action``) executed on the listener's AMI connection.

A web worker never logs in to AMI itself; it publishes a request such as::

    {"action": "QueuePause", "interface": "PJSIP/agent1001", "paused": true,
     "reason": "午休", "queue": null, "request_id": "r-42"}
    {"action": "QueueAdd", "queue": "vip", "interface": "PJSIP/agent1001",
     "member_name": "张三", "penalty": 0, "paused": false, "request_id": "r-43"}
    {"action": "QueueRemove", "queue": "vip", "interface": "PJSIP/agent1001", "request_id": "r-44"}
    {"action": "Originate", "interface": "PJSIP/agent1001", "number": "13800138000", ...}
      (click-to-dial of a callback task: :mod:`callcenter.ami.click_to_dial`)
    {"action": "Spy", "interface": "PJSIP/agent1003", "target": "PJSIP/agent1001", "mode": "listen"}
      (a supervisor listens, whispers or barges: :mod:`callcenter.ami.supervision`)
    {"action": "CallerPriority" | "CallerMove", ...}
      (a supervisor's hand on a waiting caller: :mod:`callcenter.ami.queue_hand`)

and gets, on topic ``agent``::

    {"type": "action_result", "request_id": "r-42", "action": "QueuePause",
     "interface": "PJSIP/agent1001", "queue": "", "linkedid": "", "ok": true,
     "message": "Interface paused successfully"}

``ok`` is false with Asterisk's own message on an AMI error ("Interface not found",
"Unable to add interface: Already there"), with ``invalid request: ...`` when the request
is malformed, and with ``AMI not connected`` / ``AMI connection lost`` when Asterisk
cannot be reached (the request is not kept for later: a pause that arrives an hour late
is worse than a clear error). ``queue: null`` in QueuePause pauses the agent in every
queue. The state change itself arrives as ``member_state`` from the resulting
QueueMemberPause/Added/Removed event. A ``user_id`` in the request is echoed back.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from callcenter.ami import call_controls, click_to_dial, queue_hand, supervision
from callcenter.ami.client import ActionResult, AMIClient, AMIConnectionError, AMIError

ACTIONS = ("QueuePause", "QueueAdd", "QueueRemove", "CallControl", "Originate", "Spy", "CallerPriority",
           "CallerMove")
_INTERFACE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*/[^\s,|&]+$")
_QUEUE = re.compile(r"^[^\s,|&/]+$")
# app_queue keeps the pause reason and member name in 80-byte buffers and cuts longer
# ones mid-character; refuse them instead.
MAX_TEXT_BYTES = 79


class InvalidRequest(ValueError):
    pass


@dataclass(frozen=True)
class PanelAction:
    action: str
    interface: str
    queue: str | None = None
    paused: bool | None = None
    reason: str | None = None
    member_name: str | None = None
    penalty: int | None = None


def _text(value: Any, what: str) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise InvalidRequest(f"{what} must be text")
    if "\r" in value or "\n" in value:
        raise InvalidRequest(f"{what} must be one line")
    if len(value.encode("utf-8")) > MAX_TEXT_BYTES:
        raise InvalidRequest(f"{what} is longer than {MAX_TEXT_BYTES} bytes (Asterisk would cut it)")
    return value


def parse_request(request: Any) -> (PanelAction | click_to_dial.CallbackDial | supervision.Spy
                                    | queue_hand.CallerPriority | queue_hand.CallerMove):
    if not isinstance(request, dict):
        raise InvalidRequest("request must be an object")
    action = request.get("action")
    if action not in ACTIONS or action == "CallControl":
        raise InvalidRequest(f"action must be one of {', '.join(ACTIONS)}")
    if action in ("CallerPriority", "CallerMove"):  # a supervisor's hand on a waiting caller (no phone)
        try:
            return queue_hand.parse(request)
        except queue_hand.InvalidHand as exc:
            raise InvalidRequest(str(exc)) from exc
    interface = request.get("interface")
    if not isinstance(interface, str) or len(interface) > 80 or not _INTERFACE.match(interface):
        raise InvalidRequest("interface must look like PJSIP/agent1001")
    if action == "Spy":  # a supervisor listens, whispers or barges in
        try:
            return supervision.parse(request, interface)
        except supervision.InvalidSpy as exc:
            raise InvalidRequest(str(exc)) from exc
    if action == "Originate":  # click-to-dial of a callback task (回电)
        try:
            return click_to_dial.parse(request, interface)
        except click_to_dial.InvalidDial as exc:
            raise InvalidRequest(str(exc)) from exc
    queue = request.get("queue")
    if queue is not None and (not isinstance(queue, str) or len(queue) > 64 or not _QUEUE.match(queue)):
        raise InvalidRequest("queue must be a queue name")
    if action in ("QueueAdd", "QueueRemove") and not queue:
        raise InvalidRequest(f"{action} needs a queue")
    paused = request.get("paused")
    if action == "QueuePause" and not isinstance(paused, bool):
        raise InvalidRequest("QueuePause needs paused: true or false")
    if paused is not None and not isinstance(paused, bool):
        raise InvalidRequest("paused must be true or false")
    penalty = request.get("penalty")
    if penalty is not None and (not isinstance(penalty, int) or isinstance(penalty, bool) or penalty < 0):
        raise InvalidRequest("penalty must be a whole number >= 0")
    return PanelAction(action=action, interface=interface, queue=queue or None, paused=paused,
                       reason=_text(request.get("reason"), "reason"),
                       member_name=_text(request.get("member_name"), "member_name"), penalty=penalty)


async def run_action(client: AMIClient, action: PanelAction) -> ActionResult:
    if action.action == "QueuePause":
        return await client.queue_pause(action.interface, bool(action.paused),
                                        reason=action.reason if action.paused else None, queue=action.queue)
    if action.action == "QueueAdd":
        assert action.queue is not None
        return await client.queue_add(action.queue, action.interface, member_name=action.member_name,
                                      penalty=action.penalty, paused=action.paused,
                                      reason=action.reason if action.paused else None)
    assert action.queue is not None
    return await client.queue_remove(action.queue, action.interface)


async def execute(client: AMIClient, request: Any, *, connect_wait_s: float = 5.0) -> dict[str, Any]:
    """Run one panel request; always returns the ``action_result`` payload."""
    base: dict[str, Any] = {"type": "action_result", "linkedid": ""}
    if isinstance(request, dict):
        base.update(request_id=request.get("request_id"), action=request.get("action"),
                    interface=request.get("interface") or "", queue=request.get("queue") or "")
        if "user_id" in request:
            base["user_id"] = request["user_id"]
        if request.get("action") == "CallControl":
            return await call_controls.execute(client, request, base, connect_wait_s=connect_wait_s)
        for key in ("task_id", "attempt_id"):  # click-to-dial: the task and attempt it was for
            if key in request:
                base[key] = request[key]
    try:
        action = parse_request(request)
    except InvalidRequest as exc:
        return {**base, "ok": False, "message": f"invalid request: {exc}"}
    if not await client.wait_connected(connect_wait_s):
        return {**base, "ok": False, "message": "AMI not connected"}
    try:
        if isinstance(action, click_to_dial.CallbackDial):
            return {**base, **await click_to_dial.run(client, action)}
        if isinstance(action, supervision.Spy):
            return {**base, **await supervision.run(client, action)}
        if isinstance(action, queue_hand.CallerPriority | queue_hand.CallerMove):
            return {**base, **await queue_hand.run(client, action)}
        result = await run_action(client, action)
    except AMIConnectionError as exc:
        return {**base, "ok": False, "message": f"AMI connection lost; outcome unknown ({exc})"}
    except AMIError as exc:
        return {**base, "ok": False, "message": str(exc)}
    return {**base, "ok": result.success, "message": result.message or result.response.response}
