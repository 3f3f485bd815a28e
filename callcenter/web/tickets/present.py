"""What the ticket templates show: labels, local times, masked phones, history rows."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import abort
from flask_login import current_user
from sqlalchemy.orm import Session

from callcenter.db import utcnow
from callcenter.labels import ESCALATION_LEVELS, SURVEY_STATUSES, TICKET_STATUSES, TICKET_TYPES, label
from callcenter.models import Ticket, TicketStatus, TicketType, User
from callcenter.services.people import users
from callcenter.services.people.masking import phone_for
from callcenter.services.tickets import fields as ticket_fields
from callcenter.services.tickets import lookups, notifications, tickets
from callcenter.timeutil import to_local
from callcenter.web.context import panel
from callcenter.web.roles import ADMIN, AGENT, ALL_ROLES, SUPERVISOR

WRITERS = (AGENT, SUPERVISOR, ADMIN)
READERS = tuple(sorted(ALL_ROLES))
PAGE_SIZE = 50
SCOPE_LABELS = {"mine": "我的工单", "open": "未结工单", "overdue": "逾期工单", "all": "全部工单"}
# Agents work on the open queue; the full archive (closed tickets of everyone) is for
# the roles that supervise or inspect.
SCOPES_BY_ROLE = {
    AGENT: ("mine", "open", "overdue"),
    SUPERVISOR: ("mine", "open", "overdue", "all"),
    ADMIN: ("open", "overdue", "all"),
    "qa": ("open", "overdue", "all"),
}
ACTION_LABELS = {"created": "创建", "updated": "修改", "closed": "关闭", "reopened": "重新打开",
                 "escalated": "升级"}
COLUMN_LABELS = {
    "number": "工单号", "type": "类型", "status": "状态", "subject": "主题", "description": "描述",
    "customer_id": "客户", "call_linkedid": "来电", "contact_phone": "联系电话", "severity": "严重程度",
    "urgency": "紧急程度", "invalid": "无效投诉", "department": "转交部门", "appointment_at": "预约时间",
    "paid": "有偿/保修", "completed_at": "完工时间", "promised_reply_at": "承诺答复时间",
    "owner_id": "第一责任人", "assignee_id": "处理人", "due_at": "处理期限", "department_due_at": "部门期限",
    "escalation_level": "升级级别", "escalation_due_at": "下次升级", "resolution": "处理结果",
    "closed_at": "关闭时间", "reason": "原因", "note": "备注", "rule": "期限规则",
    "department_rule": "部门期限规则", "surveys_cancelled": "取消回访",
}
PERSON_COLUMNS = ("owner_id", "assignee_id")


# --- presentation helpers ----------------------------------------------------------------

def local(value: dt.datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    return to_local(value, panel().settings.timezone).strftime(fmt) if value else ""


def input_value(value: dt.datetime | None) -> str:
    """A stored instant as the value of a datetime-local input (local time)."""
    return local(value, "%Y-%m-%dT%H:%M")


def phone(number: str | None) -> str:
    return phone_for(panel().settings, current_user.role, number)


def paid_label(paid: bool | None) -> str:
    return {True: "有偿", False: "保修", None: ""}[paid]


def field_label(ticket_type: TicketType, key: str) -> str:
    if key.startswith("fields."):
        name = key.split(".", 1)[1]
        spec = next((s for s in ticket_fields.specs_for(ticket_type) if s.name == name), None)
        return spec.label if spec else name
    return COLUMN_LABELS.get(key, key)


def field_value(spec: ticket_fields.FieldSpec, value: Any) -> str:
    if value in (None, ""):
        return ""
    if spec.kind == "choice":
        return next((c.label for c in spec.choices if c.value == value), str(value))
    if spec.kind == "datetime":
        return str(value).replace("T", " ")[:16]
    return str(value)


def history_value(key: str, value: Any, names: dict[int, str], customers: dict[int, str],
                  calls: dict[str, str] | None = None) -> str:
    """One side of an old → new pair, readable (local times, names, labels)."""
    if value is None or value == "":
        return "—"
    if key == "call_linkedid":
        return (calls or {}).get(str(value), "来电（记录不存在）")
    if key in PERSON_COLUMNS and isinstance(value, int):
        return names.get(value, f"#{value}")
    if key in ("contact_phone",):
        return phone(str(value))
    if key.endswith("_at") and isinstance(value, str):
        try:
            return local(dt.datetime.fromisoformat(value))
        except ValueError:
            return value
    if key == "status":
        return label(TICKET_STATUSES, value)
    if key == "type":
        return label(TICKET_TYPES, value)
    if key == "paid":
        return paid_label(value)
    if key == "severity":
        return choice_label(ticket_fields.SEVERITIES, value)
    if key == "urgency":
        return choice_label(ticket_fields.URGENCIES, value)
    if key == "customer_id" and isinstance(value, int):
        return customers.get(value, f"#{value}")
    if key == "escalation_level":
        return label(ESCALATION_LEVELS, value)
    if isinstance(value, bool):
        return "是" if value else "否"
    return str(value)


def summary(ticket: Ticket, names: dict[int, str], now: dt.datetime) -> dict[str, Any]:
    missed = tickets.missed(ticket, now)
    return {
        "id": ticket.id, "number": ticket.number, "type": ticket.type.value,
        "type_label": label(TICKET_TYPES, ticket.type), "subject": ticket.subject,
        "status": ticket.status.value, "status_label": label(TICKET_STATUSES, ticket.status),
        "customer": ticket.customer.name if ticket.customer else "", "customer_id": ticket.customer_id,
        "phone": phone(ticket.contact_phone), "created_at": local(ticket.created_at),
        "due_at": local(ticket.due_at), "promised_reply_at": local(ticket.promised_reply_at),
        "department_due_at": local(ticket.department_due_at),
        "level": ticket.escalation_level, "level_label": label(ESCALATION_LEVELS, ticket.escalation_level),
        "owner": names.get(ticket.owner_id, ""), "assignee": names.get(ticket.assignee_id or 0, ""),
        "missed": missed, "overdue": any(missed.values()),
        "severity": ticket.severity, "urgency": ticket.urgency, "invalid": ticket.invalid,
    }


def history_rows(ticket: Ticket, names: dict[int, str], customers: dict[int, str],
                 calls: dict[str, str] | None = None) -> list[dict[str, Any]]:
    rows = []
    for entry in ticket.history:
        changes = []
        for key, value in (entry.changes or {}).items():
            label = field_label(ticket.type, key)
            if isinstance(value, list) and len(value) == 2:
                spec_key = key.split(".", 1)[1] if key.startswith("fields.") else None
                spec = next((s for s in ticket_fields.specs_for(ticket.type) if s.name == spec_key), None)

                def shown(v: Any, key: str = key, spec: Any = spec) -> str:
                    return (field_value(spec, v) or "—") if spec else history_value(key, v, names, customers,
                                                                                     calls)

                old, new = shown(value[0]), shown(value[1])
                changes.append({"label": label, "old": old, "new": new, "pair": True})
            else:
                changes.append({"label": label, "text": history_value(key, value, names, customers, calls),
                                "pair": False})
        rows.append({"at": local(entry.at, "%Y-%m-%d %H:%M:%S"),
                     "who": names.get(entry.user_id, "系统 (system)") if entry.user_id else "系统 (system)",
                     "action": ACTION_LABELS.get(entry.action, entry.action), "changes": changes})
    return rows


def detail(session: Session, ticket: Ticket) -> dict[str, Any]:
    ids = {ticket.owner_id, ticket.assignee_id or 0, ticket.closed_by_id or 0}
    for entry in ticket.history:
        ids.add(entry.user_id or 0)
        for key in PERSON_COLUMNS:
            pair = (entry.changes or {}).get(key)
            if isinstance(pair, list):
                ids.update(v for v in pair if isinstance(v, int))
    names = users.display_names(session, ids - {0})
    customer_ids = {v for entry in ticket.history for v in (entry.changes or {}).get("customer_id") or []
                    if isinstance(v, int)}
    customers = lookups.customer_names(session, customer_ids)
    calls = call_words(session, ticket)
    data = summary(ticket, names, utcnow())
    specs = ticket_fields.specs_for(ticket.type)
    data.update(
        description=ticket.description, department=ticket.department,
        call=calls.get(ticket.call_linkedid or "", "来电（记录不存在）") if ticket.call_linkedid else "",
        appointment_at=local(ticket.appointment_at), paid=paid_label(ticket.paid),
        completed_at=local(ticket.completed_at), resolution=ticket.resolution,
        closed_at=local(ticket.closed_at), closed_by=names.get(ticket.closed_by_id or 0, ""),
        escalation_due_at=local(ticket.escalation_due_at), escalated_at=local(ticket.escalated_at),
        severity_label=choice_label(ticket_fields.SEVERITIES, ticket.severity),
        urgency_label=choice_label(ticket_fields.URGENCIES, ticket.urgency),
        fields=[{"label": s.label, "value": field_value(s, (ticket.fields or {}).get(s.name))} for s in specs
                if (ticket.fields or {}).get(s.name)],
        history=history_rows(ticket, names, customers, calls),
        surveys=[{"due_at": local(sv.due_at), "status": label(SURVEY_STATUSES, sv.status)}
                 for sv in lookups.surveys_for_ticket(session, ticket.id)],
        closed=ticket.status == TicketStatus.CLOSED,
    )
    return data


def call_words(session: Session, ticket: Ticket) -> dict[str, str]:
    """The calls a ticket names (now or in its history), as people say them: time and
    number ("12-07 10:03 13800138000"), never Asterisk's linkedid."""
    ids = {ticket.call_linkedid or ""}
    for entry in ticket.history:
        value = (entry.changes or {}).get("call_linkedid")
        ids.update(str(v) for v in (value if isinstance(value, list) else [value]) if v)
    return {linkedid: f"{local(call.started_at, '%m-%d %H:%M')} {phone(call.caller_number) or '未知号码'}"
            for linkedid, call in lookups.calls_by_linkedid(session, ids).items()}


def choice_label(choices: tuple[ticket_fields.Choice, ...], value: str) -> str:
    return next((c.label for c in choices if c.value == value), value)


def can_write() -> bool:
    return current_user.role in WRITERS


def load(session: Session, ticket_id: int) -> Ticket:
    ticket = tickets.get_ticket(session, ticket_id)
    if ticket is None:
        abort(404)
    return ticket


def actor(session: Session) -> User:
    user = users.get_user(session, current_user.id)
    if user is None:  # deleted between sign-in and now
        abort(403)
    return user


def publish(session: Session) -> None:
    notifications.publish_outbox(session, panel().bus)
