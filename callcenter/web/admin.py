"""User administration: list, create, deactivate / reactivate, reset a password."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from callcenter.labels import ROLES, label
from callcenter.models import Role
from callcenter.services.people import users
from callcenter.timeutil import to_local
from callcenter.web.context import panel, unit_of_work
from callcenter.web.roles import ADMIN, roles_required

bp = Blueprint("admin", __name__, url_prefix="/admin")


def _row(user) -> dict:
    last = user.last_login_at
    return {
        "id": user.id, "username": user.username, "display_name": user.display_name,
        "role": label(ROLES, user.role), "default_interface": user.default_interface or "",
        "active": user.active, "me": user.id == current_user.id,
        # Local time, to the minute: an administrator reads it, nobody needs microseconds.
        "last_login": to_local(last, panel().settings.timezone).strftime("%Y-%m-%d %H:%M") if last else "从未登录",
    }


@bp.route("/users", endpoint="users")
@roles_required(ADMIN)
def users_page():
    with unit_of_work() as s:
        rows = [_row(u) for u in users.list_users(s)]
    return render_template("admin/users.html", users=rows, roles=[(r.value, label(ROLES, r)) for r in Role])


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


@bp.route("/users/<int:user_id>/password", methods=["POST"])
@roles_required(ADMIN)
def reset_password(user_id: int):
    """A new password for someone who forgot theirs; their open sessions end. (One's
    own password is changed on the account page, which asks for the current one.)"""
    if user_id == current_user.id:
        flash("请在“更改密码”页面修改自己的密码", "error")
        return redirect(url_for("admin.users")), 303
    try:
        with unit_of_work() as s:
            user = users.admin_reset_password(s, user_id, request.form.get("password", ""),
                                              admin_id=current_user.id)
            if user is None:
                abort(404)
            flash(f"已重置 {user.username} 的密码，其已登录的会话全部退出")
    except users.UserError as exc:
        flash(f"密码未重置：{exc}", "error")
    return redirect(url_for("admin.users")), 303
