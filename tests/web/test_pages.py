"""Supervisor, QA, admin and callback pages show real data and change it correctly."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from callcenter.db import session_scope, utcnow
from callcenter.models import AgentState, AgentStatus, CallbackStatus, CallbackTask, CallStatus, Queue, QueueKind, User
from callcenter.services.calls import callbacks

from . import data
from .conftest import AuthActions


def test_supervisor_overview_counts_today_per_queue_and_lists_agents(client, auth, settings, users):
    yesterday = utcnow() - dt.timedelta(days=2)
    with session_scope(settings.database_url) as s:
        s.add(Queue(name="general_q", kind=QueueKind.GENERAL))
        data.call(s, "q1", queue="vip", status=CallStatus.QUEUED)
        data.call(s, "q2", queue="vip", status=CallStatus.RINGING)
        data.call(s, "q3", queue="vip", status=CallStatus.COMPLETED)
        data.call(s, "q4", queue="vip", status=CallStatus.ABANDONED)
        data.call(s, "q5", queue="vip", status=CallStatus.COMPLETED, started_at=yesterday)
        s.add(AgentState(user_id=users["agent"], interface="PJSIP/1001", status=AgentStatus.PAUSED, pause_reason="用餐"))
    auth.login("supervisor")
    overview = client.get("/api/supervisor/overview").get_json()
    queues = {q["name"]: q for q in overview["queues"]}
    assert queues["vip"] == {"name": "vip", "waiting": 1, "ringing": 1, "answered": 1, "abandoned": 1, "total": 4}
    assert queues["general_q"]["total"] == 0, "configured queues show even without calls"
    agents = {a["username"]: a for a in overview["agents"]}
    assert (agents["agent"]["status"], agents["agent"]["pause_reason"]) == ("paused", "用餐")
    assert agents["supervisor"]["status"] == "offline"
    assert "qa" not in agents and "admin" not in agents
    page = client.get("/supervisor/").get_data(as_text=True)
    assert "PJSIP/1001" in page and "用餐" in page


def test_supervisor_stream_forwards_agent_events_with_masking(app, client, auth, bus, settings, users):
    app.config["SSE_HEARTBEAT_S"] = 0.2
    app.extensions["callcenter"].settings = settings.model_copy(update={"unmasked_roles": ["agent"]})
    from .sse_client import parse, read_until

    auth.login("supervisor")
    response = client.get("/api/supervisor/events", buffered=False)
    stream = parse(response.response)
    bus.publish("agent", {"type": "agent_called", "interface": "PJSIP/1001", "linkedid": "S-1",
                          "caller_number": "13800138000", "caller_name": "王秀英", "queue": "vip"})
    event = read_until(stream, lambda e: e.event == "agent")[-1]
    response.close()
    assert event.data == {"type": "agent_called", "interface": "PJSIP/1001", "queue": "vip", "linkedid": "S-1",
                          "caller_number": "138****8000"}


def test_qa_sees_todays_recorded_calls_only_with_masked_numbers(client, auth, settings):
    with session_scope(settings.database_url) as s:
        data.call(s, "r1", status=CallStatus.COMPLETED, recording_file="/var/spool/asterisk/monitor/r1.wav",
                  category="complaint", answered_by_interface="PJSIP/1001", talk_seconds=95)
        data.call(s, "r2", status=CallStatus.COMPLETED)  # not recorded
        data.call(s, "r3", status=CallStatus.COMPLETED, recording_file="r3.wav",
                  started_at=utcnow() - dt.timedelta(days=3))
    auth.login("qa")
    page = client.get("/qa/").get_data(as_text=True)
    assert "r1.wav" in page and "投诉" in page and "95" in page
    assert "r3.wav" not in page
    assert "138****8000" in page and "13800138000" not in page


def test_admin_creates_and_deactivates_users(app, client, auth, settings, users):
    auth.login("admin")
    response = auth.post_form("/admin/users", {"username": "li", "password": "long-enough-1", "role": "qa",
                                                "display_name": "李质检"})
    assert response.status_code == 303
    page = client.get("/admin/users").get_data(as_text=True)
    assert "李质检" in page
    refused = auth.post_form("/admin/users", {"username": "li", "password": "long-enough-1", "role": "qa"})
    assert refused.status_code == 303
    assert "already exists" in client.get("/admin/users").get_data(as_text=True)
    short = auth.post_form("/admin/users", {"username": "x", "password": "short", "role": "agent"})
    assert short.status_code == 303
    with session_scope(settings.database_url) as s:
        li = s.scalar(select(User).where(User.username == "li"))
        assert li.role.value == "qa" and li.password_hash != "long-enough-1"
        assert s.scalar(select(User).where(User.username == "x")) is None
        li_id = li.id

    li_client = AuthActions(app.test_client())
    assert li_client.login("li", "long-enough-1").status_code == 302
    assert auth.post_form(f"/admin/users/{li_id}/active", {"active": "0"}).status_code == 303
    assert li_client.client.get("/qa/").status_code == 302, "the open session ended"
    assert li_client.login("li", "long-enough-1").status_code == 401
    assert auth.post_form(f"/admin/users/{li_id}/active", {"active": "1"}).status_code == 303
    assert li_client.login("li", "long-enough-1").status_code == 302


def test_admin_cannot_deactivate_themselves(client, auth, settings, users):
    auth.login("admin")
    auth.post_form(f"/admin/users/{users['admin']}/active", {"active": "0"})
    with session_scope(settings.database_url) as s:
        assert s.get(User, users["admin"]).active


def test_callbacks_list_and_done(client, auth, settings, users):
    with session_scope(settings.database_url) as s:
        task = callbacks.create_callback(s, number="13800138000", reason="abandoned")
        done_already = callbacks.create_callback(s, number="13900000000", reason="after_hours")
        callbacks.complete_callback(s, done_already, None)
        task_id = task.id
    auth.login("agent")
    page = client.get("/callbacks/").get_data(as_text=True)
    assert "13800138000" in page and "放弃来电" in page and "13900000000" not in page
    assert auth.post_form(f"/callbacks/{task_id}/done", {"notes": "已回电，客户满意"}).status_code == 302
    with session_scope(settings.database_url) as s:
        task = s.get(CallbackTask, task_id)
        assert task.status is CallbackStatus.DONE and task.done_by_id == users["agent"]
        assert "已回电" in task.notes
    again = auth.post_form(f"/callbacks/{task_id}/done")
    assert again.status_code == 302
    assert "已处理" in client.get("/callbacks/").get_data(as_text=True)
    assert auth.post_form("/callbacks/999999/done").status_code == 404


def test_callbacks_mask_numbers_for_a_masked_role(app, client, auth, settings):
    app.extensions["callcenter"].settings = settings.model_copy(update={"unmasked_roles": ["admin"]})
    with session_scope(settings.database_url) as s:
        callbacks.create_callback(s, number="13800138000", reason="abandoned")
    auth.login("supervisor")
    page = client.get("/callbacks/").get_data(as_text=True)
    assert "138****8000" in page and "13800138000" not in page


def test_errors_are_pages_for_pages_and_json_for_the_api(client, auth):
    auth.login("qa")
    page = client.get("/admin/users")
    assert page.status_code == 403 and "无权访问" in page.get_data(as_text=True)
    api = client.get("/api/search?q=x")
    assert api.status_code == 403 and api.is_json
    assert client.get("/no/such/page").status_code == 404
