"""Call controls and wrap-up codes at the web side: what is published for the AMI owner,
what bad input gets (a clear error, nothing published), and the admins' code list."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from callcenter.db import session_scope
from callcenter.models import CallWrapUp, WrapUpCode

from . import data


@pytest.fixture
def seated_call(client, auth, settings):
    auth.login("agent")
    assert auth.post_json("/api/agent/interface", {"interface": "PJSIP/1001"}).status_code == 200
    with session_scope(settings.database_url) as s:
        call = data.call(s, "L-77", channel="PJSIP/trunk-provider-00000007", screen_pop_key="pk77")
        return call.id


def test_transfer_is_published_for_the_ami_owner(seated_call, auth, bus, users):
    requests = bus.subscribe("ami.action")
    response = auth.post_json("/api/agent/call", {"op": "transfer", "linkedid": "L-77", "target_kind": "agent",
                                                  "target": "PJSIP/agent1002"})
    assert response.status_code == 202
    _, message = requests.get(timeout=1)
    assert message == {
        "action": "CallControl", "op": "transfer", "interface": "PJSIP/1001", "uniqueid": "L-77",
        "channel": "PJSIP/trunk-provider-00000007", "linkedid": "L-77", "call_id": seated_call, "pop_key": "pk77",
        "target_kind": "agent", "target": "PJSIP/agent1002", "attended": False,
        "request_id": response.get_json()["request_id"], "user_id": users["agent"]}


def test_an_attended_transfer_is_published_as_such(seated_call, auth, bus):
    requests = bus.subscribe("ami.action")
    response = auth.post_json("/api/agent/call", {"op": "transfer", "linkedid": "L-77", "target_kind": "agent",
                                                  "target": "PJSIP/agent1002", "attended": True})
    assert response.status_code == 202
    _, message = requests.get(timeout=1)
    assert (message["op"], message["target"], message["attended"]) == ("transfer", "PJSIP/agent1002", True)


@pytest.mark.parametrize("body, status, words", [
    ({"op": "transfer", "linkedid": "L-77", "target_kind": "number", "target": "12"}, 400, "3 至 20 位"),
    ({"op": "transfer", "linkedid": "L-77", "target_kind": "agent", "target": "PJSIP/1001"}, 400, "自己"),
    ({"op": "transfer", "linkedid": "L-77", "target_kind": "agent", "target": "x\r\nAction: Originate"}, 400, "interface"),
    ({"op": "transfer", "linkedid": "L-77", "target_kind": "fax", "target": "1"}, 400, "坐席、队列或外线号码"),
    ({"op": "explode", "linkedid": "L-77"}, 400, "unknown call control"),
    ({"op": "transfer", "linkedid": "L-77", "target_kind": "queue", "target": "vip", "attended": True}, 400,
     "咨询转接只能转给坐席或外线号码"),
    ({"op": "hangup", "linkedid": "no-such-call"}, 404, "没有这通电话"),
])
def test_bad_call_controls_are_refused_and_nothing_is_published(seated_call, auth, bus, body, status, words):
    requests = bus.subscribe("ami.action")
    response = auth.post_json("/api/agent/call", body)
    assert response.status_code == status and words in response.get_json()["error"]
    assert requests.get(timeout=0.05) is None


def test_wrap_up_code_chosen_per_call_and_chosen_again_replaces_it(seated_call, auth, settings, users):
    codes = auth.client.get("/api/agent/wrapup-codes").get_json()["codes"]
    labels = {c["label"]: c["id"] for c in codes}
    assert {"已解决", "已建工单", "需回电"} <= set(labels)
    assert auth.post_json("/api/agent/wrapup", {"linkedid": "L-77", "code_id": labels["需回电"]}).status_code == 200
    answer = auth.post_json("/api/agent/wrapup", {"linkedid": "L-77", "code_id": labels["已解决"], "note": "ok"})
    assert answer.get_json() == {"ok": True, "label": "已解决"}
    bad = auth.post_json("/api/agent/wrapup", {"linkedid": "L-77", "code_id": "abc"})
    assert bad.status_code == 400 and "话后处理代码" in bad.get_json()["error"]
    with session_scope(settings.database_url) as s:
        [row] = s.scalars(select(CallWrapUp).where(CallWrapUp.call_id == seated_call))
        assert (row.code.label, row.note, row.user_id) == ("已解决", "ok", users["agent"])


def test_admin_edits_the_code_list_and_a_retired_code_is_not_offered(client, auth, settings):
    auth.login("admin")
    page = client.get("/admin/wrapup-codes")
    assert page.status_code == 200 and "骚扰电话" in page.get_data(as_text=True)
    assert auth.post_form("/admin/wrapup-codes", {"code": "vip_follow", "label": "VIP跟进", "sort": "5",
                                                  "active": "1"}).status_code == 303
    assert auth.post_form("/admin/wrapup-codes", {"code": "nuisance", "label": "骚扰电话", "sort": "60",
                                                  "active": "0"}).status_code == 303
    refused = auth.post_form("/admin/wrapup-codes", {"code": "Bad Code", "label": "x", "active": "1"})
    assert refused.status_code == 303
    with session_scope(settings.database_url) as s:
        assert s.scalar(select(WrapUpCode).where(WrapUpCode.code == "vip_follow")).label == "VIP跟进"
        assert s.scalar(select(WrapUpCode).where(WrapUpCode.code == "Bad Code")) is None
    auth.logout()
    auth.login("agent")
    offered = [c["label"] for c in client.get("/api/agent/wrapup-codes").get_json()["codes"]]
    assert offered[0] == "已解决" and "VIP跟进" in offered and "骚扰电话" not in offered
