"""The panel's front door: each role lands on its own page."""

from __future__ import annotations

from flask import Blueprint, redirect, url_for
from flask_login import current_user

from callcenter.web.roles import signed_in

bp = Blueprint("main", __name__)

LANDING = {
    "agent": "agent.console",
    "supervisor": "supervisor.index",
    "qa": "qa.index",
    "admin": "admin.users",
}


@bp.route("/")
@signed_in
def index():
    return redirect(url_for(LANDING[current_user.role]))
