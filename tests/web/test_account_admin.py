"""Issue 11 #8: passwords can be changed and reset, the admin sees every page it may
open, last sign-in in local time, the role in words."""

from __future__ import annotations

import datetime as dt

from callcenter.db import session_scope
from callcenter.models import User
from callcenter.services.people import users as user_service

from .conftest import PASSWORD, AuthActions

NEW = "a-new-password-1"


def _signed_in(client) -> bool:
    return client.get("/").status_code == 302 and "/auth/login" not in client.get("/").location


def test_changing_ones_password_keeps_this_browser_and_ends_the_others(app, client, auth, settings, users):
    other = AuthActions(app.test_client())
    other.login("agent")
    auth.login("agent")
    wrong = auth.post_form("/account/password", {"current_password": "nope-nope", "new_password": NEW,
                                                 "confirm": NEW})
    assert wrong.status_code == 400 and "当前密码不正确" in wrong.get_data(as_text=True)
    differ = auth.post_form("/account/password", {"current_password": PASSWORD, "new_password": NEW,
                                                  "confirm": NEW + "x"})
    assert differ.status_code == 400 and "两次输入的新密码不一致" in differ.get_data(as_text=True)
    short = auth.post_form("/account/password", {"current_password": PASSWORD, "new_password": "short",
                                                 "confirm": "short"})
    assert short.status_code == 400 and "密码至少 8 位" in short.get_data(as_text=True)
    assert _signed_in(other.client), "failed attempts change nothing"

    done = auth.post_form("/account/password", {"current_password": PASSWORD, "new_password": NEW,
                                                "confirm": NEW})
    assert done.status_code == 302
    assert _signed_in(client), "the browser that changed it stays signed in"
    assert not _signed_in(other.client), "every other session of the user ended"
    with session_scope(settings.database_url) as s:
        assert user_service.verify_password(s.get(User, users["agent"]), NEW)


def test_admin_resets_anothers_password_and_their_sessions_end(app, client, auth, settings, users):
    agent = AuthActions(app.test_client())
    agent.login("agent")
    auth.login("admin")
    assert auth.post_form(f"/admin/users/{users['agent']}/password", {"password": NEW}).status_code == 303
    assert "已重置 agent 的密码" in client.get("/admin/users").get_data(as_text=True)
    assert not _signed_in(agent.client)
    fresh = AuthActions(app.test_client())
    assert fresh.login("agent", NEW).status_code == 302
    auth.post_form(f"/admin/users/{users['qa']}/password", {"password": "short"})
    assert "密码未重置" in client.get("/admin/users").get_data(as_text=True)
    assert auth.post_form("/admin/users/987654/password", {"password": NEW}).status_code == 404


def test_admin_page_lists_local_last_sign_in_role_words_and_the_whole_menu(client, auth, settings, users):
    with session_scope(settings.database_url) as s:
        s.get(User, users["qa"]).last_login_at = dt.datetime(2026, 12, 6, 2, 3, 4, 123456)
    auth.login("admin")
    page = client.get("/admin/users").get_data(as_text=True)
    row = page.split('data-username="qa"')[1].split("</tr>")[0]
    assert '<td class="last-login">2026-12-06 10:03</td>' in row and "123456" not in page
    assert "<td>质检</td>" in row
    assert "（管理员）" in page
    nav = page.split("<nav>")[1].split("</nav>")[0]
    for href, word in (("/admin/users", "用户管理"), ("/tickets/", "工单"), ("/account/password", "更改密码")):
        assert f'<a href="{href}">{word}</a>' in nav
    assert "/callbacks/" not in nav  # what the role may not open is not offered


def test_create_user_refuses_spaces_and_an_interface_without_pjsip(client, auth, settings):
    auth.login("admin")
    auth.post_form("/admin/users", {"username": "wang fang", "password": NEW, "role": "agent"})
    assert "用户名不能包含空格" in client.get("/admin/users").get_data(as_text=True)
    auth.post_form("/admin/users", {"username": "wangfang", "password": NEW, "role": "agent",
                                    "default_interface": "agent1001"})
    assert "话机须写成 PJSIP/" in client.get("/admin/users").get_data(as_text=True)
    with session_scope(settings.database_url) as s:
        assert user_service.find_user(s, "wangfang") is None and user_service.find_user(s, "wang fang") is None


def test_the_supervisor_page_names_agent_states_in_words(client, auth, settings, users):
    from callcenter.models import AgentState, AgentStatus

    with session_scope(settings.database_url) as s:
        s.add(AgentState(user_id=users["agent"], interface="PJSIP/1001", status=AgentStatus.ON_CALL, queues="vip"))
    auth.login("supervisor")
    page = client.get("/supervisor/").get_data(as_text=True)
    assert '<td class="status-on_call">通话中</td>' in page and ">on_call<" not in page
