"""Listen, whisper and barge (监听、耳语、强插) from the supervisor's panel, executed on the
listener's AMI connection like every panel request (:mod:`callcenter.ami.actions`).

The web publishes (``web/wallboard.py``, after the role check and the audit entry)::

    {"action": "Spy", "interface": "PJSIP/agent1003", "target": "PJSIP/agent1001",
     "mode": "listen", "request_id": "u7-…", "user_id": 7}

Asterisk rings the supervisor's phone (Channel = ``interface``); when it is answered the
channel runs ``[cc-spy]`` ``<mode>-<target device>`` (asterisk_conf/extensions.conf):
ChanSpy on the agent's channels — ``q`` quietly (no beep, no name spoken), ``E`` ending
when the agent's call ends, plus ``w`` (whisper: the agent alone hears the supervisor)
or ``B`` (barge: both sides hear the supervisor).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from callcenter.ami.client import AMIClient

SPY_CONTEXT = "cc-spy"
MODES = ("listen", "whisper", "barge")
MODE_WORDS = {"listen": "监听", "whisper": "耳语", "barge": "强插"}
# The device part of an agent's interface becomes part of a dialplan extension.
_TARGET = re.compile(r"^PJSIP/([A-Za-z0-9_]{1,40})$")
_REASONS = {0: "话机不可用或忙", 1: "话机挂断", 3: "话机无人接听", 5: "话机忙", 8: "线路拥塞"}


class InvalidSpy(ValueError):
    pass


@dataclass(frozen=True)
class Spy:
    interface: str    # the supervisor's phone
    target: str       # the agent's phone interface
    mode: str

    @property
    def exten(self) -> str:
        return f"{self.mode}-{spy_device(self.target)}"


def spy_device(target: str) -> str:
    match = _TARGET.match(target)
    if not match:
        raise InvalidSpy("the agent is named by a PJSIP phone interface, e.g. PJSIP/agent1001")
    return match.group(1)


def parse(request: dict[str, Any], interface: str) -> Spy:
    """Check every field that reaches the AMI socket (``interface`` is checked by the caller)."""
    mode = request.get("mode")
    if mode not in MODES:
        raise InvalidSpy(f"mode must be one of {', '.join(MODES)}")
    target = request.get("target")
    if not isinstance(target, str):
        raise InvalidSpy("target must be the agent's phone interface")
    spy_device(target)
    if target == interface:
        raise InvalidSpy("a phone cannot listen to itself")
    return Spy(interface=interface, target=target, mode=mode)


async def run(client: AMIClient, spy: Spy) -> dict[str, Any]:
    result = await client.originate(
        spy.interface, context=SPY_CONTEXT, exten=spy.exten, priority=1, timeout_ms=30000,
        caller_id=f'"{MODE_WORDS[spy.mode]}" <{spy_device(spy.target)}>')
    fields = {"mode": spy.mode, "target": spy.target, "uniqueid": result.uniqueid, "ok": result.success}
    if result.success:
        return {**fields, "message": f"{MODE_WORDS[spy.mode]}已接通：{spy.target}"}
    if result.event is None:
        return {**fields, "message": f"{MODE_WORDS[spy.mode]}失败：{result.accepted.message or 'Originate refused'}"}
    why = _REASONS.get(result.reason if result.reason is not None else -1, f"Reason {result.reason}")
    return {**fields, "message": f"{MODE_WORDS[spy.mode]}失败：{why} ({spy.interface})"}
