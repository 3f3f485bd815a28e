"""The top bar's menu: every page the signed-in role may open, in one list.

A page appears when its view exists (another area may not be installed) and the view's
own access rule (``roles_required``) lets the role in, so the menu and the access
matrix cannot disagree. Areas that add a page add one line to ``MENU``.
"""

from __future__ import annotations

from flask import current_app, url_for

from callcenter.web.roles import PUBLIC, access_of

# (endpoint, label), in menu order.
MENU: list[tuple[str, str]] = [
    ("agent.console", "坐席"),
    ("callbacks.index", "回电任务"),
    ("tickets.index", "工单"),
    ("surveys.index", "回访"),
    ("supervisor.index", "队列监控"),
    ("wallboard.index", "实时看板"),
    ("reports.index", "报表"),
    ("qa.index", "质检"),
    ("qa.mine", "我的质检"),
    ("admin.users", "用户管理"),
    ("calls_ui.codes_page", "话后处理代码"),
    ("account.password", "更改密码"),
]


def links(role: str | None) -> list[tuple[str, str]]:
    """(url, label) of every menu page ``role`` may open."""
    out = []
    for endpoint, label in MENU:
        view = current_app.view_functions.get(endpoint)
        if view is None:
            continue
        access = access_of(view)
        if access == PUBLIC or (access is not None and role in access):
            out.append((url_for(endpoint), label))
    return out
