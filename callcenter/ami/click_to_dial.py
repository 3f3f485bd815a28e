"""Click-to-dial for callbacks (回电): the panel's ``Originate`` request, run on the
listener's AMI connection like every other panel request (:mod:`callcenter.ami.actions`).

The web publishes (``services.calls.callbacks.start_dial``)::

    {"action": "Originate", "interface": "PJSIP/agent1001", "number": "13800138000",
     "context": "cc-callback", "ring_s": 30, "task_id": 7, "attempt_id": 12,
     "recording": "callbacks/2026/12/07/cb7-12.wav", "request_id": "u3-…", "user_id": 3}

Asterisk rings the agent's phone first (Channel = the interface, showing the customer's
number); when the agent answers, the channel runs ``context``/``number``, which records
to ``recording`` and dials the customer (asterisk_conf/extensions.conf [cc-callback]).
The ``action_result`` answers once the agent's phone answered (ok) or did not; it
carries ``task_id``, ``attempt_id`` and the channel's ``uniqueid``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from callcenter.ami.client import AMIClient

# Variables the dialplan context reads (tests/conf checks extensions.conf uses them).
TASK_VARIABLE = "CC_CALLBACK_TASK"
ATTEMPT_VARIABLE = "CC_CALLBACK_ATTEMPT"
RECORDING_VARIABLE = "CC_CALLBACK_RECORDING"

_NUMBER = re.compile(r"^[0-9]{3,20}$")
_CONTEXT = re.compile(r"^[A-Za-z0-9_-]{1,40}$")
_RECORDING = re.compile(r"^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*/[A-Za-z0-9_.-]+\.wav$")
# Why Asterisk's OriginateResponse failed (Reason), in the words the agent reads.
_REASONS = {0: "话机不可用或忙", 1: "话机挂断", 3: "话机无人接听", 5: "话机忙", 8: "线路拥塞"}


class InvalidDial(ValueError):
    pass


@dataclass(frozen=True)
class CallbackDial:
    interface: str
    number: str
    context: str
    ring_s: int
    task_id: int
    attempt_id: int
    recording: str


def _positive_int(value: Any, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise InvalidDial(f"{what} must be a positive whole number")
    return value


def parse(request: dict[str, Any], interface: str) -> CallbackDial:
    """Check every field that reaches the AMI socket (``interface`` is checked by the caller)."""
    number = request.get("number")
    if not isinstance(number, str) or not _NUMBER.match(number):
        raise InvalidDial("number must be 3 to 20 digits")
    context = request.get("context") or "cc-callback"
    if not isinstance(context, str) or not _CONTEXT.match(context):
        raise InvalidDial("context must be a dialplan context name")
    recording = request.get("recording")
    if not isinstance(recording, str) or ".." in recording or not _RECORDING.match(recording):
        raise InvalidDial("recording must be a relative .wav path")
    ring_s = request.get("ring_s", 30)
    if not isinstance(ring_s, int) or isinstance(ring_s, bool) or not 5 <= ring_s <= 120:
        raise InvalidDial("ring_s must be between 5 and 120")
    return CallbackDial(interface=interface, number=number, context=context, ring_s=ring_s,
                        task_id=_positive_int(request.get("task_id"), "task_id"),
                        attempt_id=_positive_int(request.get("attempt_id"), "attempt_id"),
                        recording=recording)


async def run(client: AMIClient, dial: CallbackDial) -> dict[str, Any]:
    """Originate; the fields the ``action_result`` adds (ok, message, uniqueid …)."""
    result = await client.originate(
        dial.interface, context=dial.context, exten=dial.number, priority=1, timeout_ms=dial.ring_s * 1000,
        caller_id=f'"回电" <{dial.number}>',
        variables={TASK_VARIABLE: str(dial.task_id), ATTEMPT_VARIABLE: str(dial.attempt_id),
                   RECORDING_VARIABLE: dial.recording})
    fields = {"task_id": dial.task_id, "attempt_id": dial.attempt_id, "uniqueid": result.uniqueid,
              "ok": result.success}
    if result.success:
        return {**fields, "message": f"回电：您的话机已接听，正在呼叫客户 {dial.number}"}
    if result.event is None:
        return {**fields, "message": f"回电失败：{result.accepted.message or 'Originate refused'}"}
    why = _REASONS.get(result.reason if result.reason is not None else -1, f"Reason {result.reason}")
    return {**fields, "message": f"回电失败：{why} ({dial.interface})"}
