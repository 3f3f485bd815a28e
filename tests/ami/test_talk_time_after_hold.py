"""A call put on hold from the console leaves the queue's bridge, so no AgentComplete ever
measures its conversation: its talk time is then taken from its own ends (answered →
hung up). Seen on Asterisk 22 (tests/live/test_console_hold.py)."""

from __future__ import annotations

import datetime as dt

from callcenter.models import Call, CallStatus
from callcenter.services.calls import calltrack

T0 = dt.datetime(2026, 12, 6, 2, 0, 0)


def test_an_answered_call_without_agent_complete_gets_its_talk_time_at_hangup(session):
    call = Call(uniqueid="1765000000.1", linkedid="1765000000.1", status=CallStatus.ANSWERED,
                started_at=T0, answered_at=T0 + dt.timedelta(seconds=3))
    session.add(call)
    session.flush()
    calltrack.channel_hung_up(session, uniqueid=call.uniqueid, cause="16", cause_txt="Normal Clearing",
                              at=T0 + dt.timedelta(seconds=45), callback_due=dt.timedelta(hours=2))
    assert (call.status, call.talk_seconds) == (CallStatus.COMPLETED, 42)


def test_a_talk_time_from_agent_complete_is_kept(session):
    call = Call(uniqueid="1765000000.2", linkedid="1765000000.2", status=CallStatus.COMPLETED,
                started_at=T0, answered_at=T0, talk_seconds=13)
    session.add(call)
    session.flush()
    calltrack.channel_hung_up(session, uniqueid=call.uniqueid, cause="16", cause_txt="Normal Clearing",
                              at=T0 + dt.timedelta(seconds=60), callback_due=dt.timedelta(hours=2))
    assert call.talk_seconds == 13
