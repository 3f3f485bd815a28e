"""User administration: list, create, deactivate / reactivate."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from callcenter.models import Role
from callcenter.services.people import users
from callcenter.web.context import unit_of_work
from callcenter.web.roles import ADMIN, roles_required

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.route("/users", endpoint="users")
@roles_required(ADMIN)
def users_page():
    with unit_of_work() as s:
        rows = users.list_users(s)
    return render_template("admin/users.html", users=rows, roles=[r.value for r in Role])


@bp.route("/users", methods=["POST"])
@roles_required(ADMIN)
def create_user():
    form = request.form
    try:
        with unit_of_work() as s:
            user = users.admin_create_user(
                s, admin_id=current_user.id, username=form.get("username", ""), password=form.get("password", ""),
                role=form.get("role", ""), display_name=form.get("display_name", "").strip()[:100],
                default_interface=form.get("default_interface", "").strip()[:80] or None)
            flash(f"已创建用户 {user.username}")
    except users.UserError as exc:
        flash(f"未创建：{exc}", "error")
        return redirect(url_for("admin.users")), 303
    return redirect(url_for("admin.users")), 303


@bp.route("/users/<int:user_id>/active", methods=["POST"])
@roles_required(ADMIN)
def set_active(user_id: int):
    active = request.form.get("active") == "1"
    if user_id == current_user.id and not active:
        flash("不能停用自己的账号 (you cannot deactivate yourself)", "error")
        return redirect(url_for("admin.users")), 303
    with unit_of_work() as s:
        user = users.admin_set_active(s, user_id, active, admin_id=current_user.id)
        if user is None:
            abort(404)
        flash(f"{user.username} {'已启用' if active else '已停用'}")
    return redirect(url_for("admin.users")), 303
