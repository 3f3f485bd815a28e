"""The QA blueprint and who may do what on it."""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, abort
from flask_login import current_user

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
