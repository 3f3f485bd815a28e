"""The agent console: interface, actions on the bus, and the event stream (test client)."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from callcenter.db import session_scope
from callcenter.models import AgentState, AgentStatus, AuditEntry, User

from . import data
from .conftest import PASSWORD, AuthActions, add_user, csrf_token
from .sse_client import parse, read_until


def agent_called(linkedid: str, interface: str = "PJSIP/1001", **extra) -> dict:
    event = {"type": "agent_called", "interface": interface, "linkedid": linkedid, "uniqueid": linkedid + "-a",
             "queue": "vip", "caller_number": "13800138000", "caller_name": "王秀英", "member_name": "agent"}
    event.update(extra)
    return event


@pytest.fixture
def fast_app(app):
    app.config["SSE_HEARTBEAT_S"] = 0.2
    return app


@pytest.fixture
def seated(fast_app, client, auth):
    auth.login("agent")
    assert auth.post_json("/api/agent/interface", {"interface": "PJSIP/1001"}).status_code == 200
    return client


def open_stream(client, headers=None):
    response = client.get("/api/agent/events", headers=headers or {}, buffered=False)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "text/event-stream"
    return response, parse(response.response)


def test_console_prefills_the_default_interface(client, auth):
    auth.login("agent")
    page = client.get("/agent/").get_data(as_text=True)
    assert 'value="PJSIP/1001"' in page


@pytest.mark.parametrize("interface", ["", "1001", "PJSIP/", "PJSIP/1001\r\nAction: Originate", "a/b c",
                                       "PJSIP/" + "1" * 80])
def test_bad_interfaces_are_refused(client, auth, interface):
    auth.login("agent")
    response = auth.post_json("/api/agent/interface", {"interface": interface})
    assert response.status_code == 400
    assert "interface" in response.get_json()["error"]


def test_interface_is_stored_and_held_against_other_agents(client, auth, app, settings, test_password_hash):
    auth.login("agent")
    response = auth.post_json("/api/agent/interface", {"interface": "PJSIP/1007"})
    assert response.get_json()["interface"] == "PJSIP/1007"
    with session_scope(settings.database_url) as s:
        state = s.scalar(select(AgentState))
        assert (state.interface, state.status) == ("PJSIP/1007", AgentStatus.PAUSED)
    add_user(settings.database_url, test_password_hash, "agent2", "agent")
    other = AuthActions(app.test_client())
    other.login("agent2", PASSWORD)
    taken = other.post_json("/api/agent/interface", {"interface": "PJSIP/1007"})
    assert taken.status_code == 409 and "in use" in taken.get_json()["error"]
    auth.logout()  # the first agent leaves: the phone is free
    assert other.post_json("/api/agent/interface", {"interface": "PJSIP/1007"}).status_code == 200


def test_actions_are_published_for_the_ami_owner(seated, auth, bus, users):
    requests = bus.subscribe("ami.action")
    response = auth.post_json("/api/agent/action", {"action": "pause", "reason": "用餐"})
    assert response.status_code == 202
    topic, message = requests.get(timeout=1)
    assert message == {"action": "QueuePause", "interface": "PJSIP/1001", "paused": True, "reason": "用餐",
                       "queue": None, "request_id": response.get_json()["request_id"], "user_id": users["agent"]}
    assert message["request_id"].startswith(f"u{users['agent']}-")
    auth.post_json("/api/agent/action", {"action": "ready"})
    assert requests.get(timeout=1)[1]["paused"] is False
    auth.post_json("/api/agent/action", {"action": "join", "queue": "vip"})
    joined = requests.get(timeout=1)[1]
    assert (joined["action"], joined["queue"], joined["interface"]) == ("QueueAdd", "vip", "PJSIP/1001")
    auth.post_json("/api/agent/action", {"action": "leave", "queue": "vip"})
    assert requests.get(timeout=1)[1]["action"] == "QueueRemove"


@pytest.mark.parametrize("body, message", [
    ({"action": "pause", "reason": ""}, "reason"),
    ({"action": "pause", "reason": "lunch\r\nAction: Originate"}, "printable"),
    ({"action": "dance"}, "unknown"),
    ({"action": "join"}, "queue"),
    ({"action": "join", "queue": "vip,general_q"}, "queue"),
    ({"action": "pause", "reason": "很长的原因" * 6}, "printable"),
])
def test_bad_actions_are_refused_and_nothing_is_published(seated, auth, bus, body, message):
    requests = bus.subscribe("ami.action")
    response = auth.post_json("/api/agent/action", body)
    assert response.status_code == 400 and message in response.get_json()["error"]
    assert requests.get(timeout=0.05) is None


def test_action_without_an_interface_is_refused(client, auth, settings, users):
    with session_scope(settings.database_url) as s:
        s.get(User, users["supervisor"]).default_interface = None
    auth.login("supervisor")
    response = auth.post_json("/api/agent/action", {"action": "ready"})
    assert response.status_code == 400 and "interface" in response.get_json()["error"]


def test_pop_reaches_the_agent_at_that_interface_only(seated, bus, settings, users):
    with session_scope(settings.database_url) as s:
        line = data.vip_line(s)
        cust = data.customer(s)
        data.call(s, "L-1", line=line, customer_id=cust.id, ivr_path=["main", "2"], category="repair")
    response, stream = open_stream(seated)
    read_until(stream, lambda e: e.event == "state")
    bus.publish("agent", agent_called("L-other", interface="PJSIP/2002"))
    bus.publish("agent", agent_called("L-1"))
    events = read_until(stream, lambda e: e.event == "pop")
    pops = [e for e in events if e.event == "pop"]
    assert [p.data["linkedid"] for p in pops] == ["L-1"]
    pop = pops[0].data
    assert pop["customer"]["name"] == "王秀英" and pop["customer"]["vip"]
    assert pop["line"]["name"] == "VIP客户专线" and pop["line"]["kind"] == "vip"
    assert pop["ivr"]["category_label"] == "报修"
    assert pops[0].id and pops[0].id.startswith(bus.epoch + ":")
    response.close()
    with session_scope(settings.database_url) as s:
        assert "screen_pop" in s.scalars(select(AuditEntry.action)).all()


def test_script_in_caller_name_stays_text(seated, bus, client):
    """The name travels as a JSON string and the console only ever assigns textContent."""
    response, stream = open_stream(seated)
    bus.publish("agent", agent_called("L-x", caller_name="<script>alert(1)</script>", caller_number="13912345678"))
    pop = read_until(stream, lambda e: e.event == "pop")[-1].data
    response.close()
    assert pop["caller"]["name"] == "<script>alert(1)</script>"
    assert pop["new_customer"]["number"] == "13912345678"
    page = client.get("/agent/").get_data(as_text=True)
    assert "alert(1)" not in page


def test_console_scripts_never_parse_html():
    from pathlib import Path

    import callcenter.web

    for script in (Path(callcenter.web.__file__).parent / "static" / "js").glob("*.js"):
        text = script.read_text()
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
            assert sink not in text, f"{script.name} uses {sink}"


def test_re_ring_of_the_same_call_does_not_pop_twice(seated, bus):
    response, stream = open_stream(seated)
    bus.publish("agent", agent_called("L-2"))
    bus.publish("agent", {"type": "ring_no_answer", "interface": "PJSIP/1001", "linkedid": "L-2"})
    bus.publish("agent", agent_called("L-2"))
    events = read_until(stream, lambda e: e.event == "ring")
    response.close()
    assert [e.event for e in events if e.event in ("pop", "ring")] == ["pop", "ring"]
    assert any(e.event == "call" and e.data["type"] == "ring_no_answer" for e in events)


def test_only_answers_to_my_own_requests_reach_my_console(seated, auth, bus, users):
    response, stream = open_stream(seated)
    request_id = auth.post_json("/api/agent/action", {"action": "pause", "reason": "培训"}).get_json()["request_id"]
    bus.publish("agent", {"type": "action_result", "request_id": "u999-other", "action": "QueuePause",
                          "interface": "PJSIP/2002", "ok": False, "message": "not mine"})
    bus.publish("agent", {"type": "action_result", "request_id": request_id, "action": "QueuePause",
                          "interface": "PJSIP/1001", "ok": True, "message": "Interface paused successfully"})
    actions = [e for e in read_until(stream, lambda e: e.event == "action") if e.event == "action"]
    response.close()
    assert [(a.data["request_id"], a.data["ok"]) for a in actions] == [(request_id, True)]


def test_reconnect_with_last_event_id_replays_what_was_missed(seated, bus):
    response, stream = open_stream(seated)
    bus.publish("agent", agent_called("L-4"))
    first = read_until(stream, lambda e: e.event == "pop")[-1]
    response.close()
    bus.publish("agent", agent_called("L-5"))  # while the browser is away
    response, stream = open_stream(seated, {"Last-Event-ID": first.id})
    replayed = read_until(stream, lambda e: e.event == "pop")[-1]
    response.close()
    assert replayed.data["linkedid"] == "L-5"


def test_reconnect_to_another_process_recovers_the_ringing_call_from_the_database(seated, settings):
    with session_scope(settings.database_url) as s:
        call = data.call(s, "L-6")
        data.ring(s, call, "PJSIP/1001")
    response, stream = open_stream(seated, {"Last-Event-ID": "someotherworker:17"})
    pop = read_until(stream, lambda e: e.event == "pop")[-1]
    response.close()
    assert pop.data["linkedid"] == "L-6"


def test_notifications_go_to_their_user_only(seated, bus, users):
    response, stream = open_stream(seated)
    bus.publish("notify", {"user_id": users["supervisor"], "message": "not for you"})
    bus.publish("notify", {"user_id": users["agent"], "message": "工单 GD1 已升级"})
    events = read_until(stream, lambda e: e.event == "notify")
    response.close()
    assert [e.data["message"] for e in events if e.event == "notify"] == ["工单 GD1 已升级"]


def test_stream_ends_when_the_session_expires(seated, settings):
    with seated.session_transaction() as sess:
        sess["seen"] = time.time() - settings.session_minutes * 60 + 0.5
    response, stream = open_stream(seated)
    events = read_until(stream, lambda e: e.event == "expired")
    response.close()
    assert events[-1].data == {"reason": "session"}


def test_stream_ends_when_the_user_is_deactivated(seated, settings, users):
    response, stream = open_stream(seated)
    read_until(stream, lambda e: e.event == "state")
    with session_scope(settings.database_url) as s:
        s.get(User, users["agent"]).active = False
    assert read_until(stream, lambda e: e.event == "expired")
    response.close()


def test_streams_release_their_subscription(seated, bus, fast_app):
    streams = fast_app.extensions["callcenter"].streams
    before = bus.subscriber_count()
    response, stream = open_stream(seated)
    read_until(stream, lambda e: e.event == "state")
    assert bus.subscriber_count() == before + 1 and streams.active == 1
    response.close()
    assert bus.subscriber_count() == before and streams.active == 0


def test_stream_limit_answers_503_and_keeps_pages_working(seated, fast_app):
    streams = fast_app.extensions["callcenter"].streams
    streams.limit = 1
    first, _ = open_stream(seated)
    second = seated.get("/api/agent/events")
    assert second.status_code == 503 and second.headers["Retry-After"]
    assert seated.get("/agent/").status_code == 200
    first.close()
    third, _ = open_stream(seated)
    third.close()


def test_new_customer_from_the_pop(seated, auth, settings):
    with session_scope(settings.database_url) as s:
        data.call(s, "L-7", number="13912345678", e164="+8613912345678")
    response = auth.post_json("/api/customers", {"name": "赵敏", "number": "13912345678", "building": "5",
                                                 "unit": "1", "room": "302", "linkedid": "L-7"})
    assert response.status_code == 201
    assert response.get_json()["unit_address"] == "5栋-1单元-302"
    bad = auth.post_json("/api/customers", {"name": "", "number": "13912345678"})
    assert bad.status_code == 400 and "name" in bad.get_json()["error"]


def test_search_endpoint(seated, auth, settings):
    with session_scope(settings.database_url) as s:
        data.customer(s, name="張偉", number="+8613600000001")
    result = seated.get("/api/search", query_string={"q": "张伟"}).get_json()
    assert [c["name"] for c in result["customers"]] == ["張偉"]


def test_customer_record_page_escapes_and_audits(seated, settings, users):
    with session_scope(settings.database_url) as s:
        cust = data.customer(s, name="<script>alert(2)</script>", number="+8613600000009")
    page = seated.get(f"/customers/{cust.id}")
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    assert "<script>alert(2)" not in body and "&lt;script&gt;alert(2)&lt;/script&gt;" in body
    with session_scope(settings.database_url) as s:
        entry = s.scalar(select(AuditEntry).where(AuditEntry.action == "view"))
        assert (entry.user_id, entry.object_id) == (users["agent"], str(cust.id))
    assert seated.get("/customers/999999").status_code == 404


def test_logout_pauses_the_phone(seated, auth, bus):
    requests = bus.subscribe("ami.action")
    auth.logout()
    message = requests.get(timeout=1)[1]
    assert (message["action"], message["interface"], message["paused"]) == ("QueuePause", "PJSIP/1001", True)


def test_csrf_token_helper_sanity(client):
    assert len(csrf_token(client)) > 20


def test_one_pop_per_pop_key_and_call_events_name_it(seated, bus, settings, users):
    """A transfer puts the caller on another channel (another linkedid on some PBXs): the
    pop key the listener carries keeps it one pop."""
    with session_scope(settings.database_url) as s:
        line = data.vip_line(s)
        call_id = data.call(s, "L-9", line=line, category="repair").id
    response, stream = open_stream(seated)
    read_until(stream, lambda e: e.event == "state")
    bus.publish("agent", agent_called("L-9", call_id=call_id, pop_key="KEY-9"))
    bus.publish("agent", agent_called("L-9b", call_id=call_id, pop_key="KEY-9"))
    bus.publish("agent", {"type": "agent_connect", "interface": "PJSIP/1001", "linkedid": "L-9b",
                          "pop_key": "KEY-9"})
    events = read_until(stream, lambda e: e.event == "call")
    assert [(e.event, e.data.get("pop_key")) for e in events if e.event in ("pop", "ring", "call")] == [
        ("pop", "KEY-9"), ("ring", "KEY-9"), ("call", "KEY-9")]
    response.close()
