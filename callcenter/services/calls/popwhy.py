"""Why the call came, in the agent's words: the badges of a screen-pop and the IVR path.

Badges (each ``{"kind", "text"}``, the strongest first):
- ``vip_line``: the caller dialled the VIP line;
- ``vip`` / ``member``: the customer's tier;
- ``important``: 重要业户;
- ``repeat``: the number called ``n`` times in the repeat window (``repeat_window_hours``),
  this call not counted;
- ``complaint``: an open complaint, with its deadline (the nearest one).

The IVR path route_call stored (``["main", "key:3", "complaint", "timeout", "default"]``)
becomes words read from the flow definition the line uses: a key is named by what its
menu prompt says about it (``投诉请按3`` → ``按3 投诉``), else by what the key does
(a queue's category, another menu). Unknown flows and old paths still read sensibly.
"""

from __future__ import annotations

import datetime as dt
import re

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from callcenter.config import Settings
from callcenter.db import utcnow
from callcenter.ivr.flow import Flow, FlowError, MenuNode
from callcenter.ivr.loader import cached_flows
from callcenter.ivr.model import Action
from callcenter.labels import CATEGORIES, label
from callcenter.models import Call, Customer, Ticket, TicketStatus, TicketType, Tier
from callcenter.timeutil import to_local

# "咨询请按1，报修请按2" / "如需我们给您回电，请按2": the words before 请按/按 name the key.
_KEY_WORDS = re.compile(r"([^，。；,;：:]+?)[，,]?\s*请?按\s*([0-9*#])")
_OPENERS = re.compile(r"^(如需|如要|需要|要)")


def badges(session: Session, settings: Settings, call: Call | None, customer: Customer | None,
           e164: str, now: dt.datetime | None = None) -> list[dict[str, str]]:
    now = now or utcnow()
    earlier = 0
    if e164:
        since = now - dt.timedelta(hours=settings.repeat_window_hours)
        query = select(func.count()).select_from(Call).where(Call.caller_e164 == e164, Call.started_at >= since)
        if call is not None:
            query = query.where(Call.linkedid != call.linkedid)
        earlier = session.scalar(query) or 0
    complaint = None
    if customer is not None:
        complaint = session.scalar(
            select(Ticket).where(Ticket.customer_id == customer.id, Ticket.type == TicketType.COMPLAINT,
                                 Ticket.status != TicketStatus.CLOSED)
            .order_by(Ticket.due_at.is_(None), Ticket.due_at, Ticket.id).limit(1))
    return badges_from(settings, call, customer, earlier=earlier, complaint=complaint)


def complaint_order(ticket: Ticket) -> tuple:
    """The complaint a badge names: the nearest deadline first, none last."""
    return (ticket.due_at is None, ticket.due_at or dt.datetime.min, ticket.id)


def badges_from(settings: Settings, call: Call | None, customer: Customer | None, *, earlier: int,
                complaint: Ticket | None) -> list[dict[str, str]]:
    """The badges from facts already read: ``earlier`` calls from the number in the
    repeat window (this call not counted) and the customer's open complaint."""
    found: list[dict[str, str]] = []
    line_kind = call.line.kind.value if call is not None and call.line is not None else ""
    if line_kind == "vip" or (call is not None and call.route_reason == "vip_line"):
        found.append({"kind": "vip_line", "text": "VIP专线"})
    if customer is not None and customer.tier is Tier.VIP:
        found.append({"kind": "vip", "text": "VIP客户"})
    elif customer is not None and customer.tier is Tier.MEMBER:
        found.append({"kind": "member", "text": "会员"})
    if customer is not None and customer.important:
        found.append({"kind": "important", "text": "重要业户"})
    if earlier >= max(1, settings.repeat_min_calls):
        hours = settings.repeat_window_hours
        window = f"{hours:g}小时" if hours < 48 else f"{hours / 24:g}天"
        found.append({"kind": "repeat", "text": f"重复来电 {window}内第{earlier + 1}次"})
    if complaint is not None:
        due = (f" 期限 {to_local(complaint.due_at, settings.timezone):%m-%d %H:%M}"
               if complaint.due_at else "")
        found.append({"kind": "complaint", "text": f"未结投诉 {complaint.number}{due}"})
    return found


# --- the IVR path in words ------------------------------------------------------------------
def _flow(settings: Settings, name: str) -> Flow | None:
    if not name:
        return None
    try:
        return cached_flows(settings.ivr_flows_dir).get(name)
    except (FlowError, OSError):
        return None


def key_words(flow: Flow, node: MenuNode) -> dict[str, str]:
    """What the menu prompt calls each key (咨询请按1 → {"1": "咨询"})."""
    text = flow.prompts.get(node.prompt or "", "")
    words: dict[str, str] = {}
    for phrase, digit in _KEY_WORDS.findall(text):
        phrase = _OPENERS.sub("", phrase.strip())
        words.setdefault(digit, phrase)
    return words


def _action_words(flow: Flow | None, action: Action | None) -> str:
    if action is None:
        return ""
    if action.kind == "queue":
        return "转人工" if action.category == "human" else label(CATEGORIES, action.category)
    if action.kind == "goto" and flow is not None and action.target in flow.nodes:
        return action.target or ""
    return {"voicemail": "留言", "callback": "预约回电", "back": "返回上级", "repeat": "重听",
            "hangup": "挂机"}.get(action.kind, action.kind)


def ivr_words(settings: Settings, flow_name: str, path: list[str]) -> list[str]:
    """The path as steps an agent reads: ``["按3 投诉", "按1 服务态度投诉"]``."""
    flow = _flow(settings, flow_name)
    if flow is None and path:
        # Rows written without the line's flow name: a path starting at a flow's root
        # names that flow (``main`` → main.yaml).
        flow = _flow(settings, str(path[0]))
        flow = flow if flow is not None and flow.root == str(path[0]) else None
    steps: list[str] = []
    node: MenuNode | None = None
    for token in path or []:
        token = str(token)
        if flow is not None and token in flow.nodes:
            node = flow.nodes[token]
            continue
        kind, _, digit = token.partition(":")
        if kind == "key" or (token.isdigit() and len(token) == 1):
            digit = digit or token
            action = node.keys.get(digit) if node is not None else None
            words = key_words(flow, node).get(digit, "") if flow and node else ""
            if node is not None and (not words or (action is not None and action.kind in ("voicemail", "callback"))):
                words = _action_words(flow, action) or words
            steps.append(f"按{digit} {words}".strip())
        elif token == "timeout":
            if steps and steps[-1].startswith("未按键"):
                count = int(steps[-1].partition("×")[2] or 1) + 1
                steps[-1] = f"未按键×{count}"
            else:
                steps.append("未按键")
        elif kind == "invalid":
            steps.append(f"按错({digit})")
        elif token == "default":
            what = _action_words(flow, node.default) if node is not None else ""
            steps.append(f"默认：{what}" if what else "默认")
        elif token == "limit":
            steps.append("按键次数过多，转人工")
        elif token == "error":
            # route_call's mark for a menu that failed (or could not be loaded): the caller
            # went straight to the line's queue.
            steps.append("菜单故障，直接转人工")
        elif flow is None and token not in ("main",):
            steps.append(token)
    return steps
