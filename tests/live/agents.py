"""Agents sign in the way the console does it: queues.conf has no members, so an agent
takes calls only after an AMI QueueAdd (dynamic member) on the interface they sit at."""

from __future__ import annotations

import time

from sqlalchemy import select

from callcenter.db import session_scope
from callcenter.models import Call, CallStatus


def sign_in(live, interface: str, queue: str, *, name: str, penalty: int = 0) -> None:
    """QueueAdd as the AMI listener sends it for the console (unpaused); signing in twice
    is harmless (Asterisk answers "Already there")."""
    reply = live.ami.action("QueueAdd", Queue=queue, Interface=interface, MemberName=name,
                            StateInterface=interface, Penalty=str(penalty), Paused="false")
    assert reply.get("Response") == "Success" or "Already there" in reply.get("Message"), reply


def answered_call(settings, caller_number: str, timeout: float = 30.0) -> Call | None:
    """The call from ``caller_number`` once an agent has answered it (detached), or None."""
    deadline = time.monotonic() + timeout
    while True:
        with session_scope(settings.database_url) as s:
            call = s.scalar(select(Call).where(Call.caller_number == caller_number))
            if call is not None and call.status is CallStatus.ANSWERED:
                s.expunge(call)
                return call
        if time.monotonic() > deadline:
            return None
        time.sleep(0.2)

