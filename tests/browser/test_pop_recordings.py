"""The pop's last calls link the recordings of the agent's own earlier calls (played on the
QA page, which lets the agent who took a call hear it); others' calls carry no link."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from callcenter.db import session_scope, utcnow
from callcenter.models import Call, CallStatus, User

from .test_screenpop_browser import INTERFACE, VIP_LINKEDID, page, sign_in_and_sit, site  # noqa: F401

pytestmark = pytest.mark.browser


def test_own_earlier_calls_link_their_recordings(page, site):  # noqa: F811
    with session_scope(site["db"]) as s:
        wang = s.scalar(select(User).where(User.username == "wang"))
        other = User(username="li", display_name="李坐席", role="agent", password_hash="x")
        s.add(other)
        s.flush()
        for n, agent_id in ((1, wang.id), (2, other.id)):
            s.add(Call(uniqueid=f"1763700000.{n}", linkedid=f"1763700000.{n}", caller_number="13800138000",
                       caller_e164="+8613800138000", customer_id=site["customer_id"], status=CallStatus.COMPLETED,
                       started_at=utcnow() - dt.timedelta(days=n), answered_by_user_id=agent_id, talk_seconds=60,
                       recording_file=f"calls/2026/12/0{n}/1763700000.{n}.wav"))
        s.flush()
        own_id = s.scalar(select(Call.id).where(Call.uniqueid == "1763700000.1"))
    sign_in_and_sit(page, site)
    site["emulator"].agent_called(interface=INTERFACE, linkedid=VIP_LINKEDID, caller="13800138000")
    pop = page.wait_for_selector(f".pop[data-linkedid='{VIP_LINKEDID}']")
    links = pop.query_selector_all(".last-calls a.recording-link")
    assert [link.get_attribute("href") for link in links] == [f"/qa/calls/{own_id}"]
    assert len(pop.query_selector_all(".last-calls li")) >= 2
