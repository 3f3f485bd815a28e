"""Call controls from the agent console, executed on the listener's AMI connection (a
browser never gets an AMI login of its own): hang up, hold/unhold with music on hold,
blind transfer to another agent, a queue or an outside number.

The request (bus topic ``ami.action``)::

    {"action": "CallControl", "op": "transfer", "interface": "PJSIP/agent1001",
     "uniqueid": "1763800000.101", "channel": "", "linkedid": "1763800000.101",
     "call_id": 7, "pop_key": "k1", "target_kind": "agent", "target": "PJSIP/agent1002",
     "request_id": "u3-…", "user_id": 3}

The channels are looked up when the request runs (CoreShowChannels): the caller's by
its uniqueid (or name), the agent's as the channel of the same call on the agent's
interface. Then, in the dialplan of asterisk_conf/extensions.conf:

- hang up: ``Hangup`` of the caller's channel (the agent's leg ends with it);
- hold: ``Redirect`` of the caller to ``[cc-hold]`` ``caller`` (music on hold) and of
  the agent, as the extra channel, to ``[cc-hold]`` ``agent`` (waits in silence);
- unhold: ``Bridge`` of the two again;
- attended transfer (咨询转接): ``Atxfer`` on the agent's channel to ``[cc-atxfer]``
  ``NNNN`` (agentNNNN) or ``9<number>``: the caller hears music, the agent talks to the
  target, and hanging up hands the caller over;
- transfer: ``Redirect`` of the caller to ``[cc-transfer]``: ``agent1002`` (that phone
  rings with the call's pop key; back to the call's queue when nobody answers),
  ``queue-vip`` (that queue, which pops as any queue call does) or the number's digits
  (through the carrier trunk).

The answer is the usual ``action_result`` with ``op``, ``target_kind``, ``target`` and
the channels found; a transfer that Asterisk accepted is recorded on the call by the
tracker (``transfer`` job), which also pops the call on a receiving agent's console.
"""

from __future__ import annotations

import re
from typing import Any

from callcenter.ami.client import AMIClient, AMIConnectionError, AMIError
from callcenter.ami.protocol import Message

OPS = ("hangup", "hold", "unhold", "transfer")
TARGET_KINDS = ("agent", "queue", "number")
_INTERFACE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*/[A-Za-z0-9_.@\-]{1,63}$")
_QUEUE = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
_NUMBER = re.compile(r"^\+?[0-9]{3,20}$")
_TOKEN = re.compile(r"^[A-Za-z0-9_.@/\-;]{0,128}$")
_AGENT_DIGITS = re.compile(r"^PJSIP/agent([0-9]{4})$")
HOLD_CONTEXT = "cc-hold"
TRANSFER_CONTEXT = "cc-transfer"
ATTENDED_CONTEXT = "cc-atxfer"


class InvalidControl(ValueError):
    pass


def transfer_exten(target_kind: str, target: str) -> str:
    """The ``[cc-transfer]`` extension for a transfer target."""
    if target_kind == "agent":
        if not _INTERFACE.match(target):
            raise InvalidControl("an agent is named by their phone interface, e.g. PJSIP/agent1002")
        return target.split("/", 1)[1]
    if target_kind == "queue":
        if not _QUEUE.match(target):
            raise InvalidControl("not a queue name")
        return f"queue-{target}"
    if target_kind == "number":
        digits = target.replace(" ", "").replace("-", "")
        if not _NUMBER.match(digits):
            raise InvalidControl("an outside number is 3 to 20 digits")
        return digits.lstrip("+")
    raise InvalidControl(f"target_kind must be one of {', '.join(TARGET_KINDS)}")


def attended_exten(target_kind: str, target: str) -> str:
    """The digits the Atxfer action dials (as DTMF, so digits only) in ``[cc-atxfer]``:
    an agent's four digits (PJSIP/agent1002 → 1002), or 9 + an outside number."""
    if target_kind == "agent":
        match = _AGENT_DIGITS.match(target)
        if not match:
            raise InvalidControl("an attended transfer reaches agents whose phone is PJSIP/agentNNNN")
        return match.group(1)
    if target_kind == "number":
        return "9" + transfer_exten("number", target)
    raise InvalidControl("an attended transfer goes to an agent or an outside number")


def _check(request: dict[str, Any]) -> tuple[str, str]:
    op = request.get("op")
    if op not in OPS:
        raise InvalidControl(f"op must be one of {', '.join(OPS)}")
    interface = request.get("interface")
    if not isinstance(interface, str) or not _INTERFACE.match(interface):
        raise InvalidControl("interface must look like PJSIP/agent1001")
    for key in ("uniqueid", "channel"):
        value = request.get(key) or ""
        if not isinstance(value, str) or not _TOKEN.match(value):
            raise InvalidControl(f"{key} is not a channel reference")
    if not (request.get("uniqueid") or request.get("channel")):
        raise InvalidControl("name the call (uniqueid or channel)")
    exten = ""
    if op == "transfer":
        kind, target = str(request.get("target_kind") or ""), str(request.get("target") or "")
        exten = attended_exten(kind, target) if request.get("attended") else transfer_exten(kind, target)
    return op, exten


def find_channels(channels: list[Message], *, uniqueid: str, channel: str,
                  interface: str) -> tuple[Message | None, Message | None]:
    """The caller's channel and the agent's channel of the same call (None when gone)."""
    caller = next((c for c in channels if (uniqueid and c.get("Uniqueid") == uniqueid)
                   or (channel and c.get("Channel") == channel)), None)
    if caller is None:
        return None, None
    linkedid = caller.get("Linkedid") or caller.get("Uniqueid")
    agent = next((c for c in channels if c.get("Linkedid") == linkedid and c is not caller
                  and c.get("Channel").startswith(interface + "-")), None)
    return caller, agent


async def _run(client: AMIClient, op: str, exten: str, caller: str, agent: str, attended: bool = False) -> Any:
    if op == "transfer" and attended:
        # The agent's side dials the target as if it pressed the atxfer feature code
        # (features.conf); the caller hears music meanwhile; the agent hangs up to hand over.
        return await client.action("Atxfer", {"Channel": agent, "Exten": exten, "Context": ATTENDED_CONTEXT})
    if op == "hangup":
        return await client.hangup(caller)
    if op == "hold":
        return await client.action("Redirect", {
            "Channel": caller, "Context": HOLD_CONTEXT, "Exten": "caller", "Priority": 1,
            "ExtraChannel": agent, "ExtraContext": HOLD_CONTEXT, "ExtraExten": "agent", "ExtraPriority": 1})
    if op == "unhold":
        return await client.action("Bridge", {"Channel1": caller, "Channel2": agent, "Tone": "no"})
    return await client.action("Redirect", {"Channel": caller, "Context": TRANSFER_CONTEXT, "Exten": exten,
                                            "Priority": 1})


async def execute(client: AMIClient, request: dict[str, Any], base: dict[str, Any], *,
                  connect_wait_s: float = 5.0) -> dict[str, Any]:
    base = {**base, "op": request.get("op"), "linkedid": str(request.get("linkedid") or ""),
            "call_id": request.get("call_id"), "pop_key": str(request.get("pop_key") or ""),
            "target_kind": request.get("target_kind") or "", "target": request.get("target") or "",
            "attended": bool(request.get("attended"))}
    try:
        op, exten = _check(request)
    except InvalidControl as exc:
        return {**base, "ok": False, "message": f"invalid request: {exc}"}
    if not await client.wait_connected(connect_wait_s):
        return {**base, "ok": False, "message": "AMI not connected"}
    try:
        listing = await client.core_show_channels()
        caller, agent = find_channels(listing.events, uniqueid=str(request.get("uniqueid") or ""),
                                      channel=str(request.get("channel") or ""), interface=request["interface"])
        if caller is None:
            return {**base, "ok": False, "message": "通话已结束 (the call is gone)"}
        if agent is None and (op in ("hold", "unhold") or request.get("attended")):
            return {**base, "ok": False, "message": "坐席话机不在此通话中 (the agent's phone is not on this call)"}
        base.update(caller_channel=caller.get("Channel"), agent_channel=agent.get("Channel") if agent else "")
        result = await _run(client, op, exten, caller.get("Channel"), agent.get("Channel") if agent else "",
                            attended=bool(request.get("attended")))
    except AMIConnectionError as exc:
        return {**base, "ok": False, "message": f"AMI connection lost; outcome unknown ({exc})"}
    except AMIError as exc:
        return {**base, "ok": False, "message": str(exc)}
    return {**base, "ok": result.success, "message": result.message or result.response.response}
