"""The live call at the agent console: the call-control requests the console sends to
the AMI owner (hang up, hold, unhold, blind transfer), the transfers kept on the call
record, and the wrap-up (disposition) codes.

首问负责制: a transfer never changes a ticket's owner; the receiving agent sees the
call's tickets on the pop and continues on them.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from callcenter.db import utcnow
from callcenter.models import AgentState, Call, CallAgentLeg, CallTransfer, CallWrapUp, User, WrapUpCode
from callcenter.services.people import console

OPS = ("hangup", "hold", "unhold", "transfer")
TARGET_KINDS = {"agent": "坐席", "queue": "队列", "number": "外线号码"}
_NUMBER = re.compile(r"^\+?[0-9]{3,20}$")
# A leg that is a transfer to this agent, not a queue ringing them.
TRANSFER_OUTCOME = "transfer"

# The first list an admin starts from (editable in 管理 → 话后处理代码).
DEFAULT_CODES = (
    ("resolved", "已解决"), ("ticket", "已建工单"), ("callback", "需回电"), ("transfer", "已转接"),
    ("info", "咨询已答复"), ("wrong_number", "打错电话"), ("nuisance", "骚扰电话"),
)


class ControlError(ValueError):
    """A console call-control request that cannot be sent; the message is shown."""


def live_call(session: Session, linkedid: str) -> Call | None:
    if not linkedid:
        return None
    return session.scalar(select(Call).where(Call.linkedid == linkedid).order_by(Call.id).limit(1))


def check_target(target_kind: str, target: str) -> str:
    target = (target or "").strip()
    if target_kind == "agent":
        return console.validate_interface(target)
    if target_kind == "queue":
        if not console.QUEUE_RE.match(target):
            raise ControlError("请选择要转接的队列 (choose a queue)")
        return target
    if target_kind == "number":
        digits = target.replace(" ", "").replace("-", "")
        if not _NUMBER.match(digits):
            raise ControlError("外线号码应为 3 至 20 位数字 (an outside number is 3-20 digits)")
        return digits
    raise ControlError("转接目标应为坐席、队列或外线号码 (agent, queue or number)")


def control_request(state: AgentState, call: Call, op: str, *, target_kind: str = "",
                    target: str = "", attended: bool = False) -> dict[str, Any]:
    """The ``ami.action`` message for a call-control button. ``attended``: a consultative
    transfer (咨询转接) to an agent or an outside number — the agent talks to the target
    first and hangs up to hand the caller over."""
    if not state.interface:
        raise ControlError("请先就座 (choose the phone interface you sit at first)")
    if op not in OPS:
        raise ControlError(f"unknown call control {op!r}")
    message: dict[str, Any] = {
        "action": "CallControl", "op": op, "interface": state.interface, "uniqueid": call.uniqueid,
        "channel": call.channel or "", "linkedid": call.linkedid, "call_id": call.id,
        "pop_key": call.screen_pop_key or call.linkedid,
        "request_id": console.new_request_id(state.user_id), "user_id": state.user_id,
    }
    if op == "transfer":
        target = check_target(target_kind, target)
        if target_kind == "agent" and target == state.interface:
            raise ControlError("不能转接给自己 (that is your own phone)")
        if attended and target_kind == "queue":
            raise ControlError("咨询转接只能转给坐席或外线号码 (an attended transfer goes to an agent or a number)")
        message.update(target_kind=target_kind, target=target, attended=bool(attended))
    return message


def record_transfer(session: Session, answer: dict[str, Any], *, at: dt.datetime | None = None) -> list[dict[str, Any]]:
    """Keep a transfer the AMI owner carried out (or refused) on the call record; for a
    transfer Asterisk accepted to another agent, the leg of that agent and the
    ``agent_called`` that pops the call on their console."""
    at = at or utcnow()
    call = session.get(Call, answer.get("call_id")) if isinstance(answer.get("call_id"), int) else None
    if call is None:
        return []
    ok = bool(answer.get("ok"))
    target_kind, target = str(answer.get("target_kind") or ""), str(answer.get("target") or "")
    transfer = CallTransfer(call_id=call.id, from_user_id=answer.get("user_id"),
                            from_interface=str(answer.get("interface") or ""),
                            kind="attended" if answer.get("attended") else "blind",
                            target_kind=target_kind[:16], target=target[:80], at=at, ok=ok,
                            message=str(answer.get("message") or "")[:200])
    session.add(transfer)
    session.flush()
    if not ok or target_kind != "agent":
        return []
    session.add(CallAgentLeg(call_id=call.id, dest_uniqueid=f"transfer-{transfer.id}", interface=target,
                             member_name="", queue="", called_at=at, outcome=TRANSFER_OUTCOME))
    return [{"type": "agent_called", "interface": target, "linkedid": call.linkedid, "uniqueid": call.uniqueid,
             "call_id": call.id, "pop_key": call.screen_pop_key or call.linkedid, "queue": "",
             "caller_number": call.caller_number, "caller_name": call.caller_name, "member_name": "",
             "transfer_from": transfer.from_interface}]


def handed_over(session: Session, call_id: int, interface: str) -> bool:
    """This agent blind-transferred the call: their part ended at the transfer (and
    their wrap-up began then), whatever Asterisk reports when the caller hangs up."""
    return session.scalar(
        select(CallTransfer.id).where(CallTransfer.call_id == call_id, CallTransfer.from_interface == interface,
                                      CallTransfer.ok.is_(True), CallTransfer.kind == "blind").limit(1)) is not None


def call_legs(session: Session, call_id: int) -> list[dict[str, Any]]:
    """Every leg of a call, in order: the phones the queue rang and the transfers."""
    legs = [{"at": leg.called_at, "kind": "transfer" if leg.outcome == TRANSFER_OUTCOME else "queue",
             "interface": leg.interface, "outcome": leg.outcome}
            for leg in session.scalars(select(CallAgentLeg).where(CallAgentLeg.call_id == call_id))]
    legs += [{"at": t.at, "kind": "transfer_request", "interface": t.from_interface,
              "outcome": ("ok" if t.ok else "refused"), "target": f"{t.target_kind}:{t.target}"}
             for t in session.scalars(select(CallTransfer).where(CallTransfer.call_id == call_id))]
    return sorted(legs, key=lambda leg: leg["at"])


def transfer_targets(session: Session, own_user_id: int) -> list[dict[str, str]]:
    """The agents the console offers to transfer to: those signed in at a phone."""
    rows = session.execute(
        select(User, AgentState).join(AgentState, AgentState.user_id == User.id)
        .where(User.active.is_(True), User.id != own_user_id, AgentState.interface.is_not(None))
        .order_by(User.username)).all()
    return [{"interface": state.interface or "", "name": user.display_name or user.username,
             "status": state.status.value} for user, state in rows]


# --- wrap-up codes -------------------------------------------------------------------------------
def ensure_default_codes(session: Session) -> None:
    """The first list, when an admin has not made one yet."""
    if session.scalar(select(WrapUpCode.id).limit(1)) is None:
        session.add_all(WrapUpCode(code=code, label=text, sort=i * 10) for i, (code, text) in enumerate(DEFAULT_CODES))
        session.flush()


def active_codes(session: Session) -> list[dict[str, Any]]:
    return [{"id": c.id, "code": c.code, "label": c.label}
            for c in session.scalars(select(WrapUpCode).where(WrapUpCode.active.is_(True))
                                     .order_by(WrapUpCode.sort, WrapUpCode.id))]


def all_codes(session: Session) -> list[WrapUpCode]:
    return list(session.scalars(select(WrapUpCode).order_by(WrapUpCode.sort, WrapUpCode.id)))


def save_code(session: Session, *, code: str, label: str, active: bool = True, sort: int = 0) -> WrapUpCode:
    """Add a code or change one (by its code)."""
    code, label = (code or "").strip(), (label or "").strip()
    if not re.match(r"^[a-z0-9_]{1,32}$", code):
        raise ControlError("代码应为 1-32 位小写字母、数字或下划线 (code: a-z, 0-9, _)")
    if not label or len(label) > 64:
        raise ControlError("名称不能为空，最多 64 字 (label: 1-64 characters)")
    row = session.scalar(select(WrapUpCode).where(WrapUpCode.code == code))
    if row is None:
        row = WrapUpCode(code=code, label=label, active=active, sort=sort)
        session.add(row)
    else:
        row.label, row.active, row.sort = label, active, sort
    session.flush()
    return row


def choose(session: Session, *, user_id: int, call_id: int, code_id: int, note: str = "") -> CallWrapUp:
    """The agent's wrap-up code for a call (choosing again replaces it)."""
    code = session.get(WrapUpCode, code_id)
    if code is None or not code.active:
        raise ControlError("请选择有效的话后处理代码 (choose a wrap-up code from the list)")
    if session.get(Call, call_id) is None:
        raise ControlError("没有这通电话 (no such call)")
    row = session.scalar(select(CallWrapUp).where(CallWrapUp.call_id == call_id, CallWrapUp.user_id == user_id))
    if row is None:
        row = CallWrapUp(call_id=call_id, user_id=user_id, code_id=code.id)
        session.add(row)
    row.code_id, row.note, row.at = code.id, (note or "").strip()[:500], utcnow()
    session.flush()
    return row
