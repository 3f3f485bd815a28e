"""The words the panel, the CLI and the prompts use for stored values: one home for each.

Every mapping is keyed by the value as it is stored (the ``.value`` of the models'
string enums, or the ASCII ids route_call writes), so it imports nothing and any layer
may read it. ``label(mapping, value)`` accepts an enum member or its value and falls
back to the value itself, so an unknown code shows as what it is rather than failing.
"""

from __future__ import annotations

from typing import Any

# Request types of the business (REQUIREMENTS.md "Request types"): the IVR categories
# route_call stores on the calls row; flow files may write either the id or the word.
CATEGORIES: dict[str, str] = {
    "consultation": "咨询",
    "complaint": "投诉",
    "repair": "报修",
    "suggestion": "建议",
    "order": "订单/退换货",
    "human": "人工",
}

# Ticket types are the categories an agent can log (everything but "a person").
TICKET_TYPES: dict[str, str] = {key: word for key, word in CATEGORIES.items() if key != "human"}

TICKET_STATUSES: dict[str, str] = {
    "open": "待处理", "in_progress": "处理中", "closed": "已关闭", "reopened": "重新打开",
}

# 三级负责制: who a ticket's escalation level answers to.
ESCALATION_LEVELS: dict[int, str] = {
    0: "客服专员 (receiving agent)", 1: "客服主管 (supervisor)", 2: "副总经理 (deputy general manager)",
}

CALL_STATUSES: dict[str, str] = {
    "routing": "路由中", "routed": "已路由", "queued": "排队中", "ringing": "振铃中", "answered": "通话中",
    "completed": "已接听", "abandoned": "放弃", "after_hours": "非工作时间", "hung_up": "已挂断",
}

# Follow-up surveys (回访) a closed ticket asks for.
SURVEY_STATUSES: dict[str, str] = {"pending": "待回访", "done": "已回访", "cancelled": "已取消"}

# The words static/js/common.js AGENT_STATUS uses too (the live pages update with them).
AGENT_STATUSES: dict[str, str] = {
    "offline": "离线", "ready": "就绪", "paused": "暂停", "ringing": "振铃", "on_call": "通话中", "wrap_up": "整理中",
}

ROLES: dict[str, str] = {"agent": "坐席", "supervisor": "班长", "qa": "质检", "admin": "管理员"}

TIERS: dict[str, str] = {"vip": "VIP", "member": "会员", "ordinary": "普通"}

LINE_KINDS: dict[str, str] = {"vip": "VIP客户专线", "ordinary": "普通客户专线"}

CALLBACK_REASONS: dict[str, str] = {
    "abandoned": "放弃来电", "after_hours": "非工作时间", "voicemail": "留言", "route_failed": "路由失败",
}

# What came of calling a customer back (回电). ``merged``: a duplicate open task of the
# same number, folded into the oldest when one task per number was introduced.
CALLBACK_OUTCOMES: dict[str, str] = {
    "reached": "已联系，问题已处理", "wrong_number": "号码错误", "no_answer": "无人接听", "busy": "占线",
    "unreachable": "关机/无法接通", "later": "客户要求稍后回电", "gave_up": "多次未联系上，已结束",
    "merged": "已合并到同号码任务",
}

# Click-to-dial: how far the AMI Originate got (the agent's phone rings first).
CALLBACK_DIAL_STATUSES: dict[str, str] = {
    "dialing": "正在呼叫坐席话机", "connected": "坐席已接听，正在呼叫客户", "failed": "呼叫失败", "": "手动拨打",
}


def label(mapping: dict[Any, str], value: Any, default: str | None = None) -> str:
    """The word for ``value`` (an enum member or its stored value); ``default``, else
    the value itself, when the mapping does not know it."""
    key = getattr(value, "value", value)
    if key in mapping:
        return mapping[key]
    return default if default is not None else ("" if key is None else str(key))
