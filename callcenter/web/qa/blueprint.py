"""The QA blueprint and who may do what on it."""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, abort
from flask_login import current_user

from callcenter.labels import TICKET_TYPES, label
from callcenter.models import Call
from callcenter.timeutil import to_local
from callcenter.web.context import panel
from callcenter.web.roles import ADMIN, AGENT, QA, SUPERVISOR

bp = Blueprint("qa", __name__, url_prefix="/qa")

# Who may hear recordings and open a call's QA page: QA, supervisors, admins, and the
# agent who took the call (checked per call by ``may_hear``).
LISTENERS = (QA, SUPERVISOR, ADMIN, AGENT)
INSPECTORS = (QA, SUPERVISOR)            # score and comment
MANAGERS = (QA, SUPERVISOR, ADMIN)       # samples, reports


def may_hear(call: Call | None) -> Call:
    """The call, if the signed-in user may hear it (404 / 403 otherwise)."""
    if call is None:
        abort(404)
    if current_user.role == AGENT and call.answered_by_user_id != current_user.id:
        abort(403)
    return call


def local_today() -> dt.date:
    """Today in the site's time zone."""
    return to_local(dt.datetime.now(dt.UTC).replace(tzinfo=None), panel().settings.timezone).date()


REASON_LABELS = {"complaint": "投诉", "flagged": "质检标记（回访不满意/用语检查）", "short": "通话过短",
                 "long": "通话过长", "new_agent": "新坐席"}
LINE_LABELS = {"vip": "VIP线路", "ordinary": "普通线路"}


@bp.app_template_filter("qa_reason")
def reason_label(reason: str) -> str:
    """Why a call was drawn, in the panel's words."""
    if reason.startswith("stratum:"):
        parts = dict(p.split("=", 1) for p in reason[len("stratum:"):].split("/") if "=" in p)
        words = [LINE_LABELS.get(parts.get("line", ""), "线路未知") if "line" in parts else "",
                 f"队列 {parts['queue']}" if parts.get("queue", "-") != "-" else "",
                 label(TICKET_TYPES, parts["ticket_type"]) if parts.get("ticket_type", "-") != "-" else "无工单"
                 if "ticket_type" in parts else ""]
        return "分层：" + " / ".join(w for w in words if w) if any(words) else "分层：全部"
    return REASON_LABELS.get(reason, reason)


@bp.app_template_filter("period_last_day")
def period_last_day(end: dt.date) -> dt.date:
    """A period is stored as [start, end); people read its last day."""
    return end - dt.timedelta(days=1)
