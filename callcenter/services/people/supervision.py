"""A supervisor listens, whispers or barges in on an agent's live call (监听、耳语、强插):
the request the AMI listener carries out (callcenter/ami/supervision.py), checked and
written to the audit log first — listening to a customer is opening their record."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from callcenter.models import AgentState, AgentStatus, User
from callcenter.services.people import audit
from callcenter.services.people.console import new_request_id

MODES = {"listen": "监听", "whisper": "耳语", "barge": "强插"}
SPY_AUDIT = "spy"


class SupervisionError(ValueError):
    pass


def spy_request(session: Session, supervisor: User, agent_id: int, mode: str) -> dict[str, Any]:
    """The ``Spy`` panel request for the supervisor's phone, audited. Refused (with the
    reason in words) when the mode is unknown, the supervisor has no phone, or the agent
    is not on a call."""
    if mode not in MODES:
        raise SupervisionError(f"未知的方式 {mode!r}（可选：监听、耳语、强插）")
    own = session.get(AgentState, supervisor.id)
    phone = (own.interface if own is not None else None) or supervisor.default_interface
    if not phone:
        raise SupervisionError("您还没有话机：请先在坐席页设置您的话机（如 PJSIP/agent1003）")
    agent = session.get(User, agent_id)
    state = session.get(AgentState, agent_id)
    if agent is None or state is None or not state.interface:
        raise SupervisionError("没有这位坐席或其话机")
    if state.status is not AgentStatus.ON_CALL:
        raise SupervisionError(f"{agent.display_name or agent.username} 当前不在通话中")
    if state.interface == phone:
        raise SupervisionError("不能监听自己的话机")
    audit.record(session, user_id=supervisor.id, action=SPY_AUDIT, object_type="call",
                 object_id=state.current_linkedid or "",
                 detail=f"{MODES[mode]} {agent.username} ({state.interface}) from {phone}")
    return {"action": "Spy", "interface": phone, "target": state.interface, "mode": mode,
            "request_id": new_request_id(supervisor.id), "user_id": supervisor.id}
