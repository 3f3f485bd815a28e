"""Waiting callers moved by the system or by a supervisor, on the listener's AMI connection:

- ``QueueChangePriorityCaller`` raises a waiting caller's priority (queue aging, or a
  supervisor's 提前);
- ``Redirect`` to ``[cc-transfer]`` ``queue-<name>`` moves a waiting caller to another
  queue (a supervisor's 转队列; the call keeps its pop key and is announced there).

Panel requests (bus topic ``ami.action``, published by web/wallboard.py)::

    {"action": "CallerPriority", "interface": "PJSIP/agent1003", "call_id": 7,
     "queue": "general_q", "channel": "PJSIP/trunk-provider-0000001a", "priority": 5, ...}
    {"action": "CallerMove", "interface": "PJSIP/agent1003", "call_id": 7,
     "channel": "PJSIP/trunk-provider-0000001a", "target": "vip", ...}
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from callcenter.ami.call_controls import TRANSFER_CONTEXT
from callcenter.ami.client import ActionResult, AMIClient

_CHANNEL = re.compile(r"^[A-Za-z][A-Za-z0-9_]*/[A-Za-z0-9_.@\-;]{1,100}$")
_QUEUE = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")


class InvalidHand(ValueError):
    pass


@dataclass(frozen=True)
class CallerPriority:
    call_id: int
    queue: str
    channel: str
    priority: int


@dataclass(frozen=True)
class CallerMove:
    call_id: int
    channel: str
    target: str


def _common(request: dict[str, Any]) -> tuple[int, str]:
    call_id = request.get("call_id")
    if not isinstance(call_id, int) or isinstance(call_id, bool) or call_id <= 0:
        raise InvalidHand("call_id must be a positive whole number")
    channel = request.get("channel")
    if not isinstance(channel, str) or not _CHANNEL.match(channel):
        raise InvalidHand("channel must be an Asterisk channel name")
    return call_id, channel


def parse(request: dict[str, Any]) -> CallerPriority | CallerMove:
    call_id, channel = _common(request)
    if request.get("action") == "CallerPriority":
        queue, priority = request.get("queue"), request.get("priority")
        if not isinstance(queue, str) or not _QUEUE.match(queue):
            raise InvalidHand("queue must be a queue name")
        if not isinstance(priority, int) or isinstance(priority, bool) or not 0 <= priority <= 100:
            raise InvalidHand("priority must be between 0 and 100")
        return CallerPriority(call_id, queue, channel, priority)
    target = request.get("target")
    if not isinstance(target, str) or not _QUEUE.match(target):
        raise InvalidHand("target must be a queue name")
    return CallerMove(call_id, channel, target)


async def change_priority(client: AMIClient, queue: str, channel: str, priority: int) -> ActionResult:
    return await client.action("QueueChangePriorityCaller",
                               {"Queue": queue, "Caller": channel, "Priority": priority})


async def run(client: AMIClient, hand: CallerPriority | CallerMove) -> dict[str, Any]:
    if isinstance(hand, CallerPriority):
        result = await change_priority(client, hand.queue, hand.channel, hand.priority)
        words = f"已提前（优先级 {hand.priority}）" if result.success else f"提前失败：{result.message}"
        return {"call_id": hand.call_id, "priority": hand.priority, "ok": result.success, "message": words}
    result = await client.action("Redirect", {"Channel": hand.channel, "Context": TRANSFER_CONTEXT,
                                              "Exten": f"queue-{hand.target}", "Priority": 1})
    words = f"已转到队列 {hand.target}" if result.success else f"转队列失败：{result.message}"
    return {"call_id": hand.call_id, "target": hand.target, "ok": result.success, "message": words}
