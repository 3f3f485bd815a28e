"""The signed-in user's own account: changing one's password.

The first start tells the administrator to change the generated password after
signing in; this is where. Every other session of the user ends (another browser, a
stolen cookie); this one carries on with the new session version.
"""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_login import current_user

from callcenter.services.people import users
from callcenter.web.context import unit_of_work
from callcenter.web.login import SESSION_VERSION_KEY
from callcenter.web.roles import signed_in

bp = Blueprint("account", __name__, url_prefix="/account")


@bp.route("/password", methods=["GET", "POST"])
@signed_in
def password():
    if request.method == "GET":
        return render_template("account/password.html")
    form = request.form
    if form.get("new_password", "") != form.get("confirm", ""):
        flash("两次输入的新密码不一致 (the new passwords differ)", "error")
        return render_template("account/password.html"), 400
    try:
        with unit_of_work() as s:
            user = users.change_own_password(s, current_user.id, form.get("current_password", ""),
                                             form.get("new_password", ""))
            version = user.session_version
    except users.UserError as exc:
        flash(f"密码未更改：{exc}", "error")
        return render_template("account/password.html"), 400
    session[SESSION_VERSION_KEY] = version  # this browser stays signed in; the others end
    flash("密码已更改，其他已登录的浏览器已退出")
    return redirect(url_for("main.index"))
