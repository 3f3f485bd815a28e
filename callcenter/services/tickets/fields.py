"""What an agent records for each ticket type, as data (REQUIREMENTS.md "Request types",
"Complaints", "Repairs").

Each type has a list of ``FieldSpec``: the keys stored in ``Ticket.fields`` (JSON), with
the label the panel shows, whether it is required and which values are allowed. The
columns every ticket has (subject, contact phone, severity, urgency, appointment,
paid/warranty, completed-at, department ...) live on ``Ticket`` itself; ``COLUMN_RULES``
says which of them a type requires, so one validation covers both.

``validate_fields`` is the only gate: the ticket service calls it on create and on
every update, and the panel renders its forms from the same specs.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from typing import Any

from callcenter.models import TicketType


class FieldValidationError(ValueError):
    """One message per offending field, ready to show next to the form."""

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = dict(errors)
        super().__init__("; ".join(self.errors.values()))


@dataclasses.dataclass(frozen=True)
class Choice:
    value: str
    label: str


@dataclasses.dataclass(frozen=True)
class FieldSpec:
    name: str
    label: str                      # Chinese label as the paper forms have it
    label_en: str
    kind: str = "text"              # text | textarea | choice | datetime
    required: bool = False
    choices: tuple[Choice, ...] = ()
    max_length: int = 200

    @property
    def display(self) -> str:
        return f"{self.label} ({self.label_en})"


def _choices(*pairs: tuple[str, str]) -> tuple[Choice, ...]:
    return tuple(Choice(v, label) for v, label in pairs)


COMPLAINT_CHANNELS = _choices(("phone", "电话"), ("in_person", "来访"), ("letter", "信函"), ("other", "其他"))
COMPLAINT_CATEGORIES = _choices(
    ("business", "业务服务"), ("design", "设计服务"), ("engineering", "工程服务"),
    ("materials", "材料服务"), ("project_management", "工程管理"),
)
ORDER_REQUESTS = _choices(("enquiry", "订单查询"), ("return", "退货"), ("exchange", "换货"), ("other", "其他"))

# Complaint severity × urgency and repair paid/warranty are Ticket columns; their
# allowed values are here so the forms and the service agree.
SEVERITIES = _choices(("ordinary", "一般"), ("serious", "重大"))
URGENCIES = _choices(("not_urgent", "不紧急"), ("urgent", "紧急"))

_TOPIC = FieldSpec("topic", "主题", "topic", required=True)
_ANSWER = FieldSpec("answer", "答复", "answer", kind="textarea", max_length=4000)

FIELD_SPECS: dict[TicketType, tuple[FieldSpec, ...]] = {
    TicketType.COMPLAINT: (
        FieldSpec("complainant", "投诉人", "complainant", required=True, max_length=100),
        FieldSpec("area", "小区/区域", "area", max_length=100),
        FieldSpec("building", "栋", "building", max_length=32),
        FieldSpec("unit", "单元", "unit", max_length=32),
        FieldSpec("room", "房号", "room", max_length=32),
        FieldSpec("complained_at", "投诉时间", "time of complaint", kind="datetime"),
        FieldSpec("channel", "投诉方式", "channel", kind="choice", required=True, choices=COMPLAINT_CHANNELS),
        FieldSpec("target", "投诉对象", "what is complained about", required=True),
        FieldSpec("customer_wants", "客户诉求", "what the customer wants", kind="textarea", max_length=4000),
        FieldSpec("category", "投诉类别", "category", kind="choice", choices=COMPLAINT_CATEGORIES),
    ),
    TicketType.REPAIR: (
        FieldSpec("name", "报修人", "name", required=True, max_length=100),
        FieldSpec("address", "地址", "address", required=True, max_length=255),
        FieldSpec("item", "报修内容", "what needs repair", kind="textarea", required=True, max_length=4000),
    ),
    TicketType.ORDER: (
        FieldSpec("order_number", "订单号", "order number", required=True, max_length=64),
        FieldSpec("item", "商品", "item", required=True),
        FieldSpec("request", "诉求", "request", kind="choice", required=True, choices=ORDER_REQUESTS),
        FieldSpec("reason", "退换货原因", "return/exchange reason", kind="textarea", max_length=4000),
    ),
    TicketType.CONSULTATION: (_TOPIC, _ANSWER),
    TicketType.SUGGESTION: (_TOPIC, _ANSWER),
}

# Ticket columns a type requires (on create; an update may not clear them).
COLUMN_RULES: dict[TicketType, dict[str, str]] = {
    TicketType.COMPLAINT: {
        "contact_phone": "联系电话 (phone) is required for a complaint",
        "severity": "严重程度 (severity: ordinary or serious) is required for a complaint",
        "urgency": "紧急程度 (urgency: urgent or not urgent) is required for a complaint",
    },
    TicketType.REPAIR: {
        "contact_phone": "联系电话 (phone) is required for a repair",
    },
}


def specs_for(ticket_type: TicketType | str) -> tuple[FieldSpec, ...]:
    return FIELD_SPECS[TicketType(ticket_type)]


def _clean_datetime(spec: FieldSpec, value: Any) -> str:
    """Stored as an ISO string (JSON has no datetime); accepts what a form or an API sends."""
    if isinstance(value, dt.datetime):
        return value.replace(microsecond=0).isoformat()
    text = str(value).strip()
    for fmt in ("%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"):
        try:
            return dt.datetime.strptime(text, fmt).isoformat()
        except ValueError:
            continue
    raise ValueError(f"{spec.display}: {text!r} is not a date and time (YYYY-MM-DD HH:MM)")


def _clean_one(spec: FieldSpec, value: Any) -> str:
    if spec.kind == "datetime":
        return _clean_datetime(spec, value)
    text = str(value).strip()
    if spec.kind == "choice":
        allowed = [c.value for c in spec.choices]
        # Accept the Chinese label too: a CSV import or an API caller may send 电话.
        by_label = {c.label: c.value for c in spec.choices}
        text = by_label.get(text, text)
        if text not in allowed:
            raise ValueError(f"{spec.display}: {text!r} is not one of {', '.join(allowed)}")
        return text
    if len(text) > spec.max_length:
        raise ValueError(f"{spec.display}: at most {spec.max_length} characters ({len(text)} given)")
    return text


def validate_fields(ticket_type: TicketType | str, fields: Mapping[str, Any] | None) -> dict[str, str]:
    """Return the cleaned fields for ``ticket_type`` or raise FieldValidationError.

    Strings are stripped; empty values are dropped; unknown keys are refused (a typo
    must not silently lose what the agent typed)."""
    specs = {s.name: s for s in specs_for(ticket_type)}
    errors: dict[str, str] = {}
    cleaned: dict[str, str] = {}
    for key, value in (fields or {}).items():
        spec = specs.get(key)
        if spec is None:
            errors[key] = (f"unknown field {key!r} for a {TicketType(ticket_type).value} ticket; "
                           f"known: {', '.join(specs)}")
            continue
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        try:
            cleaned[key] = _clean_one(spec, value)
        except ValueError as exc:
            errors[key] = str(exc)
    for name, spec in specs.items():
        if spec.required and name not in cleaned and name not in errors:
            errors[name] = f"{spec.display} is required"
    if errors:
        raise FieldValidationError(errors)
    return cleaned


def validate_columns(ticket_type: TicketType | str, values: Mapping[str, Any]) -> None:
    """Check the Ticket columns a type requires (contact phone, severity, urgency)."""
    rules = COLUMN_RULES.get(TicketType(ticket_type), {})
    errors = {name: msg for name, msg in rules.items() if not str(values.get(name) or "").strip()}
    severity, urgency = values.get("severity") or "", values.get("urgency") or ""
    if severity and severity not in {c.value for c in SEVERITIES}:
        errors["severity"] = f"严重程度 (severity): {severity!r} is not one of ordinary, serious"
    if urgency and urgency not in {c.value for c in URGENCIES}:
        errors["urgency"] = f"紧急程度 (urgency): {urgency!r} is not one of urgent, not_urgent"
    if errors:
        raise FieldValidationError(errors)
